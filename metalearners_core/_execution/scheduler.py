"""The dependency-driven scheduling loop: all tasks of one fit in one pool, largest first.

A meta-learner hands :func:`run_fit_graph` its :class:`CrossFitJob` s (one per
cross-fit estimator) and :class:`Deferred` builders of further jobs (the treatment
models, each needing some nuisance models first). Every fold fit and every overall
fit is a task; all tasks of one fit run in ONE pool, largest first, and a deferred
job starts as soon as the models it needs are fitted: no barrier between stages
where the method does not need one, and no core idle while one model's slowest fold
finishes. The plan's caps per level (:mod:`.plan`) hold at every submission, and
LightGBM's binned data that no later fit can use is dropped as the fit goes.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from typing import Any

from metalearners_core._config import get_config
from metalearners_core._execution.jobs import OVERALL_FOLD, CrossFitJob, Deferred, FittedCrossFit, ModelKey, Plan
from metalearners_core._execution.oversubscription import ThreadGuard, limit_workers
from metalearners_core._execution.plan import cpu_count, open_executor, plan_execution
from metalearners_core._execution.tasks import SharedFolder, Task, run_task, tasks_of_job
from metalearners_core._lightgbm_bins import BinsOfFit
from metalearners_core._utils import n_rows



@dataclass
class _JobState:
    job: CrossFitJob
    models: dict = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)
    records: list = field(default_factory=list)
    running: int = 0

    def result(self) -> FittedCrossFit:
        folds = range(len(self.job.splits))
        wanted = self.job.predictions
        return FittedCrossFit(
            estimators=[self.models[i] for i in folds],
            overall=self.models.get(OVERALL_FOLD),
            records=sorted(self.records, key=lambda r: r.start),
            fold_predictions=[self.predictions[i][0] for i in folds] if wanted and wanted.in_sample and folds else None,
            outside_predictions=self.predictions[OVERALL_FOLD] if wanted and wanted.outside_rows and self.job.fit_overall else None,
        )


def run_fit_graph(
    jobs: Iterable[CrossFitJob],
    deferred: Iterable[Deferred] = (),
    n_jobs_cross_fitting: int | str | None = None,
    n_jobs_base_learners: int | str | None = None,
    on_fitted: Callable[[CrossFitJob, FittedCrossFit], None] | None = None,
    fitted: Iterable[ModelKey] = (),
) -> Plan:
    """Fit all jobs, and deferred jobs as their needs are met; largest fits first.

    ``on_fitted`` is called in the calling thread as soon as a job's fits are all
    done (the learner keeps the model, so deferred builders can predict with it).
    ``fitted`` are models already available (pre-fitted nuisance models).
    """
    jobs, pending = list(jobs), list(deferred)
    config, cores = get_config(), cpu_count()
    plan = plan_execution(jobs, pending, n_jobs_cross_fitting, n_jobs_base_learners)
    if config["oversubscription"] == "limit":
        plan = limit_workers(plan, cores)
    guard = ThreadGuard(plan, cores, config["oversubscription"])  # threads per model, the policy applied
    in_process = plan.backend != "processes"  # worker processes would each get a copy
    with open_executor(plan) as executor, SharedFolder(enabled=not in_process) as shared:
        bins = BinsOfFit() if in_process and config["share_lightgbm_bins"] else None
        _schedule(executor, plan, jobs, pending, on_fitted, set(fitted), shared.share, bins, guard.params)
    return plan


def _schedule(
    executor: Executor,
    plan: Plan,
    jobs: list[CrossFitJob],
    pending: list[Deferred],
    on_fitted: Callable[[CrossFitJob, FittedCrossFit], None] | None,
    done: set[ModelKey],
    share: Callable[[Any], Any],
    bins: BinsOfFit | None,
    model_params: Callable[[Any, dict], dict],
) -> None:
    states: list[_JobState] = []
    ready: list[tuple[float, int, Task]] = []  # heap: largest fit first, then submission order
    in_flight: dict[Future, Task] = {}
    order = itertools.count()

    def add(new_jobs: Iterable[CrossFitJob]) -> None:
        for job in new_jobs:
            states.append(_JobState(job))
            params = model_params(job.estimator_factory, job.estimator_params)
            for task in tasks_of_job(len(states) - 1, job, params, share):
                size = n_rows(job.X) if task.rows is None else len(task.rows)
                heapq.heappush(ready, (-size, next(order), task))

    def release_deferred() -> None:
        for d in [d for d in pending if d.needs <= done]:
            pending.remove(d)
            add(d.build())

    def submit_ready() -> None:
        held: list = []
        active = sum(1 for s in states if s.running)
        while ready and len(in_flight) < plan.workers:
            entry = heapq.heappop(ready)
            state = states[entry[2].job_index]
            if state.running >= plan.fold_workers or (not state.running and active >= plan.stage_workers):
                held.append(entry)
                continue
            active += not state.running
            state.running += 1
            in_flight[executor.submit(run_task, entry[2], bins)] = entry[2]
        for entry in held:
            heapq.heappush(ready, entry)

    try:
        add(jobs)
        release_deferred()
        while ready or in_flight:
            submit_ready()
            finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for future in finished:
                task = in_flight.pop(future)
                model, predictions, record = future.result()  # a failed fit fails the whole fit, here
                state = states[task.job_index]
                state.running -= 1
                state.models[task.fold] = model
                state.predictions[task.fold] = predictions
                state.records.append(record)
                if len(state.models) == len(state.job.folds):
                    if on_fitted is not None:
                        on_fitted(state.job, state.result())
                    done.add(state.job.key)
            release_deferred()
            if bins is not None:  # free binned data no later fit can use
                upcoming = {t.rows_key for t in in_flight.values()} | {entry[2].rows_key for entry in ready}
                later_data = {id(x) for d in pending for x in d.data}
                bins.keep_only(lambda rows_key: rows_key in upcoming or rows_key[0] in later_data)
        if pending:
            needs = sorted(set().union(*(d.needs for d in pending)) - done)
            raise RuntimeError(f"Deferred models wait for models that are never fitted: {needs}")
    except BaseException:
        for future in in_flight:
            future.cancel()
        raise


def fit_cross_fit_jobs(
    jobs: Sequence[CrossFitJob],
    n_jobs_cross_fitting: int | str | None = None,
    n_jobs_base_learners: int | str | None = None,
) -> list[FittedCrossFit]:
    """Fit every job's folds and overall model; results in the order of ``jobs``."""
    results: dict[int, FittedCrossFit] = {}
    index = {id(job): i for i, job in enumerate(jobs)}
    run_fit_graph(
        jobs,
        n_jobs_cross_fitting=n_jobs_cross_fitting,
        n_jobs_base_learners=n_jobs_base_learners,
        on_fitted=lambda job, fitted: results.__setitem__(index[id(job)], fitted),
    )
    return [results[i] for i in range(len(jobs))]
