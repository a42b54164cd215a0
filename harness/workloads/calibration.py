"""Calibration workloads: each knows its true CPU, wall time or memory independently
of the harness, so the tests can hold the harness's measurements against them.

CPU references come from the burners themselves: every burner stops after a fixed
amount of its *own thread's* CPU (``time.thread_time``, nanosecond resolution) and
reports what it burned; the harness's tree figure must agree with their sum.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from harness.pools import in_loky_pool, start_loky_pool, submit_to_loky_pool

_CHUNK = bytes(256 * 1024)  # sha256 releases the GIL on inputs > 2 KiB


def burn_cpu(cpu_s: float) -> float:
    """Spin this thread until it has used ``cpu_s`` CPU seconds; return what it used.

    The work is sha256 over a 256 KiB buffer, done in C with the GIL released, so
    k threads really run on k cores.
    """
    t0 = time.thread_time()
    while time.thread_time() - t0 < cpu_s:
        hashlib.sha256(_CHUNK).digest()
    return time.thread_time() - t0


def _burn_task(cpu_s: float) -> tuple[int, float]:
    return os.getpid(), burn_cpu(cpu_s)


def _check_positive(**values: float) -> None:
    for name, v in values.items():
        if not v > 0:
            raise ValueError(f"{name} must be > 0, got {v!r}")


def _write_descendants(pid_file: str | None) -> None:
    """Record this process and its descendants, so a test can check they all died."""
    if pid_file:
        procs = [psutil.Process(), *psutil.Process().children(recursive=True)]
        Path(pid_file).write_text(json.dumps([[p.pid, p.create_time()] for p in procs]))


class BurnThreads:
    """Burn ``cpu_s`` CPU seconds in total, split over ``n_threads`` threads."""

    def __init__(self, n_threads: int = 2, cpu_s: float = 1.0) -> None:
        _check_positive(n_threads=n_threads, cpu_s=cpu_s)
        self.n_threads, self.cpu_s = n_threads, cpu_s
        self._burned: list[float] = []

    def prepare(self) -> None:
        pass

    def run_once(self) -> None:
        burned = [0.0] * self.n_threads

        def work(i: int) -> None:
            burned[i] = burn_cpu(self.cpu_s / self.n_threads)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(self.n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self._burned = burned

    def result_extras(self) -> dict[str, Any]:
        return {"ref_cpu_s": sum(self._burned), "per_thread_cpu_s": self._burned}


class BurnProcesses:
    """Burn ``cpu_s`` CPU seconds in total in a joblib loky pool of ``n_workers``.

    The pool stays alive after each fit, as with the real learners: its workers are
    never reaped between fits, which is what naive rusage accounting gets wrong.
    """

    def __init__(self, n_workers: int = 2, cpu_s: float = 1.0, n_tasks: int | None = None) -> None:
        _check_positive(n_workers=n_workers, cpu_s=cpu_s)
        self.n_workers, self.cpu_s = n_workers, cpu_s
        self.n_tasks = n_tasks or n_workers
        self._out: list[tuple[int, float]] = []

    def prepare(self) -> None:
        import joblib  # noqa: F401  (import cost is not the fit's)

    def run_once(self) -> None:
        per_task = self.cpu_s / self.n_tasks
        self._out = in_loky_pool(self.n_workers, _burn_task, [(per_task,)] * self.n_tasks)

    def result_extras(self) -> dict[str, Any]:
        return {
            "ref_cpu_s": sum(cpu for _, cpu in self._out),
            "worker_pids": sorted({pid for pid, _ in self._out}),
        }


class Sleep:
    """Wall time without CPU."""

    def __init__(self, seconds: float = 0.5) -> None:
        _check_positive(seconds=seconds)
        self.seconds = seconds

    def prepare(self) -> None:
        pass

    def run_once(self) -> None:
        time.sleep(self.seconds)


class Allocate:
    """Allocate and touch ``mb`` MiB, hold it ``hold_s`` seconds, free it."""

    def __init__(self, mb: float = 200, hold_s: float = 0.25) -> None:
        _check_positive(hold_s=hold_s)
        if mb < 0:
            raise ValueError(f"mb must be >= 0, got {mb!r}")
        self.mb, self.hold_s = mb, hold_s

    def prepare(self) -> None:
        import numpy  # noqa: F401

    def run_once(self) -> None:
        import numpy as np

        block = np.ones(int(self.mb * 2**20), dtype=np.uint8)  # ones() writes every page
        time.sleep(self.hold_s)
        del block


def _touch_and_hold(block: Any, hold_s: float) -> int:
    total = int(block.sum())  # reads every page, mapping it into this worker
    time.sleep(hold_s)
    return total


class SharedMap:
    """``n_workers`` loky workers map and read the same ``mb`` MiB file the parent maps.

    Summed RSS counts the data once per process (1 + n_workers times); summed PSS
    counts it once. The file lives in /dev/shm (RAM) where available.
    """

    def __init__(self, mb: float = 200, n_workers: int = 2, hold_s: float = 0.3) -> None:
        _check_positive(mb=mb, n_workers=n_workers, hold_s=hold_s)
        self.mb, self.n_workers, self.hold_s = mb, n_workers, hold_s
        self._path: str | None = None
        self._block: Any = None

    def prepare(self) -> None:
        import numpy as np

        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        fd, self._path = tempfile.mkstemp(prefix="harness-shared-", dir=shm)
        os.close(fd)
        self._block = np.memmap(self._path, dtype=np.uint8, mode="w+", shape=(int(self.mb * 2**20),))
        self._block[:] = 1
        start_loky_pool(self.n_workers)

    def run_once(self) -> None:
        in_loky_pool(self.n_workers, _touch_and_hold, [(self._block, self.hold_s)] * self.n_workers)

    def close(self) -> None:
        self._block = None
        if self._path:
            os.unlink(self._path)


def _die(mode: str, code: int = 3) -> None:
    sys.stderr.flush()
    if mode == "exit":
        os._exit(code)
    elif mode == "segv":
        ctypes.string_at(0)  # read address 0
    else:
        os.kill(os.getpid(), signal.SIGKILL)


class Crash:
    """Die hard in ``run_once``: ``exit`` (os._exit(code)), ``segv`` or ``sigkill``;
    ``worker_segv`` / ``worker_sigkill`` kill a loky worker instead of the child.

    With ``n_workers`` a loky pool is started first, so the crash orphans workers.
    """

    MODES = ("exit", "segv", "sigkill", "worker_segv", "worker_sigkill")

    def __init__(
        self, mode: str = "exit", code: int = 3, n_workers: int = 0, pid_file: str | None = None
    ) -> None:
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        self.mode, self.code, self.n_workers, self.pid_file = mode, code, n_workers, pid_file

    def prepare(self) -> None:
        if self.n_workers:
            start_loky_pool(self.n_workers)
        _write_descendants(self.pid_file)

    def run_once(self) -> None:
        if self.mode.startswith("worker_"):
            mode = self.mode.removeprefix("worker_")
            # n_jobs >= 2: with 1, joblib would run the task in this very process.
            in_loky_pool(max(2, self.n_workers), _die, [(mode,)] * 2)
        _die(self.mode, self.code)


def _n_loky_workers() -> int:
    n = 0
    for p in psutil.Process().children():
        try:
            n += any("LokyProcess" in arg for arg in p.cmdline())
        except psutil.Error:
            pass
    return n


class Hang:
    """Never return from ``run_once``, with busy loky workers and, if ``escape``, a
    grandchild in its own session (out of reach of the trial's process group)."""

    def __init__(self, n_workers: int = 0, escape: bool = False, pid_file: str | None = None) -> None:
        self.n_workers, self.escape, self.pid_file = n_workers, escape, pid_file
        self._futures: list[Any] = []

    def prepare(self) -> None:
        pass

    def run_once(self) -> None:
        if self.n_workers:
            self._futures = [submit_to_loky_pool(self.n_workers, time.sleep, 3600) for _ in range(self.n_workers)]
        if self.escape:
            subprocess.Popen(
                [sys.executable, "-c", "import time; time.sleep(3600)"], start_new_session=True
            )
        deadline = time.monotonic() + 10  # wait until the workers exist, then record them
        while time.monotonic() < deadline and _n_loky_workers() < self.n_workers:
            time.sleep(0.02)
        _write_descendants(self.pid_file)
        time.sleep(3600)


class RaiseError:
    """Raise in ``run_once`` (after ``after_fits`` good fits): a ValueError, or a
    real MemoryError from numpy."""

    def __init__(self, kind: str = "value", message: str = "boom", after_fits: int = 0) -> None:
        if kind not in ("value", "memory"):
            raise ValueError(f"kind must be 'value' or 'memory', got {kind!r}")
        self.kind, self.message, self.after_fits = kind, message, after_fits
        self._fits = 0

    def prepare(self) -> None:
        pass

    def run_once(self) -> None:
        self._fits += 1
        if self._fits <= self.after_fits:
            return
        if self.kind == "memory":
            import numpy as np

            np.ones(2**52, dtype=np.uint8)  # 4 PiB: refused by the allocator at once
        raise ValueError(self.message)
