"""``python -m harness tune``: one study per scenario, measured for real, recorded in the store."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.config import BACKENDS, grid_note
from harness.engines import supports
from harness.errors import UsageError
from harness.render.hints import follow_up
from harness.locks import HostTrialLock, store_lock
from harness.runner import TrialRunner
from harness.tune.space import (
    baseline_configs,
    default_study_name,
    grid_baseline_configs,
    grid_search_space,
    parse_objectives,
    search_space,
    sqlite_url,
)
from harness.tune.storage import is_shared, storage_url
from harness.tune.study import DEFAULT_PRUNE_RATIO, format_outcome, tune

if TYPE_CHECKING:  # pragma: no cover
    from scenarios import Scenario

__all__ = ["run_tune"]


def run_tune(
    scenarios: Sequence[Scenario],
    *,
    db: str | Path,
    engine: str = "core",
    storage: str | None = None,
    study: str | None = None,
    n_trials: int = 20,
    repeats: int = 3,
    values: int = 2,
    min_effect: float | None = None,
    timeout_s: float = 600.0,
    time_budget_s: float | None = None,
    objectives: Sequence[str] = ("wall",),
    seed: int = 0,
    levels: list[int] | None = None,
    backends: Sequence[str] = BACKENDS,
    oversubscribe: float = 1.0,
    prune_ratio: float | None = DEFAULT_PRUNE_RATIO,
    allow_concurrent: bool = False,
    preset: str | None = None,
    log: Callable[[str], None] = print,
    cores: int | None = None,
    seed_from_whatif: int = 0,
    cluster: str | None = None,
    batches: Sequence[int] | None = None,
) -> int:
    """``python -m harness tune``: one study per scenario, measured for real, recorded in ``db``.

    Returns 0, or 1 when a study ends without any completed trial. ``cores``: every
    trial pinned to that many CPUs (the space is the one of that many cores);
    ``seed_from_whatif``: enqueue that many predicted best configs first (the what-if
    predictor on the store's traces; none where it has no serial trace). With
    ``cluster`` (a Dask scheduler address or local:N) the trials run on its hosts, one
    Optuna trial in flight per host (:mod:`harness.tune.ask_tell`). ``batches``: the
    predict phase, one study per (scenario, batch size) over the predict configs
    (:func:`harness.predict_config.predict_config_grid`), each trial a batch of predict
    calls of a learner fitted once (as ``sweep --phase predict``).
    """
    import contextlib

    from harness.manifest import collect_manifest, finish_manifest
    from harness.cores import cores_or_available
    from harness.store import Store

    objectives = parse_objectives(objectives)
    if study is not None and len(scenarios) != 1:
        raise UsageError("--study names one study: use it with --scenario, not with a preset of several scenarios")
    url = storage_url(storage) or sqlite_url(db)
    stack = contextlib.ExitStack()
    pool = None
    if cluster:
        from harness.cluster import ClusterPool

        pool = stack.enter_context(ClusterPool(cluster))
    limit = cores
    cores = pool.cores() if pool is not None else cores_or_available(cores)
    if batches is not None:
        space, baselines = predict_space(cores, engine)
    else:
        space = [c for c in search_space(cores, levels, backends, oversubscribe) if supports(engine, c)]
        baselines = baseline_configs(cores, backends, engine)
        if note := grid_note(cores, levels, tuple(backends), oversubscribe):
            log(f"tune: {note}")
    status = 0
    with stack, store_lock(db, allow_concurrent, "tune") as held, Store(db) as store, \
            HostTrialLock(not allow_concurrent and pool is None) as lock:
        manifest = collect_manifest()
        manifest["cores_limit"] = limit  # --cores: the trials' CPU affinity (None: not limited)
        run_id = store.start_run(manifest, "tune", preset)
        try:
            for scenario, batch in [(s, b) for s in scenarios for b in (batches or [None])]:
                name = study or default_study_name(engine, scenario.id, objectives, batch)
                measure = TrialRunner(engine, scenario, store, run_id, timeout_s=timeout_s, lock=lock, values=values,
                                      cores=limit, batch_rows=batch)
                if batch is not None:
                    space_here, baselines_here = space, baselines
                elif scenario.grid is not None:  # a grid search: the grid level is searched too
                    space_here = grid_search_space(cores, levels, backends, oversubscribe, engine)
                    baselines_here = grid_baseline_configs(cores, backends, engine)
                else:
                    space_here, baselines_here = space, baselines
                log(f"{engine} | {scenario.id} | {cores} cores" + (f" | cluster {cluster}" if cluster else "")
                    + ("" if batch is None else f" | predict, {batch} row(s) a call: the objective is the wall of a value (a batch of calls)"))
                seeds = _whatif_seeds(Path(db), scenario.id, cores, engine, space_here, seed_from_whatif, log)
                if pool is not None:
                    from harness.tune.ask_tell import tune_on_cluster

                    search = functools.partial(tune_on_cluster, pool, measure)
                else:
                    search = functools.partial(tune, measure, fail_stale=held and not is_shared(url))
                outcome = search(
                    space_here,
                    study_name=name,
                    storage=url,
                    n_trials=n_trials,
                    repeats=repeats,
                    objectives=objectives,
                    baselines=baselines_here,
                    prune_ratio=prune_ratio,
                    seed=seed,
                    time_budget_s=time_budget_s,
                    meta={
                        "engine": engine,
                        "scenario_id": scenario.id,
                        **({} if batch is None else {"phase": "predict", "batch_rows": batch}),
                        "scenario": scenario.to_dict(),
                        "cores": cores,
                        "created_by": "python -m harness tune",
                    },
                    log=log,
                    seeds=seeds,
                    **({} if min_effect is None else {"min_effect": min_effect}),
                )
                log(format_outcome(outcome))
                if not outcome.best:
                    status = 1
                elif len(outcome.objectives) == 1 and batch is None:
                    log("confirm it: " + follow_up("recommend", scenario=scenario.id, engine=engine, db=db))
                elif len(outcome.objectives) == 1:
                    log("the call to paste: " + follow_up("recommend", scenario=scenario.id, db=db,
                                                          extra=("--phase", "predict", "--batch", str(batch))))
                log("")
        finally:
            store.finish_run(run_id, finish_manifest(manifest))
    shown = storage or f"sqlite:///{db}"
    log(f"studies stored in {shown}; open them with: pip install optuna-dashboard && optuna-dashboard {shown}")
    return status


def predict_space(cores: int, engine: str) -> tuple[list, list]:
    """The predict configs ``engine`` runs on ``cores`` and the baselines measured first
    (the serial call, the package's way, and ``"auto"``)."""
    from harness.predict_config import AUTO, PredictConfig, predict_config_grid, serial_predict_config, supports_predict

    space = [c for c in predict_config_grid(cores) if supports_predict(engine, c)]
    return space, [c for c in (serial_predict_config(), PredictConfig(AUTO)) if c in space]


def _whatif_seeds(db: Path, scenario_id: str, cores: int, engine: str, space: list, k: int, log: Callable) -> list:
    """The ``k`` predicted best configs of the space on ``cores`` (none without a serial trace)."""
    if k < 1:
        return []
    from harness.errors import NoData
    from harness.whatif.command import predicted_best

    try:
        ranked = predicted_best(db, scenario_id, cores, engine) if db.is_file() else []
    except NoData as e:
        log(f"tune: no what-if seeds: {e}")
        return []
    by_id = {c.id: c for c in space}
    seeds = [by_id[p.config_id] for p in ranked if p.config_id in by_id][:k]
    if seeds:
        log(f"tune: seeded with the {len(seeds)} predicted best configs (what-if): {', '.join(c.id for c in seeds)}")
    return seeds
