"""``python -m harness sweep``: every split of the cores, for every scenario, into the store.

For each scenario and engine the grid is :func:`harness.config.config_grid` over the
cores this process may use (1, 2, 4, ... per level, plus the library default and, for
the core engine, ``auto``; configs asking for more than ``--oversubscribe`` x cores
threads are left out). One
measurement is one *trial*: a fresh child process running two fits, fit 0 the cold
warm-up (stored, labelled cold) and fit 1 the warm measurement. ``--repeats N`` runs
N such trials per (engine, scenario, config).

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

Resuming: a trial already in the store (ok or failed) is skipped, so re-running an
interrupted command finishes it, and re-running a finished one runs nothing. A
failed or timed-out trial is recorded with its reason; the sweep goes on. Data sets
are generated (and cached on disk) in this supervising process before a scenario's
first trial, so no trial pays for them.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import random
import shlex
import signal
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import BACKENDS, ParallelConfig, config_grid
from harness.engines import check_engine, supports
from harness.measure import available_cores, collect_manifest, finish_manifest
from harness.store import Store
from harness.trial import TAG_ENV, TrialResult, TrialSpec, run_trial

__all__ = ["PlannedTrial", "pending", "plan_trials", "run_sweep"]

DEFAULT_PRESET = "default"
DEFAULT_REPEATS = 3
#: Fits per trial: the cold warm-up and one warm measurement.
FITS_PER_TRIAL = 2
#: Seconds between memory samples of a trial's tree: at 0.025 s the supervisor's PSS
#: sampling of a trial with loky workers costs ~40% of a core, at 0.1 s ~8%.
DEFAULT_MEM_INTERVAL_S = 0.1
#: Environment variable naming the host-wide lock file that serialises trials.
LOCK_ENV = "HARNESS_LOCK_FILE"


@dataclass(frozen=True)
class PlannedTrial:
    engine: str
    scenario: Any  # scenarios.Scenario
    config: ParallelConfig
    repeat: int

    @property
    def key(self) -> tuple[str, str, str, int]:
        """The store's identity of a measurement (see :meth:`Store.done`)."""
        return (self.engine, self.scenario.id, self.config.id, self.repeat)


def plan_trials(
    scenarios: Sequence[Any],
    engines: Sequence[str],
    configs: Sequence[ParallelConfig],
    repeats: int,
    seed: int,
) -> list[PlannedTrial]:
    """Every (engine, scenario, config, repeat) in sweep order (see the module docstring).

    Deterministic for a given seed, so a resumed sweep walks the same order.
    """
    rng = random.Random(seed)
    plan: list[PlannedTrial] = []
    for scenario in scenarios:
        cells = [(engine, config) for engine in engines for config in configs if supports(engine, config)]
        previous = None
        for repeat in range(repeats):
            block = cells[:]
            rng.shuffle(block)
            if len(block) > 1 and block[0] == previous:  # no repeat back to back across blocks
                j = rng.randrange(1, len(block))
                block[0], block[j] = block[j], block[0]
            previous = block[-1]
            plan += [PlannedTrial(engine, scenario, config, repeat) for engine, config in block]
    return plan


def pending(plan: Sequence[PlannedTrial], store: Store) -> list[PlannedTrial]:
    """The planned trials the store does not hold yet (it is read once, not per trial)."""
    done = store.done()
    return [t for t in plan if t.key not in done]


# ---------------------------------------------------------------------- helpers


def _load_scenarios(args: argparse.Namespace) -> tuple[list[Any], str]:
    from scenarios import load_preset

    scenarios_file = getattr(args, "scenarios", None)
    if scenarios_file:
        path = Path(scenarios_file)
        if not path.is_file():
            raise ValueError(f"--scenarios {scenarios_file}: no such file")
        return load_preset(os.path.abspath(path)), str(scenarios_file)
    preset = getattr(args, "preset", None) or DEFAULT_PRESET
    return load_preset(preset), preset


def _command(args: argparse.Namespace, preset: str) -> str:
    """The sweep as a command line (canonical: also when called in-process)."""
    parts = ["python", "-m", "harness", "sweep"]
    if getattr(args, "scenarios", None):
        parts += ["--scenarios", str(args.scenarios)]
    else:
        parts += ["--preset", preset]
    parts += ["--db", str(args.db), "--repeats", str(args.repeats), "--timeout", f"{args.timeout:g}"]
    parts += ["--engine", ",".join(args.engine)]
    if getattr(args, "levels", None):
        parts += ["--levels", ",".join(map(str, args.levels))]
    parts += ["--backends", ",".join(args.backends)]
    parts += ["--oversubscribe", f"{args.oversubscribe:g}", "--seed", str(args.seed)]
    parts += ["--mem-interval", f"{_mem_interval(args):g}"]
    if getattr(args, "no_report", False):
        parts.append("--no-report")
    return shlex.join(parts)


def _mem_interval(args: argparse.Namespace) -> float:
    value = getattr(args, "mem_interval", None)
    return DEFAULT_MEM_INTERVAL_S if value is None else value


def _apply_preset_settings(args: argparse.Namespace, source: str) -> None:
    """Fill what the command line left unset from the preset's ``[sweep]`` table."""
    from scenarios import sweep_settings

    settings = sweep_settings(source)
    if getattr(args, "repeats", None) is None:
        args.repeats = settings.get("repeats", DEFAULT_REPEATS)
    if getattr(args, "levels", None) is None:
        args.levels = settings.get("levels")
    if getattr(args, "backends", None) is None:
        args.backends = tuple(settings.get("backends", BACKENDS))


def _check_args(args: argparse.Namespace) -> None:
    if not isinstance(args.repeats, int) or args.repeats < 1:
        raise ValueError(f"--repeats {args.repeats}: is not allowed; use an integer >= 1")
    if not args.timeout > 0:
        raise ValueError(f"--timeout {args.timeout}: is not allowed; use a number > 0")
    if not _mem_interval(args) > 0:
        raise ValueError(f"--mem-interval {args.mem_interval}: is not allowed; use a number > 0")
    if not args.oversubscribe > 0:
        raise ValueError(f"--oversubscribe {args.oversubscribe}: is not allowed; use a number > 0")
    engines = args.engine if not isinstance(args.engine, str) else args.engine.split(",")
    if not engines:
        raise ValueError("--engine: no engine given")
    for engine in engines:
        check_engine(engine)
    args.engine = list(dict.fromkeys(engines))
    bad = [b for b in args.backends if b not in BACKENDS]
    if bad or not args.backends:
        raise ValueError(f"--backends {','.join(args.backends)}: choose from {', '.join(BACKENDS)}")
    if args.levels is not None and (not args.levels or any(v < 1 for v in args.levels)):
        raise ValueError(f"--levels {args.levels}: use integers >= 1")
    db = Path(args.db)
    if db.exists() and not db.is_file():
        raise ValueError(f"--db {args.db}: is a directory, not a results database file")


def _lock_path() -> Path:
    return Path(os.environ.get(LOCK_ENV) or Path(tempfile.gettempdir()) / "metalearners-harness-trial.lock")


class _HostLock:
    """An exclusive ``flock`` held while a trial runs (released if we die)."""

    def __init__(self, path: Path, on_first_wait: Any = None) -> None:
        self.path = path
        self.waits = 0  # how many times a trial had to wait for another sweep's
        self._on_first_wait = on_first_wait
        self._fd: int | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            self._fd = None  # cannot share a lock here: trials of this sweep still run one at a time

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self._fd is None:
            yield
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.waits += 1
            if self.waits == 1 and self._on_first_wait is not None:
                self._on_first_wait()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _kill_trial_children() -> None:
    """Kill the process groups of trial children still running (after Ctrl-C/SIGTERM).

    ``run_trial`` starts each child in its own session, so a terminal's Ctrl-C does not
    reach it; without this it would go on fitting after the sweep stopped.
    """
    import psutil

    for child in psutil.Process().children():
        try:
            if child.pid == os.getpgid(child.pid) and TAG_ENV in child.environ():
                os.killpg(child.pid, signal.SIGKILL)
        except (OSError, psutil.Error):
            pass


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


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class _NoProgress:
    """Stands in for the bar when stderr is not a terminal (CI, a log file): no redraws."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def add_task(self, description: str, total: int) -> int:
        return 0

    def update(self, task: int, **fields: Any) -> None:
        pass

    def advance(self, task: int) -> None:
        pass


def _progress(console: Any) -> Any:
    if not console.is_terminal:
        return _NoProgress()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("sweep"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),  # last: a narrow terminal cuts it, not the bar
        console=console,
        transient=True,  # the bar goes; the per-scenario lines stay
        speed_estimate_period=3600,  # the ETA averages over the whole sweep, not the last trials
        redirect_stdout=False,
        redirect_stderr=False,
    )


def _print_report(db: Path, console: Any) -> None:
    try:
        from harness.report import render_report
    except ModuleNotFoundError as e:
        if e.name != "harness.report":
            raise
        print(f"{db}: {store_summary(db)}")  # no report module (yet): one line
        return
    try:
        print(render_report(db, fmt="text"))
    except Exception as e:  # the measurements are safe; say why there is no report
        console.print(f"report failed: {type(e).__name__}: {e}", markup=False)
        print(f"{db}: {store_summary(db)}")


# ------------------------------------------------------------------------ sweep


def run_sweep(args: argparse.Namespace) -> int:
    """Run (or resume) a sweep; returns the exit code (0 also when trials failed).

    ``args`` as parsed by ``python -m harness sweep`` (see :mod:`harness.cli`). Raises
    ``ValueError`` with one line for bad arguments (unknown preset, engine, a db
    path that cannot be a results database) before anything is written.
    """
    from rich.console import Console

    scenarios, preset = _load_scenarios(args)
    _apply_preset_settings(args, os.path.abspath(args.scenarios) if getattr(args, "scenarios", None) else preset)
    _check_args(args)
    cores = available_cores()
    configs = config_grid(cores, args.levels, tuple(args.backends), args.oversubscribe)
    plan = plan_trials(scenarios, args.engine, configs, args.repeats, args.seed)
    db = Path(args.db)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    what = (
        f"{len(plan)} trials ({len(scenarios)} scenarios x {len(configs)} configs"
        f" x {args.repeats} repeats x {len(args.engine)} engine(s), {cores} cores)"
    )

    with Store(db) as store:
        todo = pending(plan, store)
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
                "preset": preset,
                "engines": list(args.engine),
                "scenarios": [s.id for s in scenarios],
                "configs": [c.id for c in configs],
                "repeats": args.repeats,
                "fits_per_trial": FITS_PER_TRIAL,
                "timeout_s": args.timeout,
                "levels": args.levels,
                "backends": list(args.backends),
                "oversubscribe": args.oversubscribe,
                "seed": args.seed,
                "cores": cores,
                "planned": len(plan),
                "to_run": len(todo),
            }
            run_id = store.start_run(manifest, _command(args, preset), preset)
            spec = {"timeout_s": args.timeout, "mem_interval_s": _mem_interval(args)}
            _run_plan(store, run_id, manifest, todo, spec, console)
    if not args.no_report:
        _print_report(db, console)
    return 0


def _run_plan(
    store: Store,
    run_id: str,
    manifest: dict[str, Any],
    todo: list[PlannedTrial],
    spec: dict[str, Any],
    console: Any,
) -> None:
    from rich.markup import escape

    from scenarios import load_data

    counts = {"ok": 0, "failed": 0, "skipped": 0}
    interrupted = False
    lock = _HostLock(
        _lock_path(),
        on_first_wait=lambda: console.print(
            "  waiting: another sweep is running a trial on this host (trials take turns)"
        ),
    )
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
                    progress.update(
                        bar, description=escape(f"{label}: {trial.engine} {trial.config.id} #{trial.repeat}")
                    )
                    result = _run_one(store, run_id, trial, spec, lock)
                    if result is None:
                        counts["skipped"] += 1
                    elif result.ok:
                        counts["ok"] += 1
                    else:
                        counts["failed"] += 1
                        failed_here += 1
                        console.print(
                            f"  FAILED {trial.engine} {scenario_id} {trial.config.id}"
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
        raise
    finally:
        lock.close()
        final = finish_manifest(manifest)
        final["sweep"] = {**manifest["sweep"], **counts, "interrupted": interrupted}
        with contextlib.suppress(Exception):
            store.finish_run(run_id, final)
    console.print(
        f"sweep: {counts['ok'] + counts['failed']} trials in {_duration(time.monotonic() - started)}"
        f" ({counts['failed']} failed"
        + (f", {counts['skipped']} done meanwhile by another sweep" if counts["skipped"] else "")
        + f"), run {run_id}, {store.path}",
        markup=False,
    )


def _run_one(
    store: Store, run_id: str, trial: PlannedTrial, spec_args: dict[str, Any], lock: _HostLock
) -> TrialResult | None:
    """Measure one planned trial and record it; None if another sweep already did."""
    spec = TrialSpec(
        workload="scenario",
        params={"engine": trial.engine, "scenario": trial.scenario.to_dict(), "config": trial.config.to_dict()},
        repeats=FITS_PER_TRIAL,
        **spec_args,
    )
    with lock.held():
        if store.has_trial(*trial.key):  # a concurrent sweep of the same work got there first
            return None
        result = run_trial(spec)
    store.record_trial(run_id, trial.engine, trial.scenario, trial.config, trial.repeat, result)
    return result


def store_summary(db: Path) -> str:
    """One line: how many trials and fits the store holds, how many failed."""
    with Store(db) as store:
        c = store.counts()
    return f"{c['trials']} trials ({c['failed']} failed), {c['fits']} fits, {c['runs']} runs"
