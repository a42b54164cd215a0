"""A fit's base-model tasks on a Dask cluster: inputs scattered once, one task per fit, retried where a worker is lost.

Used when ``joblib.parallel_config(backend="dask")`` is active with a
``distributed.Client`` (:func:`metalearners_core._execution.plan.active_dask_backend`).
:class:`DaskExecutor` is the pool of such a fit, with the interface the scheduling loop
(:mod:`.scheduler`) uses for every pool (``submit`` returns a
``concurrent.futures.Future``), plus :meth:`DaskExecutor.share`: every input matrix of
the fit (X, y, per-row fit params such as sample weights, the second-stage inputs and
the data the overall models predict) is scattered to every worker ONCE, the first time
a task needs it, and each task is sent with a small marker per input instead of the
data; Dask hands the worker its local copy. Per-row fit params are sliced to a fold's
rows on the worker. A task's thread count is set on the worker it runs on: the
worker's threads shared by the fit's tasks that can run there at once
(:func:`worker_threads`), unless the user set one. Each task is submitted with Dask
retries (1, or the ``retries`` given to ``parallel_config``) and a worker lost during
a task has it rerun on another (Dask's ``allowed-failures``); a task that still cannot
complete fails the fit with one :class:`DaskFitError`. This module is imported only on
that path: the library needs neither dask nor distributed otherwise.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import threading
import uuid
from concurrent.futures import Executor, Future, InvalidStateError
from dataclasses import dataclass
from typing import Any

try:
    import distributed
except ImportError as error:  # pragma: no cover - only without dask installed
    raise ImportError(
        "Fitting on a Dask cluster needs dask.distributed: pip install 'metalearners-core[dask]'"
    ) from error

from metalearners_core._execution.plan import with_explicit_threads
from metalearners_core._execution.tasks import Task, run_task

_DEFAULT_RETRIES = 1


class DaskFitError(RuntimeError):
    """A base-model fit that could not be completed on the Dask cluster (after Dask's retries)."""


@dataclass(frozen=True)
class _Scattered:
    """Stands in a task for an input scattered to the workers (the data travel once, not with each task)."""

    key: str


def worker_threads(nthreads: int, slots: int) -> int:
    """A task's threads on a worker of ``nthreads`` threads that runs up to ``slots`` of the fit's tasks at once."""
    return max(1, nthreads // max(1, min(nthreads, slots)))


def _resolve(value: Any, inputs: dict) -> Any:
    return inputs[value.key] if isinstance(value, _Scattered) else value


def _run_on_worker(task: Task, inputs: dict, slots: int) -> tuple[Any, list | None, Any]:
    """Runs in a Dask worker: the task with its scattered inputs and this worker's thread count."""
    worker = distributed.get_worker()
    params = with_explicit_threads(task.factory, task.params, worker_threads(worker.state.nthreads, slots))
    fit_params = {k: _resolve(v, inputs) for k, v in task.fit_params.items()}
    local = dataclasses.replace(
        task, X=_resolve(task.X, inputs), y=_resolve(task.y, inputs), predict_X=_resolve(task.predict_X, inputs),
        params=params, fit_params=fit_params,
    )
    model, predictions, record = run_task(local, None)  # no LightGBM bins shared across processes
    return model, predictions, dataclasses.replace(record, worker=worker.address)


class DaskExecutor(Executor):
    """The pool of one fit on a Dask cluster (see the module); close it to release the fit's data."""

    def __init__(self, client: Any, workers_in_flight: int, submit_kwargs: dict | None = None) -> None:
        n_workers = len(client.nthreads())
        if n_workers == 0:
            raise DaskFitError("The Dask cluster has no workers: start some before fitting with backend='dask'.")
        self.client = client
        self.slots = math.ceil(workers_in_flight / n_workers)  # the fit's tasks a worker may run at once
        self.submit_kwargs = {"retries": _DEFAULT_RETRIES, **(submit_kwargs or {})}
        self.scattered: dict[int, tuple[Any, Any]] = {}  # id(value) -> (value kept alive, its Dask future)
        self.running: set = set()  # the fit's tasks on the cluster (also changed from Dask's callback thread)
        self._lock = threading.Lock()
        self._prefix = f"metalearners_core-{uuid.uuid4().hex[:8]}"
        self._order = itertools.count()

    def share(self, value: Any) -> Any:
        """The marker of ``value`` on the workers: scattered to all of them on its first use in this fit."""
        if value is None:
            return None
        if id(value) not in self.scattered:
            [future] = self.client.scatter([value], broadcast=True, hash=False)
            self.scattered[id(value)] = (value, future)
        return _Scattered(self.scattered[id(value)][1].key)

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        task, bins = args
        if fn is not run_task or bins is not None or kwargs:
            raise TypeError("DaskExecutor runs the fit's tasks (run_task without LightGBM bins) only")
        markers = [v for v in (task.X, task.y, task.predict_X, *task.fit_params.values()) if isinstance(v, _Scattered)]
        futures = {entry[1].key: entry[1] for entry in self.scattered.values()}
        inputs = {m.key: futures[m.key] for m in markers}  # Dask resolves these to the worker's copies
        fold = "overall" if task.fold is None else f"fold{task.fold}"
        key = f"{self._prefix}-{task.model_kind}{task.model_ord}-{fold}-{next(self._order)}"
        dask_future = self.client.submit(_run_on_worker, task, inputs, self.slots, key=key, pure=False, **self.submit_kwargs)
        with self._lock:
            self.running.add(dask_future)
        result: Future = Future()
        result.add_done_callback(lambda f: f.cancelled() and dask_future.cancel())
        dask_future.add_done_callback(lambda f: self._settle(f, result, task))
        return result

    def _settle(self, dask_future: Any, result: Future, task: Task) -> None:
        """Runs in Dask's callback thread: the task's outcome into the future the loop waits on."""
        with self._lock:
            self.running.discard(dask_future)
        if result.cancelled():
            return
        try:
            if dask_future.status == "finished":
                result.set_result(dask_future.result())
            elif dask_future.status == "error" and not isinstance(dask_future.exception(), distributed.KilledWorker):
                result.set_exception(dask_future.exception())  # the model's own error, after the retries
            else:
                result.set_exception(self._failure(task, dask_future))
        except InvalidStateError:  # cancelled by the loop meanwhile
            pass
        except BaseException as error:  # noqa: BLE001 - e.g. the result lost while fetching it
            try:
                result.set_exception(self._failure(task, dask_future, error))
            except InvalidStateError:
                pass

    def _failure(self, task: Task, dask_future: Any, error: BaseException | None = None) -> DaskFitError:
        cause = error
        if cause is None:
            try:
                cause = dask_future.exception()
            except Exception as unavailable:  # noqa: BLE001 - cancelled or lost: that is the cause
                cause = unavailable
        fold = "the overall model" if task.fold is None else f"fold {task.fold}"
        failure = DaskFitError(
            f"The {task.stage} {task.model_kind} model's fit ({fold}) could not be completed on the Dask cluster "
            f"(status {dask_future.status!r}: {cause!r}); Dask retried it ({self.submit_kwargs['retries']} "
            "retries; workers lost during a task count against distributed.scheduler.allowed-failures). "
            "No model of this fit is kept."
        )
        failure.__cause__ = cause
        return failure

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Cancel the fit's tasks still running on the cluster and release its scattered inputs."""
        with self._lock:
            running, self.running = list(self.running), set()
        if running:
            self.client.cancel(running)
        self.scattered.clear()  # the last references: Dask releases the data on the workers
