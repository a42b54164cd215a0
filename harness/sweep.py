"""``python -m harness sweep``: every split of the cores, for every scenario, into the store.

For each scenario and engine the grid is :func:`harness.config.config_grid` over the
cores this process may use (1, 2, 4, ... per level, plus the library default and, for
the core engine, ``auto``; configs asking for more than ``--oversubscribe`` x cores
threads are left out). One
measurement is one *trial*: a fresh child process running 1 + V fits, fit 0 the cold
fit (stored, labelled cold; ranked by ``--rank cold``) and fits 1..V the warm values
(``--values V``, the preset's ``[sweep] values``, else 2). ``--repeats N`` runs N such
trials per (engine, scenario, config). The statistics count a trial once (its values
are related: :mod:`harness.analysis.stats`).

Order (a randomised complete block design): the scenarios run one after another, in
file order, so an interrupted sweep leaves complete rankings for the scenarios it
finished. Within a scenario, repeat ``r`` of every (engine, config) runs in block
``r``, and each block is shuffled with ``--seed``: every config is measured once per
block, its repeats spread over the scenario's time, never back to back, so a slow
drift of the machine (heat, another process) hits every config alike.

Trials run one at a time, and never two at once on one host: each trial holds an
exclusive lock on a host-wide file (``$HARNESS_LOCK_FILE``, default
``<tmp>/metalearners-harness-trial.lock``), so two sweeps started together take
turns instead of measuring each other.

Resuming: a trial already in the store (ok or failed) is skipped, whatever its number
of values, so re-running an interrupted command finishes it, and re-running a
finished one runs nothing. A
failed or timed-out trial is recorded with its reason; the sweep goes on. Data sets
are generated (and cached on disk) in this supervising process before a scenario's
first trial, so no trial pays for them.

Efficiency: the manifest of the run says, at its finish, which share of the sweep's
wall was spent inside measured (warm) fits (``sweep.efficiency``), and how much in
cold fits; the rest is process start-up, imports, data loading and bookkeeping. More
values per trial raise it: the start-up and the cold fit are paid once per trial.

The plan itself (the configs, the order, what a store still lacks) is
:mod:`harness.sweep_plan`; this module runs it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.config import grid_note
from harness.locks import HostTrialLock
from harness.manifest import collect_manifest, finish_manifest
from harness.measure import available_cores
from harness.runner import DEFAULT_VALUES, TrialRunner  # noqa: F401 (DEFAULT_VALUES: re-exported)
from harness.store import Store
from harness.render.progress import duration as _duration, progress as _progress
from harness.grid_configs import grid_config_grid
from harness.sweep_plan import PlannedTrial, pending, plan_trials, sweep_configs
from harness.trial_processes import kill_trial_children as _kill_trial_children
from harness.sweep_options import DEFAULT_MEM_INTERVAL_S, DEFAULT_PRESET, DEFAULT_REPEATS, SweepOptions  # noqa: F401

__all__ = ["PlannedTrial", "SweepOptions", "pending", "plan_trials", "run_sweep", "sweep_efficiency"]

@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt, so the same clean-up runs as for Ctrl-C."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _warn_if_busy(cores: int, console: Any) -> None:
    """One line when other processes already load the cores: their work distorts every
    timing (multi-threaded LightGBM fits most: OpenMP threads wait at each barrier for
    a thread that lost its core) and makes the sweep much longer."""
    load = os.getloadavg()[0]
    if load >= max(1.0, cores / 2):
        console.print(
            f"warning: load average {load:.1f} on {cores} cores before the sweep: other processes "
            "compete with the trials; timings will be distorted and the sweep slower",
            markup=False,
        )


def _print_report(db: Path, console: Any, phase: str = "fit") -> None:
    try:
        from harness.report import render_report
    except ModuleNotFoundError as e:
        if e.name != "harness.report":
            raise
        print(f"{db}: {store_summary(db)}")  # no report module (yet): one line
        return
    try:
        print(render_report(db, fmt="text", phase=phase))
    except Exception as e:  # the measurements are safe; say why there is no report
        console.print(f"report failed: {type(e).__name__}: {e}", markup=False)
        print(f"{db}: {store_summary(db)}")


# ------------------------------------------------------------------------ sweep


def run_sweep(options: SweepOptions) -> int:
    """Run (or resume) a sweep; returns the exit code (0 also when trials failed).

    Raises :class:`UsageError` with one line for bad options (unknown preset, engine,
    a db path that cannot be a results database) before anything is written.
    With ``options.cluster`` the trials run on a Dask cluster (:mod:`harness.cluster_runs`).
    """
    scenarios = options.load_scenarios()
    with contextlib.ExitStack() as stack:
        pool = None
        if options.cluster:  # the grid must fit every host: their fewest cores
            from harness.cluster import ClusterPool

            pool = stack.enter_context(ClusterPool(options.cluster))
        from rich.console import Console

        console = Console(stderr=True, highlight=False, soft_wrap=True)
        for limit in options.cores or (None,):  # --cores 1,2: the whole curve, one core count after the other
            _sweep_on(options, scenarios, console, pool, limit)
    if options.report:
        _print_report(options.db, console, options.phase)
    return 0


def _sweep_on(options: SweepOptions, scenarios: list[Any], console: Any, pool: Any, limit: int | None) -> None:
    """The sweep on ``limit`` cores (trials pinned to them), or on every available core (None;
    on a cluster: the grid must fit every host, so their fewest cores)."""
    cores = limit if limit is not None else pool.cores() if pool is not None else available_cores()
    levels = list(options.levels) if options.levels else None
    if options.phase == "predict":
        from harness.sweep_predict import plan_predict_trials, predict_sweep_configs

        configs = predict_sweep_configs(cores, options.predict_configs)
        batches = options.batches or ()
        plan = plan_predict_trials(scenarios, options.engines, configs, batches, options.repeats, options.seed)
        unit = f" x {len(batches)} batch sizes ({', '.join(map(str, batches))} rows)"
        value, grid_configs = "batches of predict calls", None
    else:
        configs = sweep_configs(cores, levels, options.backends, options.oversubscribe)
        grid_configs = (  # a grid-search scenario's configs: the grid level too
            grid_config_grid(cores, levels, options.backends, options.oversubscribe) if any(s.grid for s in scenarios) else None
        )
        plan = plan_trials(scenarios, options.engines, configs, options.repeats, options.seed, grid_configs)
        unit, value = "", "fits"
    db = options.db
    what = (
        f"{len(plan)} trials ({len(scenarios)} scenarios x {len(configs)} configs{unit}"
        + (f" ({len(grid_configs)} with the grid level for grid searches)" if grid_configs else "")
        + f" x {options.repeats} repeats x {len(options.engines)} engine(s), {cores} cores;"
        f" each 1 cold + {options.values} warm {value})"
    )

    with Store(db) as store:  # opened first: a bad --db is the only line printed
        if options.phase == "fit" and (note := grid_note(cores, levels, options.backends, options.oversubscribe)):
            console.print(f"sweep: {note}", markup=False)
        todo = pending(plan, store, limit)
        if not todo:
            console.print(f"sweep: nothing to do, all {what} are in {db}", markup=False)
        else:
            console.print(
                f"sweep: {len(todo)} of {what} to run into {db}"
                + (f"; {len(plan) - len(todo)} already recorded" if len(todo) < len(plan) else ""),
                markup=False,
            )
            _warn_if_busy(cores, console)
            manifest = collect_manifest()
            manifest["sweep"] = {
                "preset": options.source,
                "engines": list(options.engines),
                "scenarios": [s.id for s in scenarios],
                "configs": [c.id for c in configs],
                **({"grid_configs": [c.id for c in grid_configs]} if grid_configs else {}),
                "repeats": options.repeats,
                "values": options.values,
                "fits_per_trial": 1 + options.values,
                "timeout_s": options.timeout_s,
                "levels": list(options.levels) if options.levels else None,
                "backends": list(options.backends),
                "oversubscribe": options.oversubscribe,
                "seed": options.seed,
                "cores": cores,
                "cores_limit": limit,  # --cores: the trials' CPU affinity (None: not limited)
                "phase": options.phase,
                "batches": list(options.batches) if options.batches else None,
                "planned": len(plan),
                "to_run": len(todo),
            }
            if pool is not None:
                manifest["sweep"]["cluster"] = {"address": options.cluster, "hosts": pool.n_hosts()}
            run_id = store.start_run(manifest, options.command, options.source)
            if pool is not None:
                from harness.cluster_runs import run_plan_on_cluster

                run_plan_on_cluster(pool, store, run_id, manifest, todo, options, console)
            else:
                _run_plan(store, run_id, manifest, todo, options, console, limit)


def _run_plan(
    store: Store,
    run_id: str,
    manifest: dict[str, Any],
    todo: list[PlannedTrial],
    options: SweepOptions,
    console: Any,
    limit: int | None = None,
) -> None:
    from rich.markup import escape

    from scenarios import load_data

    counts = {"ok": 0, "failed": 0, "skipped": 0}
    interrupted = False
    lock = HostTrialLock(
        on_first_wait=lambda: console.print(
            "  waiting: another sweep is running a trial on this host (trials take turns)"
        ),
    )
    runners: dict[tuple[str, str, int | None], TrialRunner] = {}
    started = time.monotonic()
    by_scenario: dict[str, list[PlannedTrial]] = {}
    for t in todo:
        by_scenario.setdefault(t.scenario.id, []).append(t)
    try:
        with _sigterm_as_interrupt(), _progress(console) as progress:
            bar = progress.add_task("sweep", total=len(todo))
            for n, (scenario_id, trials) in enumerate(by_scenario.items(), start=1):
                label = f"[{n}/{len(by_scenario)}] {scenario_id}"
                progress.update(bar, description=escape(f"{label}: generating data"))
                t0 = time.monotonic()
                with lock.held():  # heavy CPU: not while another sweep's trial runs
                    t_gen = time.monotonic()
                    load_data(trials[0].scenario)  # cached on disk: no trial pays for it
                    gen_s = time.monotonic() - t_gen
                failed_here = 0
                for trial in trials:
                    batch = "" if trial.batch_rows is None else f" batch {trial.batch_rows}"
                    progress.update(
                        bar, description=escape(f"{label}: {trial.engine} {trial.config.id}{batch} #{trial.repeat}")
                    )
                    runner = runners.get((trial.engine, scenario_id, trial.batch_rows))
                    if runner is None:
                        runner = runners[(trial.engine, scenario_id, trial.batch_rows)] = TrialRunner(
                            trial.engine, trial.scenario, store, run_id, timeout_s=options.timeout_s,
                            mem_interval_s=options.mem_interval_s, lock=lock, values=options.values, cores=limit,
                            batch_rows=trial.batch_rows,
                        )
                    result = runner.run(trial.config, trial.repeat)
                    if result is None:
                        counts["skipped"] += 1
                    elif result.ok:
                        counts["ok"] += 1
                    else:
                        counts["failed"] += 1
                        failed_here += 1
                        console.print(
                            f"  FAILED {trial.engine} {scenario_id} {trial.config.id}{batch}"
                            f" repeat {trial.repeat}: {result.reason}",
                            markup=False,
                        )
                    progress.advance(bar)
                console.print(
                    f"{label}: {len(trials)} trials"
                    + (f", {failed_here} failed" if failed_here else "")
                    + (f", data generated in {gen_s:.1f}s" if gen_s >= 0.5 else "")
                    + f" ({_duration(time.monotonic() - t0)})",
                    markup=False,
                )
    except KeyboardInterrupt:
        interrupted = True
        _kill_trial_children()
        console.print(
            f"interrupted: {counts['ok'] + counts['failed']} trials of this run are kept in {store.path}"
            f" ({len(todo) - counts['ok'] - counts['failed'] - counts['skipped']} not run); resume with: "
            + options.command,
            markup=False,
        )
        raise
    finally:
        lock.close()
        final = finish_manifest(manifest)
        final["sweep"] = {
            **manifest["sweep"], **counts, "interrupted": interrupted,
            **sweep_efficiency(runners.values(), time.monotonic() - started),
        }
        with contextlib.suppress(Exception):
            store.finish_run(run_id, final)
    share = final["sweep"].get("efficiency")
    console.print(
        f"sweep: {counts['ok'] + counts['failed']} trials in {_duration(time.monotonic() - started)}"
        + f" ({counts['failed']} failed"
        + (f", {counts['skipped']} done meanwhile by another sweep" if counts["skipped"] else "")
        + f"), run {run_id}, {store.path}"
        + (f"; {share:.0%} of its wall inside measured warm fits" if share is not None else ""),
        markup=False,
    )


def sweep_efficiency(runners: Any, wall_s: float) -> dict[str, Any]:
    """The sweep's wall and the seconds of it spent inside warm (measured) and cold fits:
    ``efficiency`` = warm seconds / wall (None before any second has passed)."""
    warm = cold = 0.0
    for runner in runners:
        for result in runner.results:
            for sample in result.samples:
                if sample.kind == "warm":
                    warm += sample.wall_s
                else:
                    cold += sample.wall_s
    return {
        "wall_s": round(wall_s, 3),
        "warm_fit_s": round(warm, 3),
        "cold_fit_s": round(cold, 3),
        "efficiency": round(warm / wall_s, 4) if wall_s > 0 else None,
    }


def store_summary(db: Path) -> str:
    """One line: how many trials and fits the store holds, how many failed."""
    with Store(db) as store:
        c = store.counts()
    return f"{c['trials']} trials ({c['failed']} failed), {c['fits']} fits, {c['runs']} runs"
