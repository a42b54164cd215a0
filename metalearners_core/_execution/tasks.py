"""What one task is (a single base-model fit) and how a worker runs it, with the inputs shared across processes.

A :class:`CrossFitJob` becomes one :class:`Task` per fold plus one for the overall
model (:func:`tasks_of_job`): the training rows, the fit params sliced to them,
and the predictions to make right after the fit. :func:`run_task` is what a worker
executes: it fits, predicts, and returns a :class:`TaskRecord` of when and where.
For worker processes, a fit's large inputs are dumped once into a
:class:`SharedFolder` that the workers memory-map, instead of being pickled (or
hashed again by joblib) for every task: numpy arrays, pandas frames, scipy.sparse
matrices (their data, indices and pointers are memory-mapped: never densified) and
polars frames (loaded once per worker). In-process workers (threads, serial) let
LightGBM models on the same rows share binned data (:mod:`metalearners_core._lightgbm_bins`),
keyed by :attr:`Task.rows_key`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import joblib
import numpy as np
import sklearn
from threadpoolctl import threadpool_info

from metalearners_core._execution.jobs import OVERALL_FOLD, CrossFitJob, TaskRecord
from metalearners_core._frames import input_nbytes
from metalearners_core._lightgbm_bins import BinsOfFit, binned_once
from metalearners_core._utils import n_rows, take_rows

# Arrays bigger than this go to worker processes as memory-mapped files.
_MEMMAP_BYTES = 1_000_000


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
class Task:
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
    slice_fit_params: int | None = None  # fit params of all (this many) rows, sliced to ``rows`` in the worker


@functools.lru_cache(maxsize=1024)
def _openmp_threads(pid: int, thread: int, model_n_jobs: int | None) -> int | None:
    """What threadpoolctl sees in this worker; read once per (process, thread, thread
    count): a reading costs ~3 ms, more than a tiny fit."""
    for pool in threadpool_info():
        if pool.get("user_api") == "openmp":
            return pool.get("num_threads")
    return None


def run_task(task: Task, bins: BinsOfFit | None) -> tuple[Any, list | None, TaskRecord]:
    """Fit the task's model (and make its predictions) in the calling worker."""
    start = time.monotonic()
    X_all, y = _unshare(task.X), _unshare(task.y)
    X = X_all
    if task.rows is not None:
        X, y = take_rows(X_all, task.rows), take_rows(y, task.rows)
    # The caller's scikit-learn settings hold in every worker, thread or process
    # (as sklearn.utils.parallel does for joblib).
    fit_params = task.fit_params
    if task.slice_fit_params is not None and task.rows is not None:
        fit_params = _slice_fit_params(fit_params, task.rows, task.slice_fit_params)
    with sklearn.config_context(**task.sklearn_config), binned_once(bins, task.rows_key, task.factory) as binning:
        model = task.factory(**task.params).fit(X, y, **fit_params)
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


def _per_row(value: Any, n_total: int) -> bool:
    return hasattr(value, "__len__") and len(value) == n_total


def _slice_fit_params(fit_params: dict, rows: np.ndarray, n_total: int) -> dict:
    # Per-row fit params (sample_weight...) follow the fold, as in sklearn's cross_validate.
    return {k: take_rows(v, rows) if _per_row(v, n_total) else v for k, v in fit_params.items()}


class SharedFolder:
    """Where a fit's large inputs are dumped once for worker processes (removed at the end).

    Dumping each input once beats joblib's per-task memmapping, which hashes every
    large array again for every task it is sent with.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.folder = tempfile.mkdtemp(prefix="metalearners_core_") if enabled else None
        self._by_id: dict[int, tuple[Any, _Shared]] = {}

    def __enter__(self) -> SharedFolder:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def share(self, value: Any) -> Any:
        if not self.enabled or input_nbytes(value) < _MEMMAP_BYTES:
            return value
        if id(value) not in self._by_id:  # keep ``value`` alive so its id stays unique
            path = os.path.join(self.folder, f"{len(self._by_id)}.joblib")
            joblib.dump(value, path)
            self._by_id[id(value)] = (value, _Shared(path))
        return self._by_id[id(value)][1]


def tasks_of_job(
    job_index: int, job: CrossFitJob, params: dict, share: Callable[[Any], Any], slice_in_worker: bool = False
) -> list[Task]:
    """The job's fits, one per fold and one for the overall model, with their inputs shared.

    ``slice_in_worker``: per-row fit params are shared whole and sliced to a fold's rows
    in the worker (a Dask cluster: sent once per fit, not once per task).
    """
    n_total = n_rows(job.X)
    X, y = share(job.X), share(job.y)
    if slice_in_worker:
        whole_fit_params = {k: share(v) if _per_row(v, n_total) else v for k, v in job.fit_params.items()}
    # Tasks of one fit that train on the same matrix object (kept alive by the fit, so
    # its id is unique) and the same rows train on the same data.
    data_key = id(job.X)
    wanted = job.predictions
    sklearn_config = sklearn.get_config()  # read in the calling thread
    tasks = []
    for fold in job.folds:
        rows = None if fold is OVERALL_FOLD else job.splits[fold][0]
        if slice_in_worker:
            fit_params, slice_fit_params = whole_fit_params, n_total
        else:
            fit_params = job.fit_params if rows is None else _slice_fit_params(job.fit_params, rows, n_total)
            slice_fit_params = None
        predict: dict[str, Any] = {}
        if wanted is not None and fold is not OVERALL_FOLD and wanted.in_sample:
            predict = {"predict_method": wanted.method, "predict_rows": (job.splits[fold][1],)}
        elif wanted is not None and fold is OVERALL_FOLD and wanted.outside_rows:
            predict = {"predict_method": wanted.method, "predict_X": share(wanted.outside_X), "predict_rows": wanted.outside_rows}
        rows_key = (data_key, None if rows is None else _digest(rows))
        tasks.append(Task(job_index, job.stage, job.model_kind, job.model_ord, fold, job.estimator_factory, params, X, y, rows, fit_params, rows_key, **predict, sklearn_config=sklearn_config, slice_fit_params=slice_fit_params))
    return tasks
