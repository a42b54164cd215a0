"""The what-if predictor's core: a fit's task graph, replayed on P cores under a scheduling policy.

Pure and small: no store, no harness config, no timing. Input: the models of one
fit (:class:`Job`, each a cross-fit estimator: its base-model fits with their
single-thread durations, the models it waits for, and the serial fraction of its
model kind) and a policy; output: a :class:`Schedule` (start/end of every fit, the
makespan). Two policies:

* :func:`replay_core` -- ``metalearners_core``'s scheduler (``_execution/scheduler.py``
  and ``plan.py``): every fit of every model in one pool of ``workers``, ready fits
  largest first (then in the order they were added), at most ``fold_workers`` fits of
  one model and ``stage_workers`` models in flight, a model's fits ready as soon as
  the models it needs are fitted (no barrier between stages);
* :func:`replay_package` -- the ``metalearners`` package's nested joblib policy:
  stages one after the other (a barrier), inside a stage ``joblib.Parallel`` over
  the models with ``stage_workers`` workers in list order, inside each model
  ``cross_validate`` over its folds with ``fold_workers`` workers in fold order, then
  its overall fit alone.

Thread scaling (stated form): a fit of single-thread duration ``d1`` on ``t`` threads
runs at speed ``S(t) = 1 / (f + (1 - f) / t)`` for ``t >= 1`` (Amdahl's law with serial
fraction ``f`` per model kind, :func:`amdahl_speedup`), and at ``S(t) = t`` for a share
``t < 1`` of one core. ``f > 1`` (up to :data:`MAX_SERIAL_FRACTION`) is allowed:
threads that cost a small fit more than they give make it slower, ``S(t) < 1``,
extrapolated by the same form (towards ``1 / f``). Cores are shared fluidly: when the fits in flight ask for more
threads than ``cores``, each fit's threads are scaled by ``cores / threads asked``
(processor sharing), and every rate is recomputed whenever a fit starts or ends. Each
fit also pays a fixed ``dispatch_s`` (handing it to a worker and back) before it runs.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "MAX_SERIAL_FRACTION", "Fit", "Job", "Schedule", "amdahl_speedup", "bound", "fit_serial_fraction", "replay_core", "replay_package",
]


#: The largest serial fraction fitted: 2 makes a fit on many threads at most 2x slower than on one.
MAX_SERIAL_FRACTION = 2.0


@dataclass(frozen=True)
class Fit:
    """One base-model fit: its fold (None: the overall model), training rows, single-thread seconds.

    ``bins_s``: what the fit adds where it must bin its rows itself although the
    profile copied LightGBM's binned data (pools without sharing: worker processes).
    """

    fold: int | None
    rows: int
    work_s: float
    bins_s: float = 0.0


@dataclass(frozen=True)
class Job:
    """One model (a cross-fit estimator): its fits in the library's order, what it waits for."""

    id: Hashable
    stage: str
    fits: tuple[Fit, ...]
    needs: frozenset = frozenset()  # ids of the jobs whose fits must all end first
    serial_fraction: float = 0.0  # Amdahl's f of its model kind

    def __post_init__(self) -> None:
        if not 0.0 <= self.serial_fraction <= MAX_SERIAL_FRACTION:
            raise ValueError(
                f"job {self.id!r}: serial_fraction={self.serial_fraction!r} is not allowed; use 0..{MAX_SERIAL_FRACTION:g}"
            )
        if any(f.work_s < 0 for f in self.fits):
            raise ValueError(f"job {self.id!r}: a fit has negative work; durations are >= 0 seconds")


@dataclass(frozen=True)
class Schedule:
    """When each fit ran (``(job id, fold) -> (start, end)``, seconds from the fit's start)."""

    spans: dict = field(default_factory=dict)

    @property
    def makespan(self) -> float:
        return max((end for _, end in self.spans.values()), default=0.0)


def amdahl_speedup(threads: float, serial_fraction: float) -> float:
    """Speed of a fit on ``threads`` relative to one thread (see the module for the form)."""
    if threads <= 1.0:
        return max(threads, 0.0)
    return 1.0 / (serial_fraction + (1.0 - serial_fraction) / threads)


def fit_serial_fraction(ratios: Sequence[tuple[int, float]]) -> float:
    """Amdahl's ``f`` from ``(threads, duration at threads / duration at 1 thread)`` pairs.

    Each pair gives ``f = (r - 1/t) / (1 - 1/t)``; the median, clipped to
    0..:data:`MAX_SERIAL_FRACTION` (least squares is pulled by one disturbed fit; the
    median is not). Pairs at 1 thread say
    nothing and are skipped; no usable pair is a ``ValueError``.
    """
    estimates = sorted((r - 1.0 / t) / (1.0 - 1.0 / t) for t, r in ratios if t > 1 and r > 0)
    if not estimates:
        raise ValueError("no duration measured at more than one thread: the serial fraction cannot be fitted")
    mid = len(estimates) // 2
    median = estimates[mid] if len(estimates) % 2 else (estimates[mid - 1] + estimates[mid]) / 2
    return min(MAX_SERIAL_FRACTION, max(0.0, median))


class _Cores:
    """Fits in flight on ``cores``, advanced fluidly from one start/end to the next."""

    def __init__(self, cores: int) -> None:
        if cores < 1:
            raise ValueError(f"cores={cores!r} is not allowed; use an integer >= 1")
        self.cores, self.now = cores, 0.0
        self.running: dict = {}  # key -> [latency left, work left, threads, serial fraction, start]

    def start(self, key: Hashable, work_s: float, threads: int, serial_fraction: float, dispatch_s: float) -> None:
        self.running[key] = [dispatch_s, work_s, max(1, threads), serial_fraction, self.now]

    def _rates(self) -> dict:
        asked = sum(r[2] for r in self.running.values())
        share = min(1.0, self.cores / asked) if asked else 1.0
        return {k: amdahl_speedup(r[2] * share, r[3]) for k, r in self.running.items()}

    def advance(self) -> list[tuple[Hashable, float, float]]:
        """Run to the next end; ``(key, start, end)`` of every fit ending then."""
        rates = self._rates()
        left = {k: r[0] + (r[1] / rates[k] if r[1] > 0 else 0.0) for k, r in self.running.items()}
        dt = min(left.values())
        self.now += dt
        ended = []
        for key, r in list(self.running.items()):
            if left[key] - dt <= 1e-12 * max(1.0, self.now):
                ended.append((key, r[4], self.now))
                del self.running[key]
                continue
            spent_on_latency = min(r[0], dt)
            r[0] -= spent_on_latency
            r[1] = max(0.0, r[1] - (dt - spent_on_latency) * rates[key])
        return ended


def _check_needs(jobs: Sequence[Job]) -> None:
    ids = [j.id for j in jobs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"job ids repeat: {ids}")
    unknown = sorted({repr(n) for j in jobs for n in j.needs} - {repr(i) for i in ids})
    if unknown:
        raise ValueError(f"jobs wait for models that are not in the graph: {', '.join(unknown)}")


def replay_core(
    jobs: Sequence[Job],
    cores: int,
    workers: int,
    fold_workers: int,
    stage_workers: int,
    threads: int,
    dispatch_s: float = 0.0,
) -> Schedule:
    """The schedule ``metalearners_core``'s task loop makes of ``jobs`` (see the module).

    ``workers``, ``fold_workers``, ``stage_workers`` and ``threads`` are the plan's
    (``plan.plan_execution``): the pool, the caps per level, the threads per fit.
    """
    _check_needs(jobs)
    if min(workers, fold_workers, stage_workers, threads) < 1:
        raise ValueError("workers, fold_workers, stage_workers and threads must be >= 1")
    machine, order = _Cores(cores), itertools.count()
    ready: list = []  # (-rows, order, job index, fit index): largest first, then added first
    running = [0] * len(jobs)
    left = [len(j.fits) for j in jobs]
    added, done, spans = set(), set(), {}

    def add_released() -> None:
        for i, job in enumerate(jobs):
            if i not in added and job.needs <= done:
                added.add(i)
                if not job.fits:
                    done.add(job.id)
                    continue
                for k, fit in enumerate(job.fits):
                    heapq.heappush(ready, (-fit.rows, next(order), i, k))

    add_released()
    while ready or machine.running:
        held, models_running = [], sum(1 for r in running if r)
        while ready and len(machine.running) < workers:
            entry = heapq.heappop(ready)
            i = entry[2]
            if running[i] >= fold_workers or (not running[i] and models_running >= stage_workers):
                held.append(entry)
                continue
            models_running += not running[i]
            running[i] += 1
            job = jobs[i]
            machine.start((i, entry[3]), job.fits[entry[3]].work_s, threads, job.serial_fraction, dispatch_s)
        for entry in held:
            heapq.heappush(ready, entry)
        if not machine.running:
            break
        for (i, k), start, end in machine.advance():
            running[i] -= 1
            left[i] -= 1
            spans[(jobs[i].id, jobs[i].fits[k].fold)] = (start, end)
            if not left[i]:
                done.add(jobs[i].id)
        add_released()
    if len(added) < len(jobs):
        waiting = [repr(j.id) for i, j in enumerate(jobs) if i not in added]
        raise ValueError(f"jobs wait for models that are never fitted (a cycle?): {', '.join(waiting)}")
    return Schedule(spans)


def replay_package(
    jobs: Sequence[Job],
    cores: int,
    stage_workers: int,
    fold_workers: int,
    threads: int,
    dispatch_s: float = 0.0,
    stages: Sequence[str] | None = None,
) -> Schedule:
    """The schedule of the ``metalearners`` package's nested policy (see the module).

    ``stages``: their order (default: the order they first appear in ``jobs``); the
    package fits a stage only once every model of the previous one is fitted.
    """
    _check_needs(jobs)
    if min(stage_workers, fold_workers, threads) < 1:
        raise ValueError("stage_workers, fold_workers and threads must be >= 1")
    machine, spans = _Cores(cores), {}
    stage_order = list(stages) if stages is not None else list(dict.fromkeys(j.stage for j in jobs))
    for stage in stage_order:
        queue = [i for i, j in enumerate(jobs) if j.stage == stage]
        # per model in flight: the fold fits not started, fold fits running, whether the overall fit ran
        active: dict[int, dict] = {}
        while queue or active:
            while queue and len(active) < stage_workers:
                i = queue.pop(0)
                folds = [k for k, f in enumerate(jobs[i].fits) if f.fold is not None]
                overall = [k for k, f in enumerate(jobs[i].fits) if f.fold is None]
                active[i] = {"folds": folds, "running": 0, "overall": overall}
            for i, state in active.items():
                job = jobs[i]
                while state["folds"] and state["running"] < fold_workers:
                    k = state["folds"].pop(0)
                    state["running"] += 1
                    machine.start((i, k), job.fits[k].work_s, threads, job.serial_fraction, dispatch_s)
                if not state["folds"] and not state["running"] and state["overall"]:
                    k = state["overall"].pop(0)  # after cross_validate, in the same worker
                    state["running"] += 1
                    machine.start((i, k), job.fits[k].work_s, threads, job.serial_fraction, 0.0)
            finished = [i for i, s in active.items() if not (s["folds"] or s["running"] or s["overall"])]
            for i in finished:  # a model without fits
                del active[i]
            if not machine.running:
                continue
            for (i, k), start, end in machine.advance():
                spans[(jobs[i].id, jobs[i].fits[k].fold)] = (start, end)
                state = active[i]
                state["running"] -= 1
                if not (state["folds"] or state["running"] or state["overall"]):
                    del active[i]
    return Schedule(spans)


def bound(jobs: Sequence[Job], cores: int, max_threads: int = 1) -> float:
    """max(work / cores, span): no schedule of ``jobs`` on ``cores`` with up to ``max_threads``
    threads a fit ends sooner (the span: the shortest each stage's longest fit can take, at
    ``min(max_threads, cores)`` threads by Amdahl's law, summed, as :mod:`harness.analysis.bound`)."""
    work = sum(f.work_s for j in jobs for f in j.fits)
    threads = max(1, min(max_threads, cores))
    span: dict[str, float] = {}
    for j in jobs:
        speed = amdahl_speedup(threads, j.serial_fraction)
        span[j.stage] = max([span.get(j.stage, 0.0), *(f.work_s / speed for f in j.fits)])
    return max(work / cores, sum(span.values())) if jobs else 0.0

