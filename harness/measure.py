"""What the harness measures, in one place: tree CPU, tree memory, cores.

* :class:`TreeCpuMeter` -- CPU seconds of a process and all its descendants
  (threads, worker processes, alive or already reaped), each counted once.
* :class:`TreeMemorySampler` -- timestamped memory samples of a process tree taken
  from *outside* that tree (a thread of the supervisor), summed as PSS so that pages
  shared between workers (memory-mapped data, libraries) are not counted twice.
* :func:`available_cores` -- the cores this process may really use.

Timestamps are ``time.monotonic()``: on Linux it is CLOCK_MONOTONIC, one clock for
the whole system, so a fit window reported by the child can be compared with the
supervisor's sample times.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil

MemMeasure = Literal["pss", "rss"]
MIB = 2**20

__all__ = [
    "MIB",
    "MemMeasure",
    "TreeCpuMeter",
    "TreeMemorySampler",
    "MemoryPeak",
    "available_cores",
    "become_subreaper",
    "die_with_parent",
    "process_key",
    "tree",
]


def process_key(p: psutil.Process) -> tuple[int, float]:
    """(pid, create_time): names one process even after its pid is reused."""
    return (p.pid, p.create_time())


def tree(root: psutil.Process) -> list[psutil.Process]:
    """``root`` and all its descendants (zombies included: they are still readable)."""
    return [root, *root.children(recursive=True)]


# --------------------------------------------------------------------------- CPU


class TreeCpuMeter:
    """CPU seconds (user + system) of a process tree, alive or reaped, counted once.

    For every process ``p`` in the tree we add ``p``'s own CPU (all its threads, dead
    ones included) plus ``children_user + children_system``: the CPU of descendants
    that ``p`` has already *reaped* (waited for). A reaped process is no longer in the
    tree, so nothing is counted twice, and a process that has exited but is not yet
    reaped is a zombie whose times are still readable.

    The one hazard is a reap *while we read*: if a child is read, then reaped, then
    its parent read, it is counted twice; if its parent is read first and the child
    is reaped before we reach it, it is lost. Summing the last reading seen for a
    vanished (pid, create_time) does not fix this -- its CPU is by then inside the
    reaper's ``children_*`` and would be counted twice. So each reading is a
    *consistent snapshot*: list the tree, read every process, list again, and retry
    when the two listings differ or a process vanished in between.

    Residual error:

    * ``/proc`` reports times in clock ticks (10 ms): up to ~10 ms per field per
      process per reading, so a fit's delta is within ~20 ms x processes alive.
    * A process that is born *and* reaped between the two listings of one snapshot,
      by a parent read before the reap, is invisible to that snapshot; its CPU is not
      lost but appears in the next reading (booked to the next fit). At fit
      boundaries nothing is being spawned, so in practice this does not happen.
    * A descendant orphaned by its parent is re-parented out of the tree and its
      CPU would vanish; the worker calls :func:`become_subreaper` so orphans are
      re-parented to the worker root and stay in the tree.
    * CPU of a child reaped with SIGCHLD set to SIG_IGN is discarded by the kernel.
    * The meter's own reading (~1 ms per process) runs in the root and is partly
      inside the measured window.

    Readings are clamped to be non-decreasing (the true value is monotonic), so a
    snapshot that gave up after ``max_attempts`` can only err low, never backwards.
    """

    def __init__(self, pid: int | None = None, *, max_attempts: int = 8) -> None:
        self._root = psutil.Process(pid)
        self._max_attempts = max_attempts
        self._last = 0.0
        self.retries = 0  # how many snapshots had to be taken again (for diagnostics)

    def read(self) -> float:
        """Tree CPU seconds now (non-decreasing)."""
        total = None
        for _ in range(self._max_attempts):
            total = self._snapshot()
            if total is not None:
                break
            self.retries += 1
        if total is not None:
            self._last = max(self._last, total)
        return self._last

    def _snapshot(self) -> float | None:
        try:
            procs = tree(self._root)
            keys = {process_key(p) for p in procs}
            total = 0.0
            for p in procs:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            again = {process_key(p) for p in tree(self._root)}
        except psutil.NoSuchProcess:
            if not self._root.is_running():
                raise
            return None
        return total if again == keys else None


# ------------------------------------------------------------------------ memory


@dataclass(frozen=True)
class MemoryPeak:
    """Memory of a tree over one window, in MiB."""

    peak_mb: float | None  # max over samples inside the window; None if none fell in it
    base_mb: float | None  # last sample before the window (what the fit started from)
    n_samples: int


class TreeMemorySampler:
    """Samples the summed memory of a process tree every ``interval_s`` in a thread.

    Runs in the supervisor, never inside the measured tree, so sampling neither
    perturbs the tree's CPU figures nor stops when the tree is busy. PSS (proportional
    set size) divides each shared page among the processes mapping it, so the sum
    over workers that map the same data counts it once; RSS would count it once per
    worker. PSS needs /proc/<pid>/smaps(_rollup); where that is unreadable we fall
    back to RSS for the whole sampler and say so in :attr:`measure`.

    Caveats: PSS also shares pages with processes *outside* the tree (e.g. libraries
    the supervisor maps too), so the tree sum slightly underestimates; a peak shorter
    than the interval can be missed; one sample reads the processes one after another,
    not atomically, so while shared data changes hands (a worker unmapping it as
    another is read) a sample can be off by the share that moved; listing the tree
    costs ~1 ms (psutil scans /proc) and PSS ~0.2-1 ms per process (the kernel walks
    its page tables): ~5 ms of supervisor CPU per sample for a 4-process tree, i.e.
    ~10 % of one core at the default 50 ms, taken from the cores the fit runs on.
    :attr:`cpu_s` reports what the sampling really cost.

    It also remembers every (pid, create_time) it ever saw in the tree, so the
    supervisor can find descendants that were re-parented away before it kills them.
    """

    def __init__(
        self,
        pid: int,
        *,
        interval_s: float = 0.05,
        measure: Literal["auto", "pss", "rss"] = "auto",
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        if measure not in ("auto", "pss", "rss"):
            raise ValueError(f"measure must be 'auto', 'pss' or 'rss', got {measure!r}")
        self._root = psutil.Process(pid)
        self.interval_s = interval_s
        self.measure: MemMeasure = _pss_available() if measure == "auto" else measure
        self.times: list[float] = []  # monotonic, ascending
        self.values: list[int] = []  # bytes
        self.seen: dict[int, float] = {}  # pid -> create_time of every process seen
        self.cpu_s = 0.0  # CPU the sampling thread used
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="mem-sampler", daemon=True)

    def start(self) -> TreeMemorySampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> int | None:
        """Take one sample now; returns bytes, or None once the root is gone."""
        t0 = time.monotonic()
        try:
            procs = tree(self._root)
        except psutil.NoSuchProcess:
            return None
        total = 0
        for p in procs:
            try:
                self.seen.setdefault(p.pid, p.create_time())
                total += self._memory(p)
            except psutil.NoSuchProcess:
                continue  # exited between listing and reading: it holds no memory now
        # Stamp with the middle of the reading: the sample describes that span.
        self.times.append((t0 + time.monotonic()) / 2)
        self.values.append(total)
        return total

    def _memory(self, p: psutil.Process) -> int:
        if self.measure == "pss":
            try:
                return p.memory_full_info().pss
            except (psutil.AccessDenied, AttributeError):
                pass  # one unreadable process (e.g. setuid): its RSS is the best we have
        return p.memory_info().rss

    def _loop(self) -> None:
        # Fixed-rate schedule, so a slow reading does not stretch the interval.
        next_t = time.monotonic()
        try:
            while not self._stop.is_set() and self.sample() is not None:
                next_t += self.interval_s
                self._stop.wait(max(0.0, next_t - time.monotonic()))
        finally:
            self.cpu_s = time.thread_time()

    def window(self, start: float, end: float) -> MemoryPeak:
        """Peak over the samples taken inside ``[start, end]`` (monotonic seconds)."""
        lo, hi = bisect_left(self.times, start), bisect_right(self.times, end)
        inside = self.values[lo:hi]
        peak = max(inside) / MIB if inside else None
        base = self.values[lo - 1] / MIB if lo > 0 else None
        return MemoryPeak(peak_mb=peak, base_mb=base, n_samples=len(inside))


def _pss_available() -> MemMeasure:
    try:
        psutil.Process().memory_full_info().pss
    except (psutil.AccessDenied, AttributeError, NotImplementedError):
        return "rss"
    return "pss"


# ------------------------------------------------------------------ processes


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux PR_SET_CHILD_SUBREAPER).

    A loky worker whose parent dies would otherwise be re-parented to init: it would
    leave the tree, taking its CPU out of the accounting and out of our sight.
    Returns False where unsupported.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # 36 = PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def die_with_parent(interval_s: float = 0.5) -> None:
    """End this process's whole group (the trial: it leads it) once its parent is gone.

    A trial's child runs in its own session; without this, a supervisor killed with
    SIGKILL would leave the trial in flight running, unwatched and untimed -- and
    its busy loky workers would outlive even the child. A daemon thread notices the
    re-parenting (a fit in C code does not delay it) and SIGKILLs the group.
    """
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent:
                os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def available_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup v2 quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            n = min(n, max(1, int(-(-int(quota) // int(period)))))
    except (OSError, ValueError):
        pass
    return n
