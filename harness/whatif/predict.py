"""Predicted walls of every config on P cores: a workload's cost model replayed through each engine's policy.

For each core count P and each config of the grid on P cores (:func:`harness.config.config_grid`,
as a sweep on a P-core machine would measure), the config becomes the plan its engine
makes of it -- for the core engine ``plan.plan_execution``'s workers per level and
threads per fit (explicit levels: their product is the pool; ``None`` at the model
level: ``P // workers`` threads; ``auto``: one worker per first-stage fit up to P, in
threads); for the ``metalearners`` package the nested joblib pools, with LightGBM's
default threads inside loky workers being joblib's ``P // n_jobs`` -- and the
workload's graph is replayed through :mod:`harness.whatif.replay` (in worker
processes, fits that shared LightGBM's bins in the profile bin their rows themselves). Predicted warm
wall = serial glue + makespan (with each fit's dispatch cost); predicted cold wall =
warm + the serial cold extra + the start-up of a process pool. Every figure here is a
prediction and is labelled so wherever it is shown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from harness.config import BACKENDS, ParallelConfig, config_grid, serial_config
from harness.engines import supports
from harness.whatif.calibrate import PoolCosts
from harness.whatif.costs import CostModel
from harness.whatif.replay import Job, bound, replay_core, replay_package

__all__ = ["Prediction", "core_plan", "package_plan", "predict_config", "predict_workload"]


@dataclass(frozen=True)
class Prediction:
    """One (engine, workload, config) on ``cores``: predicted walls in seconds (``predicted`` always True)."""

    engine: str
    scenario_id: str
    cores: int
    config_id: str
    predicted_warm_s: float
    predicted_cold_s: float
    predicted_speedup: float  # predicted serial warm wall / this one
    bound_s: float  # glue + max(work / P, span at up to P threads a fit): the ideal bound on P cores
    workers: int
    threads: int
    backend: str
    predicted: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def _first_stage(jobs: tuple[Job, ...]) -> list[Job]:
    return [j for j in jobs if not j.needs]


def core_plan(config: ParallelConfig, jobs: tuple[Job, ...], cores: int) -> dict:
    """``plan_execution``'s plan of ``config`` for ``jobs`` on ``cores``: workers, caps, threads, backend."""
    first = _first_stage(jobs)
    n_models = len(jobs) or 1
    max_folds = max((len(j.fits) for j in first), default=1)
    if config.is_auto:
        workers = max(1, min(cores, sum(len(j.fits) for j in first) or max_folds))
        fold_workers, stage_workers, kind = min(max_folds, workers), min(n_models, workers), "threads"
    else:
        fold_workers = max(1, min(config.n_jobs_cross_fitting or 1, max_folds))
        stage_workers = max(1, min(config.n_jobs_base_learners or 1, n_models))
        workers = fold_workers * stage_workers
        kind = "processes" if config.backend == "loky" else "threads"
    if workers == 1:
        kind = "sequential"
    threads = config.model_n_jobs or max(1, cores // workers)
    return {"workers": workers, "fold_workers": fold_workers, "stage_workers": stage_workers,
            "threads": threads, "backend": kind}


def package_plan(config: ParallelConfig, cores: int) -> dict:
    """The ``metalearners`` package's pools for ``config``: joblib over models (stage), inside
    them over folds; unset model threads are LightGBM's default, which joblib's loky
    workers limit to ``cores // n_jobs`` of their pool (threads: all cores)."""
    stage, folds = config.n_jobs_base_learners or 1, config.n_jobs_cross_fitting or 1
    if config.model_n_jobs is not None:
        threads = config.model_n_jobs
    elif config.backend == "loky" and stage > 1:
        threads = max(1, cores // stage)  # the outer loky pool's limit; folds are threads inside
    elif config.backend == "loky" and folds > 1:
        threads = max(1, cores // folds)
    else:
        threads = cores
    pool = stage * folds
    kind = "sequential" if pool == 1 else ("processes" if config.backend == "loky" else "threads")
    return {"workers": pool, "fold_workers": folds, "stage_workers": stage, "threads": threads, "backend": kind}


def predict_config(engine: str, model: CostModel, config: ParallelConfig, cores: int, pools: PoolCosts) -> tuple[float, float, dict]:
    """(predicted warm wall, predicted cold wall, plan) of one config on ``cores``."""
    jobs, glue, cold_extra = model.jobs, model.glue_s, model.cold_extra_s
    if engine == "core":
        plan = core_plan(config, jobs, cores)
        if plan["backend"] == "processes":  # no shared LightGBM bins in worker processes
            jobs = tuple(Job(j.id, j.stage, tuple(replace(f, work_s=f.work_s + f.bins_s) for f in j.fits), j.needs,
                             j.serial_fraction) for j in jobs)
        schedule = replay_core(jobs, cores, plan["workers"], plan["fold_workers"], plan["stage_workers"],
                               plan["threads"], pools.dispatch_s(plan["backend"]))
    elif engine == "metalearners":
        plan = package_plan(config, cores)
        factor = model.package_factor or 1.0
        # the package shares no LightGBM bins: scaled by its measured serial wall, which holds
        # its own binning, else core's fits with the binning they copied added back
        extra = 0.0 if model.package_factor else 1.0
        jobs = tuple(Job(j.id, j.stage, tuple(replace(f, work_s=(f.work_s + extra * f.bins_s) * factor) for f in j.fits),
                         j.needs, j.serial_fraction) for j in jobs)
        glue, cold_extra = glue * factor, cold_extra * factor
        schedule = replay_package(jobs, cores, plan["stage_workers"], plan["fold_workers"], plan["threads"],
                                  pools.dispatch_s(plan["backend"]))
    else:
        raise ValueError(f"engine {engine!r} is not allowed; choose core or metalearners")
    warm = glue + schedule.makespan
    return warm, warm + cold_extra + pools.start_s(plan["backend"]), plan


def predict_workload(
    engine: str, model: CostModel, cores: int, pools: PoolCosts, backends: tuple[str, ...] = BACKENDS,
    configs: list[ParallelConfig] | None = None,
) -> list[Prediction]:
    """Every config of the grid on ``cores`` (or ``configs``) that ``engine`` runs, fastest first."""
    configs = configs if configs is not None else config_grid(cores, None, backends)
    configs = [c for c in configs if supports(engine, c)]
    serial_warm, _, _ = predict_config(engine, model, serial_config(backends), cores, pools)
    ideal = model.glue_s + bound(model.jobs, cores, max_threads=cores)  # the grid gives a fit up to P threads
    out = []
    for config in configs:
        warm, cold, plan = predict_config(engine, model, config, cores, pools)
        out.append(Prediction(engine, model.scenario_id, cores, config.id, warm, cold,
                              serial_warm / warm if warm > 0 else float("nan"), ideal,
                              plan["workers"], plan["threads"], plan["backend"]))
    return sorted(out, key=lambda p: (p.predicted_warm_s, p.config_id))
