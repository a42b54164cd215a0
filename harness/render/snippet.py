"""Code to paste: the learner built as the scenario builds it, and the fit call for a config.

The constructor is filled in from :func:`scenarios.learner_kwargs` (factories, their
params with the explicit thread count, ``n_variants``, ``is_classification``, folds,
seed), so the snippet runs as printed once ``X, y, w`` exist (and ``sample_weight``, the
weights column, for a scenario with sample weights: passed as the fit's ``fit_params``).
A grid scenario's snippet is its ``MetaLearnerGridSearch(..., n_jobs=...)`` with the grid
written out (``X_test, y_test, w_test`` too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.config import ParallelConfig

if TYPE_CHECKING:  # pragma: no cover
    from scenarios import Scenario

__all__ = ["grid_snippet", "predict_snippet", "snippet"]

_FIT_LEVELS = ("n_jobs_cross_fitting", "n_jobs_base_learners")


def _public_module(cls: type) -> str:
    """The shortest module path that exports ``cls`` (``lightgbm``, ``sklearn.ensemble``)."""
    import importlib

    parts = cls.__module__.split(".")
    for n in range(1, len(parts) + 1):
        path = ".".join(parts[:n])
        if not parts[n - 1].startswith("_") and getattr(importlib.import_module(path), cls.__name__, None) is cls:
            return path
    return cls.__module__


def _constructor(learner: str, kwargs: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(import lines, constructor lines) of ``learner(**kwargs)`` written out."""
    imports: dict[str, set[str]] = {}
    args = []
    for key, value in kwargs.items():
        if key.endswith("_factory"):
            if value is None:
                continue
            imports.setdefault(_public_module(value), set()).add(value.__name__)
            args.append(f"    {key}={value.__name__},")
        elif key.endswith("_model_params") and kwargs.get(key.replace("_params", "_factory")) is None:
            continue
        else:
            args.append(f"    {key}={value!r},")
    lines = [f"from {module} import {', '.join(sorted(names))}" for module, names in sorted(imports.items())]
    return lines, [f"learner = {learner}(", *args, ")"]


def _unwrap_thread_limits(kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The estimators the harness runs under ``threadpoolctl`` (no thread keyword) as
    the user writes them, and their class names (the snippet says to limit them)."""
    from scenarios.models import ThreadLimited, import_estimator

    out, limited = dict(kwargs), []
    for key, factory in kwargs.items():
        if key.endswith("_factory") and isinstance(factory, type) and issubclass(factory, ThreadLimited):
            params_key = key.replace("_factory", "_params")
            cls = import_estimator(kwargs[params_key]["estimator"])
            out[key], out[params_key] = cls, dict(kwargs[params_key]["params"] or {})
            if cls.__name__ not in limited:
                limited.append(cls.__name__)
    return out, limited


def _weights_lines(s: Scenario) -> list[str]:
    """The ``fit_params`` that give the scenario's sample weights to its fits (none without)."""
    from scenarios.weights import WEIGHTED, weights_note

    if s.data is None or s.data.weights is None:
        return []
    params = {stage: {kind: "SW" for kind in kinds} for stage, kinds in WEIGHTED[s.learner].items()}
    text = repr(params).replace("'SW'", '{"sample_weight": sample_weight}').replace("'", '"')
    return [f"# sample_weight: your {s.data.weights!r} column, one weight per row of X; "
            f"{weights_note(s.learner, s.data.weights)}", f"fit_params = {text}"]


def snippet(config: ParallelConfig, scenario: dict[str, Any] | Scenario, engine: str = "core") -> str:
    """Code to paste for ``config`` on ``scenario`` with ``engine``'s learner class (a grid
    scenario: its ``MetaLearnerGridSearch``, :func:`grid_snippet`)."""
    from scenarios import Scenario, learner_kwargs

    s = scenario if isinstance(scenario, Scenario) else Scenario.from_dict(scenario)
    if s.grid is not None:
        return grid_snippet(config, s, engine)
    learner = f"{s.learner}Learner"
    module = "metalearners_core" if engine == "core" else "metalearners"
    kwargs, limited = _unwrap_thread_limits(learner_kwargs(s, config.model_n_jobs))
    imports, ctor = _constructor(learner, kwargs)
    pool = not config.is_auto and config.pool_workers > 1
    lines = [*(["import joblib"] if pool else []), *imports, f"from {module} import {learner}", ""]
    weights = _weights_lines(s)
    lines += weights
    with_weights = ", fit_params=fit_params" if weights else ""
    if config.is_auto:
        return "\n".join([*lines, *ctor,
                          f'learner.fit(X, y, w, n_jobs_cross_fitting="auto", n_jobs_base_learners="auto"{with_weights})'
                          "  # the scheduler splits the cores"])
    if config.model_n_jobs is None:
        lines.append("# model level: library default (no thread keyword set)")
    elif limited:
        lines.append(f"# {', '.join(limited)} has no thread keyword: limit it with "
                     f"threadpoolctl.threadpool_limits({config.model_n_jobs}) around the fit")
    lines += ctor
    fit_args = [f"{name}={getattr(config, name)}" for name in _FIT_LEVELS if getattr(config, name) is not None]
    omitted = [name for name in _FIT_LEVELS if getattr(config, name) is None]
    fit = f"learner.fit(X, y, w{''.join(', ' + a for a in fit_args)}{with_weights})"
    if omitted:
        fit += f"  # {', '.join(omitted)}: library default (None)"
    if pool:
        lines += [f'with joblib.parallel_config(backend="{config.backend}"):', f"    {fit}"]
    else:
        lines.append(fit)
    return "\n".join(lines)


def grid_snippet(config: ParallelConfig, s: Scenario, engine: str = "core") -> str:
    """``MetaLearnerGridSearch(..., n_jobs=...).fit(...)`` for ``config`` on a grid scenario."""
    from scenarios.grid import resolve_grid

    module = "metalearners_core" if engine == "core" else "metalearners"
    search_module = module if engine == "core" else "metalearners.grid_search"
    base_learner_grid, param_grid = resolve_grid(s.grid, s.learner, s.is_classification, s.seed, config.model_n_jobs)
    imports: dict[str, set[str]] = {}
    for classes in base_learner_grid.values():
        for cls in classes:
            imports.setdefault(_public_module(cls), set()).add(cls.__name__)
    lines = [*(["import joblib"] if not config.is_auto and config.pool_workers > 1 else [])]
    lines += [f"from {m} import {', '.join(sorted(names))}" for m, names in sorted(imports.items())]
    utils = "metalearners_core" if engine == "core" else "metalearners.utils"
    lines += [f"from {search_module} import MetaLearnerGridSearch", f"from {utils} import metalearner_factory", ""]
    grid_text = "{" + ", ".join(f"{k!r}: [{', '.join(c.__name__ for c in v)}]" for k, v in base_learner_grid.items()) + "}"
    n_jobs = '"auto"' if config.is_auto else repr(config.n_jobs_grid)
    params = {"is_classification": s.is_classification, "n_variants": s.n_variants, "n_folds": s.n_folds}
    lines += [
        "search = MetaLearnerGridSearch(",
        f"    metalearner_factory({s.learner!r}),",
        f"    {params!r},",
        f"    base_learner_grid={grid_text},",
        f"    param_grid={param_grid!r},",
        f"    n_jobs={n_jobs},{'  # the grid level: library default (None)' if config.n_jobs_grid is None and not config.is_auto else ''}",
        f"    random_state={s.seed},",
        ")",
    ]
    if config.is_auto:
        lines.append('search.fit(X, y, w, X_test, y_test, w_test, n_jobs_cross_fitting="auto", n_jobs_base_learners="auto")'
                     "  # the scheduler splits the cores")
        return "\n".join(lines)
    if config.model_n_jobs is None:
        lines.insert(lines.index("search = MetaLearnerGridSearch("), "# model level: library default (no thread keyword set)")
    fit_args = [f"{name}={getattr(config, name)}" for name in _FIT_LEVELS if getattr(config, name) is not None]
    fit = f"search.fit(X, y, w, X_test, y_test, w_test{''.join(', ' + a for a in fit_args)})"
    if config.pool_workers > 1:
        lines += [f'with joblib.parallel_config(backend="{config.backend}"):', f"    {fit}"]
    else:
        lines.append(fit)
    return "\n".join(lines)


def predict_snippet(config: Any, engine: str = "core") -> str:
    """The predict call to paste for a :class:`~harness.predict_config.PredictConfig`
    (the learner fitted as :func:`snippet` builds it): ``n_jobs``, the ``predict_split``
    setting where it is not the default, the backend where the config names one."""
    call = 'cate = learner.predict(X, is_oos=True, oos_method="mean"'
    if engine != "core" or not config.has_pool:
        lines = []
        if config.model_threads and config.model_threads > 1:
            lines.append(f"# each base model predicts with {config.model_threads} threads: fit it with n_jobs="
                         f"{config.model_threads} in its *_model_params (a serial fit sets the cores by itself)")
        if engine != "core":
            return "\n".join([*lines, call + ")  # the package predicts serially"])
        return "\n".join([*lines, call + ", n_jobs=None)  # serial, in the calling thread (the default)"])
    n_jobs = '"auto"' if config.is_auto else str(config.n_jobs)
    lines = []
    if config.backend:
        lines.append("import joblib")
    if config.split != "both":
        lines += ["import metalearners_core", f'metalearners_core.set_config(predict_split="{config.split}")']
    predict = f"{call}, n_jobs={n_jobs})"
    if config.backend:
        lines += [f'with joblib.parallel_config(backend="{config.backend}"):', f"    {predict}"]
    else:
        lines.append(predict)
    return "\n".join(lines)
