"""Base-model registry: name -> regressor, classifier, default params, thread knob.

Every base model of a benchmark is built from this registry so that its thread count
is always explicit. :func:`model_params` returns the constructor params with the
thread count set through the model's own keyword (``thread_param``). Models whose
threads cannot be set through a constructor keyword (``hist_gradient_boosting``:
OpenMP only) have ``thread_param=None``; their thread count must be limited by the
caller with :func:`threadpoolctl.threadpool_limits` around the fit.

Default params are chosen for speed at benchmark scale (tens of thousands of rows),
and to keep the work per fit fixed (no early stopping) and reproducible
(a fixed ``random_state`` where the model has one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import lightgbm
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression

if TYPE_CHECKING:
    from scenarios.spec import Scenario

ModelKind = Literal["regressor", "classifier"]
_KINDS: tuple[str, ...] = ("regressor", "classifier")



@dataclasses.dataclass(frozen=True)
class BaseModelSpec:
    """How to build one kind of base model.

    Attributes:
        name: registry name.
        regressor: scikit-learn compatible regressor class.
        classifier: scikit-learn compatible classifier class.
        params: default constructor params shared by both classes.
        thread_param: constructor keyword that sets the model's thread count, or
            ``None`` when threads can only be limited from outside (OpenMP/BLAS via
            ``threadpoolctl``), as for ``hist_gradient_boosting``.
        regressor_params: extra params for the regressor only.
        classifier_params: extra params for the classifier only.
        thread_param_kinds: which of ``regressor``/``classifier`` really take
            ``thread_param`` (``linear``: only ``LinearRegression``; the ``n_jobs`` of
            ``LogisticRegression`` has no effect with lbfgs and is deprecated since
            scikit-learn 1.8).
        random_state_param: constructor keyword for the model's seed, or ``None``.
    """

    name: str
    regressor: type
    classifier: type
    params: Mapping[str, Any]
    thread_param: str | None
    regressor_params: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    classifier_params: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    thread_param_kinds: tuple[str, ...] = _KINDS
    random_state_param: str | None = "random_state"

    def __post_init__(self) -> None:
        # Freeze the param mappings so the registry cannot be mutated in place.
        for name in ("params", "regressor_params", "classifier_params"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def model_class(self, kind: ModelKind) -> type:
        """The regressor or classifier class."""
        _check_kind(kind)
        return self.regressor if kind == "regressor" else self.classifier

    def thread_param_for(self, kind: ModelKind) -> str | None:
        """The thread keyword of the given class, or ``None`` when it has none."""
        _check_kind(kind)
        return self.thread_param if kind in self.thread_param_kinds else None


def _check_kind(kind: str) -> None:
    if kind not in _KINDS:
        raise ValueError(f"kind={kind!r} is not allowed; choose one of {', '.join(_KINDS)}")


BASE_MODELS: Mapping[str, BaseModelSpec] = MappingProxyType(
    {
        "lightgbm": BaseModelSpec(
            name="lightgbm",
            regressor=lightgbm.LGBMRegressor,
            classifier=lightgbm.LGBMClassifier,
            # Modest on purpose: a meta-learner fit trains 20+ of these, and each
            # scenario is measured over many parallel configs and repeats.
            params={
                "n_estimators": 50,
                "num_leaves": 15,
                "learning_rate": 0.1,
                "verbosity": -1,
                # Skip LightGBM's per-fit timing test between row- and col-wise
                # histograms: it costs time and makes the choice run-dependent.
                "force_col_wise": True,
                "deterministic": True,
                "random_state": 0,
            },
            thread_param="n_jobs",
        ),
        "lightgbm_small": BaseModelSpec(
            name="lightgbm_small",
            regressor=lightgbm.LGBMRegressor,
            classifier=lightgbm.LGBMClassifier,
            # Tiny, for smoke tests: a whole smoke sweep must take under a minute.
            params={
                "n_estimators": 10,
                "num_leaves": 7,
                "learning_rate": 0.3,
                "verbosity": -1,
                "force_col_wise": True,
                "deterministic": True,
                "random_state": 0,
            },
            thread_param="n_jobs",
        ),
        "random_forest": BaseModelSpec(
            name="random_forest",
            regressor=RandomForestRegressor,
            classifier=RandomForestClassifier,
            # scikit-learn forests are slow: shallow trees on a quarter of the rows,
            # 16 trees so that 1, 2, 4, 8 and 16 threads split them evenly.
            params={
                "n_estimators": 16,
                "max_depth": 8,
                "min_samples_leaf": 20,
                "max_features": 0.2,
                "max_samples": 0.25,
                "random_state": 0,
            },
            thread_param="n_jobs",
        ),
        "hist_gradient_boosting": BaseModelSpec(
            name="hist_gradient_boosting",
            regressor=HistGradientBoostingRegressor,
            classifier=HistGradientBoostingClassifier,
            # early_stopping="auto" would switch on above 10k rows and make the work
            # per fit data-dependent; keep it fixed.
            params={"max_iter": 100, "early_stopping": False, "random_state": 0},
            # OpenMP-only: no constructor keyword; limit with threadpoolctl.
            thread_param=None,
        ),
        "linear": BaseModelSpec(
            name="linear",
            regressor=LinearRegression,
            classifier=LogisticRegression,
            params={},
            classifier_params={"max_iter": 1000},
            # LinearRegression's n_jobs only parallelises multi-target/sparse
            # problems; the dense solve runs in BLAS threads (threadpoolctl).
            thread_param="n_jobs",
            thread_param_kinds=("regressor",),
            random_state_param=None,
        ),
    }
)


def get_base_model(name: str) -> BaseModelSpec:
    """Registry lookup; an unknown name raises a ``ValueError`` listing the allowed ones."""
    try:
        return BASE_MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"base_model={name!r} is not allowed; choose one of {', '.join(sorted(BASE_MODELS))}"
        ) from None


def _resolve(spec: BaseModelSpec | str) -> BaseModelSpec:
    return spec if isinstance(spec, BaseModelSpec) else get_base_model(spec)


def _check_threads(n_threads: int | None) -> None:
    if n_threads is None:
        return
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
        raise ValueError(f"n_threads={n_threads!r} is not allowed; it must be an int >= 1 or None")


def model_params(
    spec: BaseModelSpec | str,
    n_threads: int | None,
    *,
    kind: ModelKind = "regressor",
    random_state: int | None = None,
) -> dict[str, Any]:
    """Constructor params of one base model, as a fresh dict.

    Args:
        spec: a :class:`BaseModelSpec` or its registry name.
        n_threads: thread count to set explicitly through the model's
            ``thread_param`` (>= 1). ``None`` leaves the library default. Models
            without a thread keyword (``thread_param_for(kind) is None``) ignore it:
            limit their threads with ``threadpoolctl.threadpool_limits``.
        kind: ``"regressor"`` or ``"classifier"``; selects the kind-specific params.
        random_state: overrides the default seed of models that have one.
    """
    spec = _resolve(spec)
    _check_threads(n_threads)
    params = dict(spec.params)
    params.update(spec.regressor_params if kind == "regressor" else spec.classifier_params)
    thread_param = spec.thread_param_for(kind)
    if thread_param is not None and n_threads is not None:
        params[thread_param] = n_threads
    if random_state is not None and spec.random_state_param is not None:
        params[spec.random_state_param] = random_state
    return params


def make_model(
    spec: BaseModelSpec | str,
    kind: ModelKind,
    n_threads: int | None,
    *,
    random_state: int | None = None,
) -> Any:
    """An unfitted model instance built from :func:`model_params`."""
    spec = _resolve(spec)
    return spec.model_class(kind)(
        **model_params(spec, n_threads, kind=kind, random_state=random_state)
    )


def learner_kwargs(scenario: Scenario, model_n_jobs: int | None) -> dict[str, Any]:
    """Constructor kwargs for a metalearners-style learner class; see
    :func:`scenarios.models.learner_kwargs` (the registry entries are its named defaults)."""
    from scenarios.models import learner_kwargs as _learner_kwargs

    return _learner_kwargs(scenario, model_n_jobs)


__all__ = [
    "BASE_MODELS",
    "BaseModelSpec",
    "ModelKind",
    "get_base_model",
    "learner_kwargs",
    "make_model",
    "model_params",
]
