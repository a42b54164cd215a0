"""A sweep's plan and recommend's re-measurements run on a Dask cluster (:mod:`harness.cluster`).

:func:`run_plan_on_cluster` is the cluster twin of the sweep's own loop: it walks the
same interleaved plan (what the store still lacks), keeping one trial in flight per
host, and records every result the cluster sends back in the local store through the
workload's :class:`~harness.runner.TrialRunner` (with the host's manifest), so resume,
failure recording and the report work as on one machine. A trial whose worker was
lost is recorded as failed with that reason and re-queued once, on another host where
there is one. Interrupted (Ctrl-C, SIGTERM), it cancels what is in flight and keeps
what was recorded; the same command resumes.

:class:`ClusterMeasure` is ``measure(config)`` for recommend: one trial on whichever
host is free, recorded, as a :class:`~harness.runner.Measurement`.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from harness.cluster import ClusterPool, HostOutcome
from harness.config import ParallelConfig
from harness.locks import HostTrialLock
from harness.manifest import finish_manifest
from harness.render.progress import duration as _duration, progress as _progress
from harness.runner import Measurement, TrialRunner, measurement_from_result
from harness.sweep_plan import PlannedTrial
from harness.trial import TrialSpec

__all__ = ["ClusterMeasure", "measuring_on_cluster", "run_plan_on_cluster"]


@dataclass
class _Flight:
    trial: PlannedTrial
    spec: TrialSpec
    submitted_at: float
    retried: bool = False


def run_plan_on_cluster(
    pool: ClusterPool,
    store: Any,
    run_id: str,
    manifest: dict[str, Any],
    todo: list[PlannedTrial],
    options: Any,
    console: Any,
) -> None:
    """Run ``todo`` (in plan order) on the cluster's hosts, one trial per host at a time."""
    from harness.sweep import _sigterm_as_interrupt, sweep_efficiency

    counts = {"ok": 0, "failed": 0, "skipped": 0, "requeued": 0}
    runners: dict[tuple[str, str], TrialRunner] = {}
    no_lock = HostTrialLock(enabled=False)  # the hosts hold their own locks

    def runner_of(trial: PlannedTrial) -> TrialRunner:
        key = (trial.engine, trial.scenario.id)
        if key not in runners:
            runners[key] = TrialRunner(
                trial.engine, trial.scenario, store, run_id, timeout_s=options.timeout_s,
                mem_interval_s=options.mem_interval_s, lock=no_lock, values=options.values,
            )
        return runners[key]

    queue = deque(todo)
    flight: dict[Any, _Flight] = {}
    started = time.monotonic()
    interrupted = False
    try:
        with _sigterm_as_interrupt(), _progress(console) as progress:
            bar = progress.add_task("sweep", total=len(todo))
            while queue or flight:
                hosts = pool.n_hosts()
                while queue and len(flight) < hosts:
                    trial = queue.popleft()
                    if store.has_trial(*trial.key):  # a concurrent sweep recorded it meanwhile
                        counts["skipped"] += 1
                        progress.advance(bar)
                        continue
                    spec = runner_of(trial).spec(trial.config)
                    flight[pool.submit(spec, trial.scenario)] = _Flight(trial, spec, time.time())
                progress.update(bar, description=f"{len(flight)} trial(s) in flight on {hosts} host(s)")
                for future in pool.wait_any(list(flight)):
                    done = flight.pop(future)
                    outcome = pool.outcome(future, done.spec, done.submitted_at)
                    _record(runner_of(done.trial), done.trial, outcome, counts, console)
                    if outcome.lost and not done.retried:  # once, on another host where there is one
                        counts["requeued"] += 1
                        again = pool.submit(done.spec, done.trial.scenario, avoid_host=outcome.host)
                        flight[again] = _Flight(done.trial, done.spec, time.time(), retried=True)
                        console.print("  re-queued once on another host", markup=False)
                    else:
                        progress.advance(bar)
    except KeyboardInterrupt:
        interrupted = True
        with contextlib.suppress(Exception):
            pool.cancel(list(flight))
        console.print(
            f"interrupted: {counts['ok'] + counts['failed']} trials of this run are kept in {store.path}"
            f" ({len(flight)} in flight dropped, {len(queue)} not started); resume with: {options.command}",
            markup=False,
        )
        raise
    finally:
        final = finish_manifest(manifest)
        final["sweep"] = {
            **manifest["sweep"], **counts, "interrupted": interrupted,
            **sweep_efficiency(runners.values(), time.monotonic() - started),
        }
        with contextlib.suppress(Exception):
            store.finish_run(run_id, final)
    console.print(
        f"sweep: {counts['ok'] + counts['failed']} trials on the cluster in {_duration(time.monotonic() - started)}"
        f" ({counts['failed']} failed, {counts['requeued']} re-queued after a lost worker"
        + (f", {counts['skipped']} done meanwhile by another sweep" if counts["skipped"] else "")
        + f"), run {run_id}, {store.path}",
        markup=False,
    )


def _record(runner: TrialRunner, trial: PlannedTrial, outcome: HostOutcome, counts: dict[str, int],
            console: Any) -> None:
    runner.record(trial.config, outcome.result, trial.repeat, outcome.manifest)
    if outcome.result.ok:
        counts["ok"] += 1
        return
    counts["failed"] += 1
    console.print(
        f"  FAILED {trial.engine} {trial.scenario.id} {trial.config.id} repeat {trial.repeat}"
        f" on {outcome.result.hostname}: {outcome.result.reason}",
        markup=False,
    )


class ClusterMeasure:
    """``measure(config)`` on the cluster: one trial on a free host, recorded by ``runner``.

    A trial whose worker was lost is recorded as failed and measured once more on
    another host; the Measurement is the last attempt's.
    """

    def __init__(self, pool: ClusterPool, runner: TrialRunner, say: Callable[[str], None] | None = None) -> None:
        self.pool, self.runner, self.say = pool, runner, say or (lambda text: None)

    def __call__(self, config: ParallelConfig) -> Measurement:
        spec, avoid = self.runner.spec(config), None
        for attempt in range(2):
            submitted = time.time()
            future = self.pool.submit(spec, self.runner.scenario, avoid_host=avoid)
            self.pool.wait_any([future])
            outcome = self.pool.outcome(future, spec, submitted)
            self.runner.record(config, outcome.result, None, outcome.manifest)
            if not outcome.lost or attempt:
                break
            self.say(f"  {config.id}: {outcome.result.reason}; measuring it once more on another host")
            avoid = outcome.host
        return measurement_from_result(outcome.result)


@contextlib.contextmanager
def measuring_on_cluster(db: Any, engine: str, scenario: Any, cluster: str, values: int | None, timeout_s: float,
                         log: Callable[[str], None] | None) -> Iterator[tuple[ClusterMeasure, str, int]]:
    """recommend's re-measurement on a cluster: (measure, the ``recommend`` run id, the hosts' cores)."""
    from harness.manifest import collect_manifest
    from harness.runner import DEFAULT_VALUES
    from harness.store import Store

    manifest = collect_manifest()
    with ClusterPool(cluster) as pool, Store(db) as store:
        cores = pool.cores()
        manifest["cluster"] = {"address": cluster, "hosts": pool.n_hosts()}
        run_id = store.start_run(manifest, "recommend", None)
        try:
            runner = TrialRunner(engine, scenario, store, run_id, timeout_s=timeout_s, lock=HostTrialLock(False),
                                 values=values or DEFAULT_VALUES)
            yield ClusterMeasure(pool, runner, log), run_id, cores
        finally:
            store.finish_run(run_id, finish_manifest(manifest))
