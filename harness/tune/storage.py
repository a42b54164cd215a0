"""Where tune's studies live: the storage URL as Optuna needs it.

SQLite (the results database, the default) serves one machine. A PostgreSQL server
(``--storage postgresql://USER:PASSWORD@HOST:5432/DB``) lets tune processes on several
machines share one study, as Optuna's own guidance for distributed optimisation has
it; the URL is given to SQLAlchemy with the psycopg 3 driver
(``postgresql+psycopg://``), which the ``cluster`` extra installs.
"""

from __future__ import annotations

from typing import Any

from harness.errors import UsageError

__all__ = ["is_shared", "storage_url", "study_fits"]

_POSTGRES = ("postgresql://", "postgres://")


def storage_url(url: str | None) -> str | None:
    """``url`` with the psycopg driver named for a plain PostgreSQL URL; a one-line hint when
    the driver is missing."""
    if url is None:
        return None
    for prefix in _POSTGRES:
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix):]
    if url.startswith("postgresql+psycopg://"):
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise UsageError(
                "--storage postgresql://... needs psycopg 3: pip install 'metalearners-core[cluster]'"
            ) from None
    return url


def is_shared(url: str | None) -> bool:
    """Whether other processes (other machines) may work on the same studies: any server
    storage, not a SQLite file or memory."""
    return url is not None and not url.startswith("sqlite")


def study_fits(url: str, study_name: str | None, engine: str, scenario_id: str) -> Any:
    """A tune study's measurements as fits rows (one per warm wall, ``load_fits``' columns
    that the decision reads), so ``recommend`` reads a study another machine ran.

    Every finished (complete or pruned) trial's repeats are trials here, with negative
    trial ids (never a store's) and run id ``study:<name>``. A study that is not there is
    a one-line :class:`UsageError`.
    """
    import optuna
    import pandas as pd
    from optuna.trial import TrialState

    from harness.config import ParallelConfig
    from harness.tune.space import PARAM, default_study_name

    name = study_name or default_study_name(engine, scenario_id, ("wall",))
    try:
        study = optuna.load_study(study_name=name, storage=storage_url(url))
    except KeyError:
        raise UsageError(f"--storage {url}: no study named {name!r} (give it with --study)") from None
    attrs = study.user_attrs
    if attrs.get("scenario_id", scenario_id) != scenario_id or attrs.get("engine", engine) != engine:
        raise UsageError(f"study {name!r} tunes {attrs.get('engine')} | {attrs.get('scenario_id')}, not {engine} | {scenario_id}")
    rows = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        config = ParallelConfig.from_dict(t.user_attrs["config"]) if "config" in t.user_attrs else \
            ParallelConfig.from_id(t.params[PARAM])
        per_repeat = t.user_attrs.get("trial_walls_s") or [[w] for w in t.user_attrs.get("walls_s", [])]
        for r, walls in enumerate(per_repeat):
            for i, wall in enumerate(walls):
                rows.append({
                    "run_id": f"study:{name}", "trial_id": -(t.number * 1000 + r + 1), "engine": engine,
                    "scenario_id": scenario_id, "config_id": config.id, **config.to_dict(), "repeat": r,
                    "fit_index": float(i + 1), "cold": False, "status": "ok", "wall_s": float(wall),
                    "n_cores": float(attrs["cores"]) if attrs.get("cores") else float("nan"), "machine": None,
                })
    frame = pd.DataFrame(rows)
    for level in ("model_n_jobs", "n_jobs_cross_fitting", "n_jobs_base_learners"):
        if level in frame:
            frame[level] = pd.to_numeric(frame[level], errors="coerce").astype("float64")
    return frame
