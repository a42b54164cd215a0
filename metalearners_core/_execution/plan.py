"""How one fit uses the machine: workers per level, threads per base model, the backend and its pool.

:func:`plan_execution` turns the two parallelism knobs into a :class:`Plan`, and
:func:`open_executor` opens the pool that runs it. The levels keep the meaning they
have in the ``metalearners`` package:

* stage level, ``n_jobs_base_learners``: at most this many models of a learner in flight;
* fold level, ``n_jobs_cross_fitting``: at most this many fits (folds or the
  overall model) of one model at once;
* grid level, a grid search's ``n_jobs``: at most this many grid points (learners)
  in flight; the pool has (grid workers x stage workers x fold workers) workers
  (one learner's fit: grid workers = 1);
* model level: the base model's ``n_jobs``. Unless the user set it, it is set
  explicitly to ``cores // pool workers`` (:func:`with_explicit_threads`), never
  left to a library default such as LightGBM's "all cores" inside every worker.

``"auto"`` at any level lets the scheduler split the cores: as many
workers as the first stage has fits (up to the cores), the remaining cores as
threads inside each fit, and threads instead of processes when every base model
releases the GIL (unless ``joblib.parallel_config(backend=...)`` chose a backend).

The backend is joblib's: ``joblib.parallel_config(backend="loky")`` (processes,
joblib's reusable loky executor), ``"threading"`` (threads) or ``"sequential"``;
``"dask"`` with a ``distributed.Client`` runs the tasks on the cluster's workers
(:mod:`.on_dask`, imported only then): the cores are the cluster's threads, and
each task's threads are set on the worker it runs on.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import joblib
from joblib import cpu_count, effective_n_jobs
from joblib.parallel import default_parallel_config, get_active_backend

from metalearners_core._execution.jobs import AUTO, CrossFitJob, Deferred, Plan

# Keywords through which estimators take their thread count (LightGBM has aliases).
_THREAD_KEYWORDS = ("n_jobs", "num_threads", "nthread", "nthreads", "num_thread")
# Base models whose fit releases the GIL, so threads run them in parallel.
_GIL_FREE_MODULES = ("lightgbm", "xgboost", "catboost", "sklearn.ensemble", "sklearn.linear_model", "sklearn.tree")


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


def active_dask_backend() -> Any | None:
    """joblib's active "dask" backend (it holds the ``distributed.Client``), or None; imports nothing of dask."""
    backend, _ = get_active_backend()
    return backend if type(backend).__name__ == "DaskDistributedBackend" else None


def fit_cores() -> int:
    """The cores a fit plans for: this machine's, or the Dask cluster's threads under joblib's "dask" backend."""
    backend = active_dask_backend()
    return cpu_count() if backend is None else max(1, sum(backend.client.nthreads().values()))


def _resolve(n_jobs: int | str | None, cap: int) -> int:
    return max(1, min(effective_n_jobs(n_jobs), cap))


def _models_per_graph(jobs: Sequence[CrossFitJob], deferred: Sequence[Deferred]) -> int:
    """The most models one learner (grid point) fits: what the stage level can use."""
    counts: dict = {}
    for job in jobs:
        counts[job.graph] = counts.get(job.graph, 0) + 1
    for d in deferred:
        counts[d.graph] = counts.get(d.graph, 0) + d.n_jobs
    return max(counts.values(), default=1)


def plan_execution(
    jobs: Sequence[CrossFitJob],
    deferred: Sequence[Deferred],
    n_jobs_cross_fitting: int | str | None,
    n_jobs_base_learners: int | str | None,
    n_jobs_grid: int | str | None = None,
) -> Plan:
    """Workers per level (capped by what the fit can use), threads per fit, backend.

    ``n_jobs_grid`` is a grid search's level: grid points in flight (one learner: 1).
    """
    dask = active_dask_backend() is not None
    cores = fit_cores()
    n_models = _models_per_graph(jobs, deferred)
    n_graphs = len({job.graph for job in jobs} | {d.graph for d in deferred}) or 1
    max_folds = max((len(job.folds) for job in jobs), default=1)
    kind, explicit = ("dask", True) if dask else _active_backend()
    if AUTO in (n_jobs_cross_fitting, n_jobs_base_learners, n_jobs_grid):
        first_stage_tasks = sum(len(job.folds) for job in jobs) or max_folds
        workers = max(1, min(cores, first_stage_tasks))
        fold_workers, stage_workers = min(max_folds, workers), min(n_models, workers)
        graph_workers = min(n_graphs, workers)
        factories = [job.estimator_factory for job in jobs]
        if not explicit:
            kind = "threads" if all(map(releases_gil, factories)) else "processes"
    else:
        fold_workers = _resolve(n_jobs_cross_fitting, max_folds)
        stage_workers = _resolve(n_jobs_base_learners, n_models)
        graph_workers = _resolve(n_jobs_grid, n_graphs)
        workers = fold_workers * stage_workers * graph_workers
    if workers == 1 and not dask:  # on a cluster, one task at a time still runs there
        kind = "sequential"
    return Plan(fold_workers, stage_workers, max(1, cores // workers), kind, workers, graph_workers)


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
def open_executor(plan: Plan) -> Iterator[Executor]:
    """The pool a plan runs on, for the duration of one fit (or one prediction).

    Worker processes are the library's own warm loky pool (:func:`_loky_pool`), without
    joblib's memory-mapping layer: the caller shares its large inputs itself
    (:class:`~metalearners_core._execution.tasks.SharedFolder`). joblib's layer left a
    folder in /dev/shm behind every call (its clean-up gives up, after ~1 s of retries, on
    files a worker still maps), and a process ending with ``os._exit`` (the harness's
    trial worker) never removed it.
    """
    if plan.backend == "sequential":
        yield _InlineExecutor()
    elif plan.backend == "dask":
        from metalearners_core._execution.on_dask import (
            DaskExecutor,  # dask is optional: imported only here
        )

        backend = active_dask_backend()
        if backend is None:
            raise RuntimeError("A Dask plan needs joblib.parallel_config(backend='dask') active while it runs")
        pool = DaskExecutor(backend.client, plan.workers, getattr(backend, "submit_kwargs", None))
        try:
            yield pool
        finally:
            pool.shutdown()
    elif plan.backend == "threads":
        with ThreadPoolExecutor(plan.workers, thread_name_prefix="metalearners_core") as pool:
            yield pool
    else:
        # The library's loky processes: started once, kept warm across fits. BLAS/OpenMP
        # pools in the workers get the base models' thread budget.
        threads = str(plan.model_threads)
        env = {name: threads for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        yield _loky_pool(plan.workers, env)


#: Seconds an idle worker process lives (joblib's default for its pools).
_LOKY_IDLE_S = 300
_loky_pools: dict[tuple, Any] = {}
_loky_lock = threading.Lock()


def _loky_pool(workers: int, env: dict[str, str]) -> Any:
    """The library's own loky process pool of ``workers`` with ``env``, kept warm across
    fits and predictions (one at a time: another size or env replaces it, a broken one is
    replaced; a replaced pool is dropped, not shut down, so a call still using it ends
    normally and loky stops its workers once it is unreferenced and idle). Not joblib's global reusable pool: joblib.Parallel expects its memory-mapping
    layer on that one, and sharing it broke every joblib.Parallel(backend="loky") after a
    call of the library (each party now has its own)."""
    from joblib.externals.loky import ProcessPoolExecutor

    key = (workers, tuple(sorted(env.items())))
    with _loky_lock:
        pool = _loky_pools.get(key)
        flags = getattr(pool, "_flags", None)
        if pool is None or getattr(flags, "broken", None) or getattr(flags, "shutdown", False):
            _loky_pools.clear()
            pool = _loky_pools[key] = ProcessPoolExecutor(workers, timeout=_LOKY_IDLE_S, env=env)
        return pool


def stop_process_pools(kill: bool = False) -> None:
    """Shut the library's worker processes down now (``kill``: without waiting for running
    tasks), e.g. before a process ends with ``os._exit``; the next call starts a new pool."""
    with _loky_lock:
        pools = list(_loky_pools.values())
        _loky_pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, kill_workers=kill)


def map_in_threads(function: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list:
    """``[function(item) for item in items]``, on up to ``workers`` threads (at most the cores), in order.

    For work after a fit that releases the GIL where it is heavy (a grid search's
    ``evaluate`` calls: the base models' predictions).
    """
    workers = min(workers, cpu_count())  # never more threads than cores
    if workers <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix="metalearners_core") as pool:
        return list(pool.map(function, items))
