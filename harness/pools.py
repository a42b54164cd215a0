"""The one place the harness calls joblib: the backend a measured fit runs under,
the loky pools of the calibration workloads, and stopping them after a trial; and
the local Dask cluster a ``dask<N>`` config fits on (:func:`local_dask_cluster`).

joblib is imported inside the functions: the trial worker imports this module and
must not pay (or measure) joblib's import unless a workload uses it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any


def joblib_backend(name: str) -> AbstractContextManager[Any]:
    """``joblib.parallel_config(backend=name)``: as a user would choose it for a fit
    (``dask<N>``: joblib's "dask" backend, on the client :func:`local_dask_cluster` started)."""
    import joblib

    from harness.config import DASK, dask_workers

    return joblib.parallel_config(backend=DASK if dask_workers(name) else name)


class LocalDaskCluster:
    """A ``local:N`` Dask cluster started in this process (the trial child) and its client,
    the default client while it runs (joblib's "dask" backend finds it); :meth:`close` stops both."""

    def __init__(self, n_workers: int, cores: int) -> None:
        import logging

        from distributed import Client, LocalCluster

        # N worker processes sharing the cores, as N nodes would share none: one machine's what-if.
        self.cluster = LocalCluster(
            n_workers=n_workers, threads_per_worker=max(1, cores // n_workers), processes=True,
            dashboard_address=":0", silence_logs=logging.ERROR,
        )
        self.client = Client(self.cluster)

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


def local_dask_cluster(n_workers: int, cores: int) -> LocalDaskCluster:
    """Start a local Dask cluster of ``n_workers`` worker processes with ``cores // n_workers`` threads each."""
    try:
        return LocalDaskCluster(n_workers, cores)
    except ImportError as e:
        raise ImportError(f"a dask{n_workers} config needs dask.distributed: pip install 'metalearners-core[dask]' ({e})") from e


def in_loky_pool(n_workers: int, fn: Callable, calls: list[tuple]) -> list[Any]:
    """``fn(*args)`` for each of ``calls`` in joblib's reusable loky pool of
    ``n_workers`` processes (left running after, like the real learners' pools)."""
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_workers, backend="loky")(delayed(fn)(*args) for args in calls)


def start_loky_pool(n_workers: int) -> None:
    """Start joblib's reusable loky pool with ``n_workers`` live workers."""
    in_loky_pool(n_workers, os.getpid, [()] * (2 * n_workers))


def submit_to_loky_pool(n_workers: int, fn: Callable, *args: Any) -> Any:
    """``fn(*args)`` submitted to joblib's reusable loky pool, without waiting (a future)."""
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=n_workers).submit(fn, *args)


def stop_loky_pools(kill: bool) -> None:
    """Stop metalearners_core's worker pool, joblib's reusable loky pool and the resource
    trackers, if this process started any (``kill``: without waiting for running tasks)."""
    if "metalearners_core._execution" in sys.modules:
        try:
            sys.modules["metalearners_core._execution"].stop_process_pools(kill)
        except Exception as e:  # noqa: BLE001 -- the supervisor still cleans up
            print(f"harness worker: library pool shutdown failed: {e!r}", file=sys.stderr)
    if "joblib" in sys.modules:
        try:
            from joblib.externals.loky import reusable_executor

            executor = reusable_executor._executor  # do not create one just to stop it
            if executor is not None:
                executor.shutdown(wait=True, kill_workers=kill)
        except Exception as e:  # noqa: BLE001 -- the supervisor still cleans up
            print(f"harness worker: pool shutdown failed: {e!r}", file=sys.stderr)
    # loky's and the stdlib's trackers (the latter appears when a pool breaks).
    for name in ("joblib.externals.loky.backend.resource_tracker", "multiprocessing.resource_tracker"):
        tracker = getattr(sys.modules.get(name), "_resource_tracker", None)
        try:
            getattr(tracker, "_stop", lambda: None)()
        except Exception as e:  # noqa: BLE001
            print(f"harness worker: stopping {name} failed: {e!r}", file=sys.stderr)


#: The what-if calibration (:mod:`harness.whatif.calibrate`), run in a fresh child: loky's
#: start-up with a fit's imports and its per-task dispatch, and a thread pool's dispatch,
#: printed as JSON (the harness's joblib/loky pools live in this module).
POOL_COST_SCRIPT = r"""
import json, time
from concurrent.futures import ThreadPoolExecutor
from joblib.externals.loky import get_reusable_executor

def imports():
    import lightgbm, sklearn.ensemble  # what a fit's worker imports
    return 0

def noop():
    return 0

t0 = time.perf_counter()
pool = get_reusable_executor(max_workers=2, reuse=False)
for f in [pool.submit(imports) for _ in range(2)]:
    f.result()
loky_start = time.perf_counter() - t0
n = 40
t0 = time.perf_counter()
for _ in range(n):
    pool.submit(noop).result()
loky_dispatch = (time.perf_counter() - t0) / n
pool.shutdown(wait=True)
t0 = time.perf_counter()
with ThreadPoolExecutor(2) as threads:
    for _ in range(n):
        threads.submit(noop).result()
thread_dispatch = (time.perf_counter() - t0) / n
print(json.dumps({"loky_start_s": loky_start, "loky_dispatch_s": loky_dispatch, "thread_dispatch_s": thread_dispatch}))
"""
