"""Parallel prediction: many base-model predictions (models x rows) run at once, returned in the serial order.

A learner's ``predict`` needs many base-model predictions: every fold model on all rows
for an out-of-sample ``mean``/``median``, each fold model on the rows it held out in
sample, one model per variant for the T-learner. :func:`run_predictions` takes them as
:class:`PredictItem` s and returns each item's predictions exactly as
``getattr(model, method)(X)`` returns them, in the items' order. How it runs is a
:class:`PredictPlan` (:func:`plan_predictions`): serially in the calling thread
(``n_jobs=None`` or 1, with the models' own threads; ``"auto"`` below
:data:`AUTO_MIN_WORK` rows x models, with one thread per model: a one-row prediction
never starts a pool, nor a LightGBM thread team), or on ``workers`` threads or loky
processes, the items cut into row chunks as the ``predict_split`` setting says (``"models"``:
whole items, the models run concurrently; ``"rows"``: every item in ``workers``
chunks; ``"both"``, the default: items cut only as far as the workers need to be kept
even), the chunks' predictions concatenated back in row order. Base models predict
each row on its own (trees, LightGBM), so the result is the serial one exactly.
Fitted models are only read, so threads share them; the backend is threads when every
model releases the GIL, else processes, unless ``joblib.parallel_config(backend=...)``
chose one. With more than one worker each model predicts with ``cores // workers``
threads (LightGBM's ``num_threads`` at predict time; a shallow copy with ``n_jobs``
for scikit-learn models; OpenMP limited in the worker for the others), so the
library's choices keep to the cores; an explicit ``n_jobs`` beyond them meets the
``oversubscription`` policy as a fit does. Worker processes get each large input once
per call through a folder the call removes at its end, and joblib memory-maps nothing
(its per-call folders outlived the call in /dev/shm whenever a worker still mapped a
file). Each base model is called through
:func:`~metalearners_core._execution.model_calls.call_model` (LightGBM's booster
directly where that is the same call). :func:`pools_started` counts the pools opened.
"""

from __future__ import annotations

import copy
import functools
import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import cpu_count, effective_n_jobs

from metalearners_core._config import get_config
from metalearners_core._execution.jobs import AUTO, Plan
from metalearners_core._execution.model_calls import call_model
from metalearners_core._execution.oversubscription import (
    OversubscriptionWarning,
    _outside_package_stacklevel,
)
from metalearners_core._execution.plan import (
    _active_backend,
    open_executor,
    releases_gil,
)
from metalearners_core._execution.tasks import SharedFolder, _unshare
from metalearners_core._frames import is_polars
from metalearners_core._utils import n_rows, validate_n_jobs

SPLITS = ("both", "rows", "models")
# "auto" predicts in the calling thread, one thread per model, below this much work
# (rows x models): there a pool, or even an OpenMP team per call, costs more than it saves.
AUTO_MIN_WORK = 4_096
AUTO_MIN_WORK_PROCESSES = 1_000_000  # worker processes are sent the models and rows: far dearer
# "both" cuts an item into chunks of at most work / (workers x _BALANCE) rows, never below
# MIN_CHUNK_ROWS: enough pieces to keep the workers even, few enough to keep calls cheap.
_BALANCE = 4
MIN_CHUNK_ROWS = 2_048

_pools = 0
_pools_lock = threading.Lock()


def pools_started() -> int:
    """How many prediction pools (threads or processes) this process has opened."""
    return _pools


@dataclass(frozen=True)
class PredictItem:
    """One base-model prediction: ``getattr(model, method)(X)``."""

    model: Any
    method: str  # "predict" | "predict_proba"
    X: Any


@dataclass(frozen=True)
class PredictPlan:
    """How one prediction call uses the machine."""

    workers: int
    backend: str  # "sequential" | "threads" | "processes"
    split: str
    model_threads: int | None  # threads per model prediction; None: the models' own setting
    chunks: tuple[int, ...] = field(default=())  # row chunks per item (all 1 when sequential)


def validate_split(split: Any) -> None:
    if split not in SPLITS:
        raise ValueError(f"predict_split={split!r} is not allowed; choose one of {', '.join(map(repr, SPLITS))}")


def _backend(items: Sequence[PredictItem]) -> str:
    kind, explicit = _active_backend()
    if explicit:
        return kind
    return "threads" if all(releases_gil(type(item.model)) for item in items) else "processes"


def _workers(n_jobs: int | str, work: int, backend: str, cores: int) -> int:
    if n_jobs == AUTO:
        minimum = AUTO_MIN_WORK if backend == "threads" else AUTO_MIN_WORK_PROCESSES
        return 1 if work < minimum else cores
    return max(1, effective_n_jobs(n_jobs))


def _guard(workers: int, cores: int) -> int:
    """Explicit ``n_jobs`` beyond the cores: the oversubscription policy, as for a fit
    (each model then predicts with one thread, so the workers are the threads in flight)."""
    policy = get_config()["oversubscription"]
    if workers <= cores or policy == "allow":
        return workers
    if policy == "limit":
        return cores
    warnings.warn(
        f"{workers} threads in flight (1 thread per model x {workers} prediction workers) on {cores} cores: "
        "n_jobs oversubscribes the machine, which can make the prediction slower. Lower n_jobs, use 'auto', or "
        "call metalearners_core.set_config(oversubscription='limit') to cap the workers at the cores "
        "('allow' runs them as asked, silently).",
        OversubscriptionWarning,
        stacklevel=_outside_package_stacklevel(),
    )
    return workers


def _chunks(sizes: Sequence[int], workers: int, split: str) -> tuple[int, ...]:
    if split == "models":
        return tuple(1 for _ in sizes)
    if split == "rows":
        return tuple(max(1, min(workers, size)) for size in sizes)
    target = max(MIN_CHUNK_ROWS, math.ceil(sum(sizes) / (workers * _BALANCE)))
    return tuple(max(1, math.ceil(size / target)) for size in sizes)


def plan_predictions(items: Sequence[PredictItem], n_jobs: int | str | None, split: str | None = None) -> PredictPlan:
    """Workers, backend, threads per model and row chunks for these items (see the module)."""
    validate_n_jobs(n_jobs, "n_jobs")
    split = get_config()["predict_split"] if split is None else split
    validate_split(split)
    serial = tuple(1 for _ in items)
    if n_jobs is None or n_jobs == 1:  # serial with the models' own threads, as the package
        # (None: unlike a fit, joblib's n_jobs context does not apply)
        return PredictPlan(1, "sequential", split, None, serial)
    sizes = [n_rows(item.X) for item in items]
    if n_jobs == AUTO and sum(sizes) < min(AUTO_MIN_WORK, AUTO_MIN_WORK_PROCESSES):
        # A small batch: the calling thread, one thread per model, decided before reading
        # the cores (joblib reads cgroup files: most of a one-row call's planning time).
        return PredictPlan(1, "sequential", split, 1, serial)
    cores, backend = cpu_count(), _backend(items)
    workers = 1 if backend == "sequential" else _workers(n_jobs, sum(sizes), backend, cores)
    # More workers than pieces of work would idle.
    workers = min(workers, len(items) if split == "models" else max(1, sum(sizes)))
    if workers > 1:
        workers = _guard(workers, cores)
    if workers <= 1:
        # "auto" on a small batch: the calling thread alone; else the models' own threads.
        small = n_jobs == AUTO and sum(sizes) < AUTO_MIN_WORK
        return PredictPlan(1, "sequential", split, 1 if small else None, serial)
    return PredictPlan(workers, backend, split, max(1, cores // workers), _chunks(sizes, workers, split))


def _row_range(X: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of any input kind, as a view where it can be one."""
    if isinstance(X, (pd.DataFrame, pd.Series)):
        return X.iloc[start:stop]
    if is_polars(X):
        return X.slice(start, stop - start)
    return X[start:stop]


def _is_lightgbm(model: Any) -> bool:
    return type(model).__module__.split(".")[0] == "lightgbm"


def _with_threads(model: Any, threads: int, backend: str) -> tuple[Any, dict, int | None]:
    """The model (or a shallow copy), predict keywords and an OpenMP limit for the worker
    that make it predict with ``threads`` threads; the fitted model is never changed."""
    if _is_lightgbm(model):
        return model, {"num_threads": threads}, None  # LightGBM's documented predict-time setting
    attributes = getattr(model, "__dict__", {})
    if "n_jobs" in attributes and (attributes["n_jobs"] is None or isinstance(attributes["n_jobs"], int)):
        if (attributes["n_jobs"] or 1) == threads:  # None: one thread (joblib's default)
            return model, {}, None
        thread_limited = copy.copy(model)  # shares the fitted state; only n_jobs differs
        thread_limited.n_jobs = threads
        return thread_limited, {}, None
    # Worker processes get the thread budget through their environment (see open_executor).
    return model, {}, threads if backend == "threads" else None


@functools.lru_cache(maxsize=1)
def _threadpool_controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _predict_piece(model: Any, method: str, X: Any, rows: tuple[int, int] | None, kwargs: dict,
                   openmp_threads: int | None) -> Any:
    """One chunk's prediction in a worker: rows ``start:stop`` of X (all of X for None);
    X may be a shared file's handle (worker processes)."""
    X = _unshare(X)
    if rows is not None:
        X = _row_range(X, *rows)
    if openmp_threads is None:
        return call_model(model, method, X, **kwargs)
    # omp_set_num_threads holds for the calling thread only: this worker.
    with _threadpool_controller().limit(limits=openmp_threads, user_api="openmp"):
        return call_model(model, method, X, **kwargs)


def _reassemble(pieces: list) -> Any:
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=0)


def run_predictions(items: Sequence[PredictItem], n_jobs: int | str | None = None) -> list:
    """Every item's ``getattr(model, method)(X)``, in the items' order (see the module)."""
    global _pools
    plan = plan_predictions(items, n_jobs)
    if plan.backend == "sequential" and plan.model_threads is None:
        return [call_model(item.model, item.method, item.X) for item in items]
    if plan.backend == "sequential":
        threaded = [_with_threads(item.model, plan.model_threads, plan.backend) for item in items]
        return [_predict_piece(model, item.method, item.X, None, kwargs, openmp) for item, (model, kwargs, openmp) in zip(items, threaded)]
    processes = plan.backend == "processes"
    with _pools_lock:
        _pools += 1
    executor_plan = Plan(plan.workers, 1, plan.model_threads, plan.backend, plan.workers)
    # Worker processes get each large input once per call, in a file of a folder this call
    # owns and removes (as a fit's tasks do), and joblib memory-maps nothing: it would leave
    # a folder in /dev/shm behind every call whose files a worker still maps.
    with SharedFolder(enabled=processes) as shared, open_executor(executor_plan) as executor:
        pieces = []  # (item index, chunk index, rows in the chunk, model, method, X, row range, kwargs, openmp threads)
        for index, (item, n_chunks) in enumerate(zip(items, plan.chunks)):
            model, kwargs, openmp_threads = _with_threads(item.model, plan.model_threads, plan.backend)
            size = n_rows(item.X)
            X = shared.share(item.X)
            bounds = [size * k // n_chunks for k in range(n_chunks + 1)]
            for k in range(n_chunks):
                rows = None if n_chunks == 1 else (bounds[k], bounds[k + 1])
                pieces.append((index, k, bounds[k + 1] - bounds[k], model, item.method, X, rows, kwargs, openmp_threads))
        # Largest pieces first (stable: equal sizes keep the serial order), so no worker is
        # left with a big one at the end.
        order = sorted(range(len(pieces)), key=lambda p: -pieces[p][2])
        futures = [(p, executor.submit(_predict_piece, *pieces[p][3:])) for p in order]
        results: dict[tuple[int, int], Any] = {}
        try:
            for p, future in futures:
                results[pieces[p][:2]] = future.result()
        except BaseException:
            for _, future in futures:
                future.cancel()
            raise
    return [_reassemble([results[(i, k)] for k in range(n_chunks)]) for i, n_chunks in enumerate(plan.chunks)]
