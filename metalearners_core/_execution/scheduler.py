"""The dependency-driven scheduling loop: all tasks of one fit in one pool, largest first.

A meta-learner hands :func:`run_fit_graph` its :class:`CrossFitJob` s (one per
cross-fit estimator) and :class:`Deferred` builders of further jobs (the treatment
models, each needing some nuisance models first). Every fold fit and every overall
fit is a task; all tasks of one fit run in ONE pool, largest first, and a deferred
job starts as soon as the models it needs are fitted: no barrier between stages
where the method does not need one, and no core idle while one model's slowest fold
finishes. The plan's caps per level (:mod:`.plan`) hold at every submission, and
LightGBM's binned data that no later fit can use is dropped as the fit goes.
Under joblib's ``"dask"`` backend the pool is a Dask cluster's workers
(:mod:`.on_dask`): the same loop, inputs scattered once per fit.

A grid search runs the graphs of all its learners as one (:mod:`.grid`): jobs carry
their grid point, and with an ``identity`` (:mod:`.identity`) jobs with the same
fingerprint are fitted once, their result handed to every job that asked for it,
also to jobs built after it was fitted.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field
from typing import Any

from metalearners_core._config import get_config
from metalearners_core._execution.jobs import OVERALL_FOLD, CrossFitJob, Deferred, FittedCrossFit, Plan
from metalearners_core._execution.oversubscription import ThreadGuard, limit_workers
from metalearners_core._execution.plan import fit_cores, open_executor, plan_execution
from metalearners_core._execution.tasks import SharedFolder, Task, run_task, tasks_of_job
from metalearners_core._lightgbm_bins import BinsOfFit
from metalearners_core._utils import n_rows


@dataclass
class _JobState:
    job: CrossFitJob  # what is fitted: the first job with this fingerprint
    owners: list = field(default_factory=list)  # every job it serves (the same fits, maybe other grid points)
    models: dict = field(default_factory=dict)
    predictions: dict = field(default_factory=dict)
    records: list = field(default_factory=list)
    running: int = 0
    finished: FittedCrossFit | None = None

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
    fitted: Iterable[Hashable] = (),
    n_jobs_grid: int | str | None = None,
    identity: Callable[[CrossFitJob], Hashable] | None = None,
) -> Plan:
    """Fit all jobs, and deferred jobs as their needs are met; largest fits first.

    ``on_fitted`` is called in the calling thread as soon as a job's fits are all
    done (the learner keeps the model, so deferred builders can predict with it).
    ``fitted`` are the nodes of models already available (pre-fitted nuisance models).
    ``n_jobs_grid`` caps the grid points in flight; ``identity`` fingerprints jobs,
    and jobs with one fingerprint are fitted once (see the module).
    """
    jobs, pending = list(jobs), list(deferred)
    config, cores = get_config(), fit_cores()
    plan = plan_execution(jobs, pending, n_jobs_cross_fitting, n_jobs_base_learners, n_jobs_grid)
    if config["oversubscription"] == "limit":
        plan = limit_workers(plan, cores)
    guard = ThreadGuard(plan, cores, config["oversubscription"])  # threads per model, the policy applied
    on_cluster = plan.backend == "dask"
    in_process = plan.backend in ("threads", "sequential")  # worker processes would each get a copy
    # Worker processes get the large inputs from the fit's own folder (open_executor says why).
    with open_executor(plan) as executor, SharedFolder(enabled=plan.backend == "processes") as shared:
        bins = BinsOfFit() if in_process and config["share_lightgbm_bins"] else None
        # On a cluster the inputs are scattered once (on_dask), and threads are set on each worker.
        share = executor.share if on_cluster else shared.share
        params = _as_given if on_cluster else guard.params
        loop = _Loop(executor, plan, pending, on_fitted, set(fitted), share, bins, params, identity, on_cluster)
        loop.run(jobs)
    return plan


def _as_given(factory: Any, params: dict) -> dict:
    return params


class _Loop:
    """One run of the scheduling loop (see the module)."""

    def __init__(
        self,
        executor: Executor,
        plan: Plan,
        pending: list[Deferred],
        on_fitted: Callable[[CrossFitJob, FittedCrossFit], None] | None,
        done: set,
        share: Callable[[Any], Any],
        bins: BinsOfFit | None,
        model_params: Callable[[Any, dict], dict],
        identity: Callable[[CrossFitJob], Hashable] | None,
        slice_in_worker: bool = False,
    ) -> None:
        self.executor, self.plan, self.pending, self.on_fitted = executor, plan, pending, on_fitted
        self.done, self.share, self.bins, self.model_params, self.identity = done, share, bins, model_params, identity
        self.slice_in_worker = slice_in_worker
        self.states: list[_JobState] = []
        self.by_fingerprint: dict[Hashable, _JobState] = {}
        self.ready: list[tuple[float, int, Task]] = []  # heap: largest fit first, then submission order
        self.in_flight: dict[Future, Task] = {}
        self.order = itertools.count()

    def _deliver(self, job: CrossFitJob, result: FittedCrossFit) -> None:
        if self.on_fitted is not None:
            self.on_fitted(job, result)
        self.done.add(job.node)

    def add(self, new_jobs: Iterable[CrossFitJob]) -> None:
        for job in new_jobs:
            fingerprint = None if self.identity is None else self.identity(job)
            state = self.by_fingerprint.get(fingerprint) if fingerprint is not None else None
            if state is not None:  # the same fits as another job's: shared, not fitted again
                state.owners.append(job)
                if state.finished is not None:
                    self._deliver(job, state.finished)
                continue
            state = _JobState(job, [job])
            self.states.append(state)
            if fingerprint is not None:
                self.by_fingerprint[fingerprint] = state
            params = self.model_params(job.estimator_factory, job.estimator_params)
            for task in tasks_of_job(len(self.states) - 1, job, params, self.share, self.slice_in_worker):
                size = n_rows(job.X) if task.rows is None else len(task.rows)
                heapq.heappush(self.ready, (-size, next(self.order), task))

    def release_deferred(self) -> None:
        while ready := [d for d in self.pending if d.needs <= self.done]:
            for d in ready:  # a build may complete shared jobs at once, releasing more
                self.pending.remove(d)
                self.add(d.build())

    def submit_ready(self) -> None:
        plan, held = self.plan, []
        models_running = Counter(s.job.graph for s in self.states if s.running)  # per grid point
        while self.ready and len(self.in_flight) < plan.workers:
            entry = heapq.heappop(self.ready)
            state = self.states[entry[2].job_index]
            graph = state.job.graph
            new_graph = models_running[graph] == 0 and len(models_running) >= plan.graph_workers
            if state.running >= plan.fold_workers or (
                not state.running and (models_running[graph] >= plan.stage_workers or new_graph)
            ):
                held.append(entry)
                continue
            models_running[graph] += not state.running
            state.running += 1
            self.in_flight[self.executor.submit(run_task, entry[2], self.bins)] = entry[2]
        for entry in held:
            heapq.heappush(self.ready, entry)

    def collect(self, future: Future) -> None:
        task = self.in_flight.pop(future)
        model, predictions, record = future.result()  # a failed fit fails the whole fit, here
        state = self.states[task.job_index]
        state.running -= 1
        state.models[task.fold] = model
        state.predictions[task.fold] = predictions
        state.records.append(record)
        if len(state.models) == len(state.job.folds):
            state.finished = state.result()
            for owner in state.owners:
                self._deliver(owner, state.finished)

    def run(self, jobs: list[CrossFitJob]) -> None:
        try:
            self.add(jobs)
            self.release_deferred()
            while self.ready or self.in_flight:
                self.submit_ready()
                finished, _ = wait(list(self.in_flight), return_when=FIRST_COMPLETED)
                for future in finished:
                    self.collect(future)
                self.release_deferred()
                if self.bins is not None:  # free binned data no later fit can use
                    upcoming = {t.rows_key for t in self.in_flight.values()} | {e[2].rows_key for e in self.ready}
                    later_data = {id(x) for d in self.pending for x in d.data}
                    self.bins.keep_only(lambda rows_key: rows_key in upcoming or rows_key[0] in later_data)
            if self.pending:
                needs = sorted(set().union(*(d.needs for d in self.pending)) - self.done, key=repr)
                raise RuntimeError(f"Deferred models wait for models that are never fitted: {needs}")
        except BaseException:
            for future in self.in_flight:
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
