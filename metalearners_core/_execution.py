"""The one place where base models are fitted in parallel: a task-graph scheduler.

A meta-learner hands this module :class:`CrossFitJob` s (one per cross-fit
estimator) and :class:`Deferred` builders of further jobs (the treatment models,
each needing some nuisance models first). Every fold fit and every overall fit is
a task. All tasks of one fit run in ONE pool, largest first, and a deferred job
starts as soon as the models it needs are fitted: no barrier between stages where
the method does not need one, and no core idle while one model's slowest fold
finishes.

The levels keep the meaning they have in the ``metalearners`` package:

* stage level, ``n_jobs_base_learners``: at most this many models in flight;
* fold level, ``n_jobs_cross_fitting``: at most this many fits (folds or the
  overall model) of one model at once;
* the pool has (stage workers x fold workers) workers;
* model level: the base model's ``n_jobs``. Unless the user set it, it is set
  explicitly to ``cores // pool workers``, never left to a library default such
  as LightGBM's "all cores" inside every worker.

``"auto"`` at the fold or stage level lets the scheduler split the cores: as many
workers as the first stage has fits (up to the cores), the remaining cores as
threads inside each fit, and threads instead of processes when every base model
releases the GIL (unless ``joblib.parallel_config(backend=...)`` chose a backend).

In-process pools (threads, serial) let LightGBM models on the same rows share
binned data (:mod:`metalearners_core._lightgbm_bins`); the scheduler drops what no
later fit can use.

The backend is joblib's: ``joblib.parallel_config(backend="loky")`` (processes,
joblib's reusable loky executor; large arrays are memory-mapped, not copied per
task), ``"threading"`` (threads) or ``"sequential"``. All parallel execution of the
package lives here.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import inspect
import itertools
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
import sklearn
from joblib import cpu_count, effective_n_jobs
from joblib.executor import get_memmapping_executor
from joblib.parallel import default_parallel_config, get_active_backend
from threadpoolctl import threadpool_info

from metalearners_core._config import get_config
from metalearners_core._lightgbm_bins import BinsOfFit, binned_once
from metalearners_core._utils import n_rows, take_rows

AUTO = "auto"
OVERALL_FOLD = None  # the ``fold`` of a task that trains on all rows
# Keywords through which estimators take their thread count (LightGBM has aliases).
_THREAD_KEYWORDS = ("n_jobs", "num_threads", "nthread", "nthreads", "num_thread")
# Base models whose fit releases the GIL, so threads run them in parallel.
_GIL_FREE_MODULES = ("lightgbm", "xgboost", "catboost", "sklearn.ensemble", "sklearn.linear_model", "sklearn.tree")
# Arrays bigger than this go to worker processes as memory-mapped files.
_MEMMAP_BYTES = 1_000_000

ModelKey = tuple[str, int]  # (model_kind, model_ord)


@dataclass(frozen=True)
class FitPredictions:
    """Predictions a job's models make in the worker right after fitting.

    The second stage needs them; made in the workers, they run in parallel and
    overlap other fits instead of leaving every core idle between the stages.
    """

    method: str  # "predict" | "predict_proba"
    in_sample: bool = False  # each fold model predicts the rows it held out
    outside_X: Any = None  # data the overall model predicts rows of (not the job's own X)...
    outside_rows: tuple = ()  # ...these row sets (masks or indices) of it, one by one


@dataclass(frozen=True)
class CrossFitJob:
    """One cross-fit estimator to train: a fit per fold, plus the overall model."""

    stage: str
    model_kind: str
    model_ord: int
    estimator_factory: Any
    estimator_params: dict
    X: Any
    y: Any
    fit_params: dict
    splits: Sequence[tuple[np.ndarray, np.ndarray]]
    fit_overall: bool
    predictions: FitPredictions | None = None

    @property
    def key(self) -> ModelKey:
        return (self.model_kind, self.model_ord)

    @property
    def folds(self) -> list[int | None]:
        folds: list[int | None] = list(range(len(self.splits)))
        return [OVERALL_FOLD, *folds] if self.fit_overall else folds


@dataclass(frozen=True)
class Deferred:
    """Jobs that can only be built once the models in ``needs`` are fitted."""

    needs: frozenset[ModelKey]
    n_jobs: int  # how many jobs ``build`` returns (to size the pool up front)
    build: Callable[[], list[CrossFitJob]]
    data: tuple = ()  # the matrices the jobs will train on: LightGBM bins on them are kept


@dataclass(frozen=True)
class TaskRecord:
    """When and where one base-model fit ran (for timelines, work and span)."""

    stage: str
    model_kind: str
    model_ord: int
    fold: int | None  # None: the overall model
    n_rows: int
    start: float  # time.monotonic(): system-wide, comparable across processes
    end: float
    pid: int
    thread: int
    model_n_jobs: int | None  # the thread count given to the base model
    openmp_threads: int | None  # what threadpoolctl saw in the worker after the fit
    bins: str | None = None  # LightGBM's binned data: "built" or "copied" (see _lightgbm_bins)

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class FittedCrossFit:
    estimators: list  # one per fold, in split order
    overall: Any
    records: list[TaskRecord]
    fold_predictions: list | None = None  # per fold, of its held-out rows (FitPredictions.in_sample)
    outside_predictions: list | None = None  # the overall model's, per FitPredictions.outside_rows set


@dataclass(frozen=True)
class Plan:
    """How one fit uses the machine: the pool, its caps per level, threads per fit, backend.

    ``workers`` is the pool's size; ``fold_workers`` caps the fits of one model in
    flight and ``stage_workers`` the models in flight. Explicit levels make a pool of
    their product; ``"auto"`` caps only the pool, so that a worker never waits for
    another model's last fold.
    """

    fold_workers: int
    stage_workers: int
    model_threads: int
    backend: str  # "processes" | "threads" | "sequential"
    workers: int


# -- planning -------------------------------------------------------------------------


def releases_gil(factory: Any) -> bool:
    return getattr(factory, "__module__", "").startswith(_GIL_FREE_MODULES)


def _active_backend() -> tuple[str, bool]:
    """joblib's active backend as a kind, and whether the user chose it explicitly."""
    backend, _ = get_active_backend()
    name = type(backend).__name__
    kind = "threads" if name == "ThreadingBackend" else "sequential" if name == "SequentialBackend" else "processes"
    config = getattr(joblib.parallel._backend, "config", None)
    explicit = config is not None and config.get("backend") is not default_parallel_config["backend"]
    return kind, explicit


def _resolve(n_jobs: int | str | None, cap: int) -> int:
    return max(1, min(effective_n_jobs(n_jobs), cap))


def plan_execution(
    jobs: Sequence[CrossFitJob],
    deferred: Sequence[Deferred],
    n_jobs_cross_fitting: int | str | None,
    n_jobs_base_learners: int | str | None,
) -> Plan:
    """Workers per level (capped by what the fit can use), threads per fit, backend."""
    cores = cpu_count()
    n_models = len(jobs) + sum(d.n_jobs for d in deferred)
    max_folds = max((len(job.folds) for job in jobs), default=1)
    kind, explicit = _active_backend()
    if AUTO in (n_jobs_cross_fitting, n_jobs_base_learners):
        first_stage_tasks = sum(len(job.folds) for job in jobs) or max_folds
        workers = max(1, min(cores, first_stage_tasks))
        fold_workers, stage_workers = min(max_folds, workers), min(n_models, workers)
        factories = [job.estimator_factory for job in jobs]
        if not explicit:
            kind = "threads" if all(map(releases_gil, factories)) else "processes"
    else:
        fold_workers = _resolve(n_jobs_cross_fitting, max_folds)
        stage_workers = _resolve(n_jobs_base_learners, n_models)
        workers = fold_workers * stage_workers
    if workers == 1:
        kind = "sequential"
    return Plan(fold_workers, stage_workers, max(1, cores // workers), kind, workers)


def with_explicit_threads(factory: Any, params: dict, n_threads: int) -> dict:
    """Params with the model's thread count set, unless the user already chose one."""
    if any(params.get(k) is not None for k in _THREAD_KEYWORDS):
        return params
    try:
        accepted = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return params
    if "n_jobs" not in accepted:
        return params
    return {**params, "n_jobs": n_threads}


# -- tasks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shared:
    """A large input stored once per fit in a file that worker processes memory-map."""

    path: str


@functools.lru_cache(maxsize=4)
def _load_shared(path: str) -> Any:
    return joblib.load(path, mmap_mode="r")


def _unshare(value: Any) -> Any:
    return _load_shared(value.path) if isinstance(value, _Shared) else value


@dataclass(frozen=True)
class _Task:
    """One base-model fit: what a worker needs, and nothing more."""

    job_index: int
    stage: str
    model_kind: str
    model_ord: int
    fold: int | None
    factory: Any
    params: dict
    X: Any
    y: Any
    rows: np.ndarray | None  # training rows; None: all
    fit_params: dict
    rows_key: tuple  # the same for every task of this fit that trains on the same data
    predict_method: str | None = None  # then the model predicts, after its fit,
    predict_X: Any = None  # these data (None: the task's X, all rows)...
    predict_rows: tuple = ()  # ...these row sets of them
    sklearn_config: dict = field(default_factory=dict)  # the caller's sklearn.get_config()


@functools.lru_cache(maxsize=1024)
def _openmp_threads(pid: int, thread: int, model_n_jobs: int | None) -> int | None:
    """What threadpoolctl sees in this worker; read once per (process, thread, thread
    count): a reading costs ~3 ms, more than a tiny fit."""
    for pool in threadpool_info():
        if pool.get("user_api") == "openmp":
            return pool.get("num_threads")
    return None


def _run_task(task: _Task, bins: BinsOfFit | None) -> tuple[Any, list | None, TaskRecord]:
    start = time.monotonic()
    X_all, y = _unshare(task.X), _unshare(task.y)
    X = X_all
    if task.rows is not None:
        X, y = take_rows(X_all, task.rows), take_rows(y, task.rows)
    # The caller's scikit-learn settings hold in every worker, thread or process
    # (as sklearn.utils.parallel does for joblib).
    with sklearn.config_context(**task.sklearn_config), binned_once(bins, task.rows_key, task.factory) as binning:
        model = task.factory(**task.params).fit(X, y, **task.fit_params)
    predictions = None
    if task.predict_method is not None:
        source = X_all if task.predict_X is None else _unshare(task.predict_X)
        predictions = [getattr(model, task.predict_method)(take_rows(source, rows)) for rows in task.predict_rows]
    end = time.monotonic()
    record = TaskRecord(
        stage=task.stage,
        model_kind=task.model_kind,
        model_ord=task.model_ord,
        fold=task.fold,
        n_rows=n_rows(X),
        start=start,
        end=end,
        pid=os.getpid(),
        thread=threading.get_ident(),
        model_n_jobs=task.params.get("n_jobs"),
        openmp_threads=_openmp_threads(os.getpid(), threading.get_ident(), task.params.get("n_jobs")),
        bins=binning.how,
    )
    return model, predictions, record


def _digest(rows: np.ndarray) -> tuple[str, bytes]:
    rows = np.ascontiguousarray(rows)
    return rows.dtype.str, hashlib.blake2b(rows.tobytes(), digest_size=16).digest()


def _slice_fit_params(fit_params: dict, rows: np.ndarray, n_total: int) -> dict:
    # Per-row fit params (sample_weight...) follow the fold, as in sklearn's cross_validate.
    return {
        k: take_rows(v, rows) if hasattr(v, "__len__") and len(v) == n_total else v
        for k, v in fit_params.items()
    }


class _SharedFolder:
    """Where a fit's large inputs are dumped once for worker processes (removed at the end).

    Dumping each input once beats joblib's per-task memmapping, which hashes every
    large array again for every task it is sent with.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.folder = tempfile.mkdtemp(prefix="metalearners_core_") if enabled else None
        self._by_id: dict[int, tuple[Any, _Shared]] = {}

    def __enter__(self) -> _SharedFolder:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def share(self, value: Any) -> Any:
        if not self.enabled or (getattr(value, "nbytes", 0) < _MEMMAP_BYTES and not _large_frame(value)):
            return value
        if id(value) not in self._by_id:  # keep ``value`` alive so its id stays unique
            path = os.path.join(self.folder, f"{len(self._by_id)}.joblib")
            joblib.dump(value, path)
            self._by_id[id(value)] = (value, _Shared(path))
        return self._by_id[id(value)][1]


def _large_frame(value: Any) -> bool:
    memory_usage = getattr(value, "memory_usage", None)
    return callable(memory_usage) and hasattr(value, "columns") and memory_usage(deep=False).sum() >= _MEMMAP_BYTES


def _tasks(job_index: int, job: CrossFitJob, params: dict, share: Callable[[Any], Any]) -> list[_Task]:
    n_total = n_rows(job.X)
    X, y = share(job.X), share(job.y)
    # Tasks of one fit that train on the same matrix object (kept alive by the fit, so
    # its id is unique) and the same rows train on the same data.
    data_key = id(job.X)
    wanted = job.predictions
    sklearn_config = sklearn.get_config()  # read in the calling thread
    tasks = []
    for fold in job.folds:
        rows = None if fold is OVERALL_FOLD else job.splits[fold][0]
        fit_params = job.fit_params if rows is None else _slice_fit_params(job.fit_params, rows, n_total)
        predict: dict[str, Any] = {}
        if wanted is not None and fold is not OVERALL_FOLD and wanted.in_sample:
            predict = {"predict_method": wanted.method, "predict_rows": (job.splits[fold][1],)}
        elif wanted is not None and fold is OVERALL_FOLD and wanted.outside_rows:
            predict = {"predict_method": wanted.method, "predict_X": share(wanted.outside_X), "predict_rows": wanted.outside_rows}
        rows_key = (data_key, None if rows is None else _digest(rows))
        tasks.append(_Task(job_index, job.stage, job.model_kind, job.model_ord, fold, job.estimator_factory, params, X, y, rows, fit_params, rows_key, **predict, sklearn_config=sklearn_config))
    return tasks


# -- executors ------------------------------------------------------------------------


class _InlineExecutor(Executor):
    """Runs each task at submission, in the calling thread (the serial plan)."""

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(e)
        return future


@contextmanager
def _executor(plan: Plan) -> Iterator[Executor]:
    """The pool a plan runs on, for the duration of one fit."""
    if plan.backend == "sequential":
        yield _InlineExecutor()
    elif plan.backend == "threads":
        with ThreadPoolExecutor(plan.workers, thread_name_prefix="metalearners_core") as pool:
            yield pool
    else:
        # joblib's reusable loky processes (the ones joblib.Parallel uses): started once,
        # kept warm across fits. BLAS/OpenMP pools in the workers get the base models'
        # thread budget; arrays not shared beforehand are memory-mapped by joblib.
        threads = str(plan.model_threads)
        env = {name: threads for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        context = f"metalearners_core-{uuid.uuid4().hex}"
        pool = get_memmapping_executor(plan.workers, env=env, context_id=context)
        try:
            yield pool
        finally:
            pool._temp_folder_manager._clean_temporary_resources(context_id=context, force=False)


# -- the scheduler --------------------------------------------------------------------


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
    plan = plan_execution(jobs, pending, n_jobs_cross_fitting, n_jobs_base_learners)
    in_process = plan.backend != "processes"  # worker processes would each get a copy
    with _executor(plan) as executor, _SharedFolder(enabled=not in_process) as shared:
        bins = BinsOfFit() if in_process and get_config()["share_lightgbm_bins"] else None
        _schedule(executor, plan, jobs, pending, on_fitted, set(fitted), shared.share, bins)
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
) -> None:
    states: list[_JobState] = []
    ready: list[tuple[float, int, _Task]] = []  # heap: largest fit first, then submission order
    in_flight: dict[Future, _Task] = {}
    order = itertools.count()

    def add(new_jobs: Iterable[CrossFitJob]) -> None:
        for job in new_jobs:
            states.append(_JobState(job))
            params = with_explicit_threads(job.estimator_factory, job.estimator_params, plan.model_threads)
            for task in _tasks(len(states) - 1, job, params, share):
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
            in_flight[executor.submit(_run_task, entry[2], bins)] = entry[2]
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


__all__ = [
    "AUTO",
    "CrossFitJob",
    "Deferred",
    "FitPredictions",
    "FittedCrossFit",
    "Plan",
    "TaskRecord",
    "fit_cross_fit_jobs",
    "plan_execution",
    "releases_gil",
    "run_fit_graph",
    "with_explicit_threads",
]
