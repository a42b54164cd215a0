"""``python -m harness tune``: an Optuna study per workload searching the fastest parallel config.

One study per workload (engine + scenario), named ``tune:{engine}:{scenario_id}``
(``...:wall,cpu`` for a multi-objective study), stored by default in the SAME SQLite
file as the sweep results (``sqlite:///results/harness.db``): Optuna's RDB storage
creates its own tables (``studies``, ``trials``, ...) next to the store's, which are
all prefixed ``harness_``. ``--storage`` takes any Optuna storage URL instead. Running
``tune`` again with the same study name continues the study (its earlier trials are
kept and inform the sampler).

Search space
    The feasible configs only: :func:`search_space` lists them up front from
    :func:`harness.config.config_grid` (plus the baselines), and each trial suggests
    one categorical parameter ``config`` over their ids. An infeasible combination of
    the levels can therefore never be sampled. The space is saved with the study; a
    study cannot be resumed with another space (other levels, backends, cores).

Sampler
    Exhaustive (``BruteForceSampler``) when every config not yet measured in the study
    fits into the trial budget, else TPE (seeded; a TPE proposal of a config already
    measured in the study is replaced by a random unmeasured one, so that no budget is
    spent twice on one config -- ``recommend`` re-measures the leaders later).
    Baselines are enqueued first: for metalearners_core its ``auto`` split (what a user
    gets without tuning), then serial (``m1-f1-s1``), all cores at the model level
    (``m{cores}-f1-s1``) and the library default.

Objective
    Each repeat is one trial of the runner (:func:`harness.trial.run_trial`: a fresh
    child process, fit 0 cold, fit 1 warm); the objective is the median over the
    repeats of the warm wall (``--objectives wall``), or that and the median CPU
    seconds of the process tree (``wall,cpu``) or the median peak memory
    (``wall,memory``) as a multi-objective study whose Pareto front is printed. Raw
    samples, CPU, memory and CATE RMSE are kept as trial user attributes, and every
    measurement is recorded in the results store as well (a run with command
    ``tune``), so ``report`` and ``recommend`` see it.

Pruning
    Single objective only: after the first repeat, a config whose wall is more than
    ``prune_ratio`` (1.5) times the best median so far is pruned (its remaining
    repeats are skipped). A multi-objective study is never pruned: a slow config may
    still be on the Pareto front.

Failures
    A failed measurement (timeout, crash, out of memory) makes a FAIL trial with the
    reason as user attribute ``reason``; the study goes on.

One machine, one measurement at a time
    ``tune`` holds an exclusive ``fcntl.flock`` on ``<db>.lock`` while it measures,
    and refuses to start while another tune/sweep holds it; ``--allow-concurrent``
    goes ahead anyway, but the timings of trials that ran concurrently on one host are
    corrupted (they compete for the cores).

Look at a study in optuna-dashboard::

    pip install optuna-dashboard && optuna-dashboard sqlite:///results/harness.db

The search logic (:func:`tune`) takes a ``measure(config) -> Measurement`` callable
(one repeat), so it runs on synthetic objectives in the tests;
:class:`TrialMeasure` is the real one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import random
import statistics
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config import BACKENDS, ParallelConfig, config_grid
from harness.engines import supports

if TYPE_CHECKING:  # pragma: no cover
    import optuna

    from harness.store import Store
    from harness.trial import TrialResult
    from scenarios import Scenario

__all__ = [
    "DASHBOARD_HINT",
    "OBJECTIVES",
    "Measurement",
    "MeasurementFailed",
    "TrialMeasure",
    "TuneOutcome",
    "baseline_configs",
    "db_lock",
    "default_study_name",
    "format_outcome",
    "is_feasible",
    "measurement_from_result",
    "host_trial_lock",
    "parse_objectives",
    "run_tune",
    "search_space",
    "sqlite_url",
    "tune",
]

DASHBOARD_HINT = (
    "open a study in optuna-dashboard: "
    "pip install optuna-dashboard && optuna-dashboard sqlite:///results/harness.db"
)
#: objective name -> (metric name shown by Optuna, what it is)
OBJECTIVES: dict[str, str] = {
    "wall": "wall_s",  # median warm wall-clock seconds of the fit
    "cpu": "cpu_s",  # median CPU seconds of the whole process tree over the fit
    "memory": "peak_mem_mb",  # median peak memory of the process tree (MiB)
}
PARAM = "config"  # the one categorical parameter of every study
DEFAULT_PRUNE_RATIO = 1.5


# -- measurements ----------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """One repeat of one config: its warm fits' figures (usually one fit each).

    ``walls``: warm wall-clock seconds; ``cpu``: CPU seconds of the process tree;
    ``mem``: peak memory in MiB (None where the fit was too short to sample);
    ``rmse``: CATE RMSE. ``ok`` False with a ``reason`` for a failed measurement.
    """

    walls: Sequence[float] = ()
    cpu: Sequence[float] = ()
    mem: Sequence[float | None] = ()
    rmse: Sequence[float | None] = ()
    ok: bool = True
    reason: str | None = None

    def __post_init__(self) -> None:
        for name in ("walls", "cpu", "mem", "rmse"):
            object.__setattr__(self, name, [None if v is None else float(v) for v in getattr(self, name)])
        if self.ok and not self.walls:
            object.__setattr__(self, "ok", False)
            object.__setattr__(self, "reason", self.reason or "no warm fit measured")


MeasureFn = Callable[[ParallelConfig], Measurement]


class MeasurementFailed(Exception):
    """A measurement was not ok: the trial is recorded as failed, the study goes on."""


def measurement_from_result(result: TrialResult) -> Measurement:
    """The warm fits of one trial runner result (the cold warm-up fit left out)."""
    warm = [s for s in result.samples if s.kind == "warm"]
    return Measurement(
        walls=[s.wall_s for s in warm],
        cpu=[s.cpu_s for s in warm],
        mem=[s.peak_mem_mb for s in warm],
        rmse=[s.extras.get("cate_rmse") for s in warm],
        ok=result.ok and bool(warm),
        reason=result.reason if not result.ok else (None if warm else "no warm fit measured"),
    )


class TrialMeasure:
    """The real ``measure``: one :func:`run_trial` (cold + ``fits - 1`` warm fits) per call.

    Every result, ok or failed, is recorded in ``store`` under ``run_id`` (when
    given), with the next free repeat number of its (engine, scenario, config).
    With ``host_lock`` each trial holds the host-wide trial lock that ``sweep``
    takes too (:func:`host_trial_lock`), so their trials take turns.
    """

    def __init__(
        self,
        engine: str,
        scenario: Scenario,
        timeout_s: float = 600.0,
        store: Store | None = None,
        run_id: str | None = None,
        fits: int = 2,
        host_lock: bool = True,
    ) -> None:
        if fits < 2:
            raise ValueError(f"fits={fits} is not allowed; a trial needs a cold and at least one warm fit (>= 2)")
        self.engine, self.scenario, self.timeout_s = engine, scenario, timeout_s
        self.store, self.run_id, self.fits, self.host_lock = store, run_id, fits, host_lock
        self._next_repeat: dict[str, int] = {}
        if store is not None:
            for engine_, scenario_id, config_id, repeat in store.done():
                if engine_ == engine and scenario_id == scenario.id:
                    self._next_repeat[config_id] = max(self._next_repeat.get(config_id, 0), repeat + 1)
        self.results: list[TrialResult] = []

    def run(self, config: ParallelConfig) -> TrialResult:
        from harness.trial import TrialSpec, run_trial

        spec = TrialSpec(
            "scenario",
            {"engine": self.engine, "scenario": self.scenario.to_dict(), "config": config.to_dict()},
            repeats=self.fits,
            timeout_s=self.timeout_s,
        )
        with host_trial_lock(self.host_lock):
            result = run_trial(spec)
        self.results.append(result)
        if self.store is not None and self.run_id is not None:
            repeat = self._next_repeat.get(config.id, 0)
            self.store.record_trial(self.run_id, self.engine, self.scenario, config, repeat, result)
            self._next_repeat[config.id] = repeat + 1
        return result

    def __call__(self, config: ParallelConfig) -> Measurement:
        return measurement_from_result(self.run(config))


# -- the search space ------------------------------------------------------------------


def is_feasible(config: ParallelConfig, cores: int, max_oversubscription: float = 1.0) -> bool:
    """Asks for at most ``max_oversubscription x cores`` threads at once."""
    return config.total_threads(cores) <= max_oversubscription * cores


def baseline_configs(cores: int, backends: Sequence[str] = BACKENDS, engine: str = "core") -> list[ParallelConfig]:
    """The library's own ``auto`` split where the engine has one, then serial, all cores
    at the model level and the library default (deduplicated, in that order).

    ``auto`` comes first: it is what a user gets without tuning, the strongest prior,
    and a study that never measured it could not say whether tuning beats it.
    """
    backend = backends[0] if backends else "loky"
    configs = [ParallelConfig.auto()] if supports(engine, ParallelConfig.auto()) else []
    configs += [ParallelConfig(1, 1, 1, backend), ParallelConfig(cores, 1, 1, backend), ParallelConfig()]
    return list(dict.fromkeys(configs))


def search_space(
    cores: int,
    levels: list[int] | None = None,
    backends: Sequence[str] = BACKENDS,
    max_oversubscription: float = 1.0,
) -> list[ParallelConfig]:
    """The feasible configs: :func:`config_grid` plus the baselines where it lacks them."""
    grid = config_grid(cores, levels, tuple(backends), max_oversubscription, include_default=True)
    space = list(dict.fromkeys([*grid, *baseline_configs(cores, backends)]))
    bad = [c.id for c in space if not is_feasible(c, cores, max(max_oversubscription, 1.0))]
    if bad:  # pragma: no cover - config_grid already filters; a guard against drift
        raise ValueError(f"infeasible configs in the search space: {bad}")
    return space


def parse_objectives(text: str | Sequence[str]) -> tuple[str, ...]:
    """``wall``, ``wall,cpu`` or ``wall,memory``."""
    names = tuple(n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip())
    allowed = ("wall",), ("wall", "cpu"), ("wall", "memory")
    if names not in allowed:
        raise ValueError(
            f"objectives {','.join(names) or text!r} are not allowed; use one of "
            + ", ".join(",".join(a) for a in allowed)
        )
    return names


def default_study_name(engine: str, scenario_id: str, objectives: Sequence[str] = ("wall",)) -> str:
    name = f"tune:{engine}:{scenario_id}"
    return name if tuple(objectives) == ("wall",) else f"{name}:{','.join(objectives)}"


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of a SQLite file (absolute, so that it does not depend on the cwd)."""
    return "sqlite:///" + str(Path(path).resolve())


# -- the lock: one measuring process per machine ----------------------------------------


@contextlib.contextmanager
def db_lock(db: str | Path, allow_concurrent: bool = False, command: str = "tune", warn: Callable[[str], None] | None = None) -> Iterator[bool]:
    """Hold an exclusive ``fcntl.flock`` on ``<db>.lock`` while measuring.

    Raises ``RuntimeError`` when another process holds it, unless ``allow_concurrent``:
    then it warns and goes on without the lock. Yields whether the lock is held.
    """
    warn = warn or (lambda text: print(f"warning: {text}", file=sys.stderr))
    path = Path(str(db) + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    held = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = True
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = _read_holder(path)
            if not allow_concurrent:
                raise RuntimeError(
                    f"another measuring process ({holder}) holds {path}: one tune/sweep at a time per "
                    "machine, or their timings corrupt each other; wait for it, or pass "
                    "--allow-concurrent to measure anyway"
                ) from None
            warn(
                f"--allow-concurrent: another measuring process ({holder}) holds {path}; the timings of "
                "trials that run concurrently on one host are corrupted (they compete for the cores)"
            )
        if held:
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} ({command})\n".encode())
        yield held
    finally:
        if held:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


#: The host-wide lock file of one trial at a time (the protocol of ``harness sweep``).
HOST_LOCK_ENV = "HARNESS_LOCK_FILE"


def host_lock_path() -> Path:
    return Path(os.environ.get(HOST_LOCK_ENV) or Path(tempfile.gettempdir()) / "metalearners-harness-trial.lock")


@contextlib.contextmanager
def host_trial_lock(enabled: bool = True) -> Iterator[None]:
    """Hold the host-wide trial lock around one trial (waits for another process's trial)."""
    if not enabled:
        yield
        return
    try:
        path = host_lock_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield  # no shared lock possible here; this process still runs one trial at a time
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown pid"
    except OSError:
        return "unknown pid"


# -- the study ---------------------------------------------------------------------------


@dataclass
class TuneOutcome:
    """What one :func:`tune` call did and found.

    ``best``: for a single objective the best config (id, median wall); for several,
    the Pareto front (one entry per config). ``new_trials``: the trials this call ran;
    ``n_trials``: the study's finished trials.
    """

    study_name: str
    objectives: tuple[str, ...]
    new_trials: int
    n_trials: int
    counts: dict[str, int]
    best: list[tuple[str, list[float], int]] = field(default_factory=list)  # (config_id, values, trial number)
    exhausted: bool = False
    study: Any = None
    waiting: int = 0  # enqueued trials not run yet (the next run of the study starts with them)


def _import_optuna() -> Any:
    try:
        import optuna
    except ImportError:  # pragma: no cover - optuna is a dependency of the tune command
        raise ValueError("harness tune needs optuna: pip install optuna") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _median(values: Sequence[float | None]) -> float:
    known = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(known) if known else float("nan")


def _tried(study: optuna.Study, include_running: bool = True) -> set[str]:
    from optuna.trial import TrialState

    states = [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]
    if include_running:
        states.append(TrialState.RUNNING)
    return {t.params[PARAM] for t in study.get_trials(deepcopy=False, states=tuple(states)) if PARAM in t.params}


def _untried_sampler(base: Any, ids: Sequence[str], seed: int | None) -> Any:
    """``base`` (TPE), with a proposal of an already-measured config replaced by a
    random unmeasured one, so that every trial measures a new config."""
    optuna = _import_optuna()

    class UntriedSampler(optuna.samplers.BaseSampler):
        def __init__(self) -> None:
            self.base, self.rng = base, random.Random(seed)

        def infer_relative_search_space(self, study, trial):  # type: ignore[no-untyped-def]
            return self.base.infer_relative_search_space(study, trial)

        def _untried(self, study, value):  # type: ignore[no-untyped-def]
            tried = _tried(study)
            if value in tried:
                untried = [i for i in ids if i not in tried]
                if untried:
                    return self.rng.choice(untried)
            return value

        def sample_relative(self, study, trial, search_space):  # type: ignore[no-untyped-def]
            params = dict(self.base.sample_relative(study, trial, search_space))
            if PARAM in params:  # a multivariate TPE samples the parameter here
                params[PARAM] = self._untried(study, params[PARAM])
            return params

        def sample_independent(self, study, trial, param_name, param_distribution):  # type: ignore[no-untyped-def]
            value = self.base.sample_independent(study, trial, param_name, param_distribution)
            return self._untried(study, value) if param_name == PARAM else value

        def before_trial(self, study, trial):  # type: ignore[no-untyped-def]
            self.base.before_trial(study, trial)

        def after_trial(self, study, trial, state, values):  # type: ignore[no-untyped-def]
            self.base.after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:
            self.base.reseed_rng()

    return UntriedSampler()


def _open_study(
    storage: Any, study_name: str, ids: list[str], objectives: tuple[str, ...], meta: dict[str, Any]
) -> optuna.Study:
    optuna = _import_optuna()
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        load_if_exists=True,
        directions=["minimize"] * len(objectives),
    )
    attrs = study.user_attrs
    if "space" not in attrs and not study.trials:  # a new study (or an empty one)
        study.set_user_attr("space", ids)
        study.set_user_attr("objectives", list(objectives))
        for key, value in meta.items():
            study.set_user_attr(key, value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning
            with contextlib.suppress(Exception):
                study.set_metric_names([OBJECTIVES[o] for o in objectives])
        return study
    if attrs.get("objectives", ["wall"]) != list(objectives) or len(study.directions) != len(objectives):
        raise ValueError(
            f"study {study_name!r} optimises {','.join(attrs.get('objectives', ['?']))}, not "
            f"{','.join(objectives)}; pass the same --objectives to resume it, or name a new study with --study"
        )
    if attrs.get("space") is not None and list(attrs["space"]) != list(ids):
        old = attrs["space"]
        raise ValueError(
            f"study {study_name!r} was created with another search space ({len(old)} configs, now {len(ids)}: "
            "other --levels/--backends/--oversubscribe or another machine); resume it with the same ones, "
            "or name a new study with --study"
        )
    for key in ("engine", "scenario_id"):
        if key in attrs and key in meta and attrs[key] != meta[key]:
            raise ValueError(
                f"study {study_name!r} tunes {key} {attrs[key]!r}, not {meta[key]!r}; name a new study with --study"
            )
    return study


def _fail_stale_trials(study: Any, say: Callable[[str], None]) -> None:
    """Trials left RUNNING by a process that died: mark them failed, measure them again."""
    from optuna.trial import TrialState

    storage = study._storage  # noqa: SLF001 - Optuna has no public call for this
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(t._trial_id, "reason", "interrupted: the tune process ended during this trial")
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        if PARAM in t.params:
            study.enqueue_trial({PARAM: t.params[PARAM]}, user_attrs={"retry_of": t.number})
        say(f"trial {t.number} ({t.params.get(PARAM, '?')}) was left running by an ended process: marked failed, queued again")


def _waiting(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def _exhausted(study: Any, ids: Sequence[str]) -> bool:
    """Every config has a finished trial and nothing is queued."""
    return set(ids) <= _tried(study, include_running=False) and not _waiting(study)


def tune(
    measure: MeasureFn,
    space: Sequence[ParallelConfig],
    *,
    study_name: str,
    storage: Any = None,
    n_trials: int = 20,
    repeats: int = 3,
    objectives: Sequence[str] = ("wall",),
    baselines: Sequence[ParallelConfig] = (),
    prune_ratio: float | None = DEFAULT_PRUNE_RATIO,
    seed: int = 0,
    time_budget_s: float | None = None,
    meta: dict[str, Any] | None = None,
    fail_stale: bool = False,
    log: Callable[[str], None] | None = print,
) -> TuneOutcome:
    """Run (or continue) the study ``study_name``: up to ``n_trials`` new configs.

    ``measure(config)`` measures ONE repeat; each trial calls it up to ``repeats``
    times and its objective is the median. ``storage`` is an Optuna storage (URL or
    object; None: in memory). ``baselines`` are enqueued first (those already in the
    study are not). ``prune_ratio``: after the first repeat, prune a config whose wall
    exceeds ``prune_ratio`` x the best median so far (single objective only; None or
    inf: never). ``time_budget_s`` bounds the whole call (no new trial starts after it).
    ``fail_stale``: mark trials left RUNNING by a process that died as failed (only
    safe while no other process works on the study: the CLI passes it when it holds
    the lock).
    """
    optuna = _import_optuna()
    from optuna.trial import TrialState

    objectives = parse_objectives(objectives)
    if n_trials < 1 or repeats < 1:
        raise ValueError(f"n_trials={n_trials} and repeats={repeats} must be >= 1")
    space = list(dict.fromkeys(space))
    if not space:
        raise ValueError("the search space is empty")
    by_id = {c.id: c for c in space}
    ids = list(by_id)
    missing = [b.id for b in baselines if b.id not in by_id]
    if missing:
        raise ValueError(f"baselines {missing} are not in the search space")
    say = log or (lambda text: None)
    multi = len(objectives) > 1

    study = _open_study(storage, study_name, ids, objectives, dict(meta or {}))
    if fail_stale:
        _fail_stale_trials(study, say)
    tried = _tried(study, include_running=False)
    untried = [i for i in ids if i not in tried]
    n_before = len(study.trials)
    if len(untried) <= n_trials:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning
            sampler: Any = optuna.samplers.BruteForceSampler(seed=seed + n_before)
        sampler_name = f"exhaustive ({len(untried)} configs left of {len(ids)})"
    else:
        tpe = optuna.samplers.TPESampler(seed=seed + n_before)
        sampler = _untried_sampler(tpe, ids, seed + n_before)
        sampler_name = f"TPE, seed {seed + n_before} ({len(untried)} configs left of {len(ids)})"
    study.sampler = sampler

    for b in baselines:
        if b.id not in tried:
            study.enqueue_trial({PARAM: b.id}, user_attrs={"baseline": True}, skip_if_exists=True)

    say(
        f"study {study_name!r}: {len(ids)} feasible configs, {len(tried)} measured before, "
        f"sampler {sampler_name}, {repeats} repeat(s) per config, objectives {','.join(objectives)}"
    )
    if _exhausted(study, ids):
        say("every config of the space is measured already; nothing to do")
        return _outcome(study, study_name, objectives, 0, exhausted=True)

    prune = prune_ratio is not None and math.isfinite(prune_ratio) and not multi and repeats > 1
    state = {"new": 0}

    def best_wall() -> float | None:
        done = [t.values[0] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
        return min(done) if done else None

    def objective(trial: optuna.Trial) -> float | tuple[float, ...]:
        config_id = trial.suggest_categorical(PARAM, ids)
        config = by_id[config_id]
        trial.set_user_attr("config", config.to_dict())
        best = best_wall() if prune else None
        walls: list[float] = []
        cpu: list[float | None] = []
        mem: list[float | None] = []
        rmse: list[float | None] = []
        for r in range(repeats):
            m = measure(config)
            walls += m.walls
            cpu += m.cpu
            mem += m.mem
            rmse += m.rmse
            trial.set_user_attr("walls_s", walls)
            trial.set_user_attr("cpu_s", cpu)
            trial.set_user_attr("peak_mem_mb", mem)
            trial.set_user_attr("cate_rmse", rmse)
            trial.set_user_attr("repeats", r + 1)
            if not m.ok:
                trial.set_user_attr("reason", m.reason)
                raise MeasurementFailed(f"{config_id}: {m.reason}")
            if not multi:
                trial.report(_median(walls), step=r)
            if prune and r == 0 and best is not None and _median(walls) > prune_ratio * best:
                note = f"after 1 repeat: {_median(walls):.4g} s > {prune_ratio:g} x best {best:.4g} s"
                trial.set_user_attr("pruned", note)
                raise optuna.TrialPruned(note)
        values = []
        for name in objectives:
            source = {"wall": walls, "cpu": cpu, "memory": mem}[name]
            value = _median(source)
            if math.isnan(value):
                trial.set_user_attr("reason", f"no {OBJECTIVES[name]} measured")
                raise MeasurementFailed(f"{config_id}: no {OBJECTIVES[name]} measured")
            values.append(value)
        return values[0] if not multi else tuple(values)

    def progress(study: optuna.Study, frozen: optuna.trial.FrozenTrial) -> None:
        state["new"] += 1
        say(_progress_line(study, frozen, state["new"], n_trials, objectives))
        if _exhausted(study, ids):
            study.stop()  # the space is exhausted (the TPE path: BruteForce stops itself)

    study.optimize(
        objective,
        n_trials=n_trials,
        timeout=time_budget_s,
        catch=(MeasurementFailed,),
        callbacks=[progress],
    )
    exhausted = _exhausted(study, ids)
    return _outcome(study, study_name, objectives, state["new"], exhausted=exhausted)


def _progress_line(study: Any, t: Any, k: int, n: int, objectives: tuple[str, ...]) -> str:
    from optuna.trial import TrialState

    config_id = t.params.get(PARAM, "?")
    walls = t.user_attrs.get("walls_s") or []
    head = f"[{k:>3}/{n}] trial {t.number:>3}  {config_id:<22}"
    if t.state == TrialState.COMPLETE:
        figures = "  ".join(f"{OBJECTIVES[o]} {v:.4g}" for o, v in zip(objectives, t.values))
        raw = ", ".join(f"{w:.3f}" for w in walls)
        text = f"{head} {figures}  (walls {raw})"
        if len(objectives) == 1:
            best = study.best_trial
            text += f"  best {best.params[PARAM]} {best.value:.4g} s"
        return text
    if t.state == TrialState.PRUNED:
        return f"{head} pruned {t.user_attrs.get('pruned', '')}"
    return f"{head} FAILED: {t.user_attrs.get('reason', 'error')}"


def _outcome(study: Any, name: str, objectives: tuple[str, ...], new: int, exhausted: bool) -> TuneOutcome:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    best: list[tuple[str, list[float], int]] = []
    if counts["complete"]:
        if len(objectives) == 1:
            b = study.best_trial
            best = [(b.params[PARAM], list(b.values), b.number)]
        else:
            seen: set[str] = set()
            for b in sorted(study.best_trials, key=lambda t: tuple(t.values)):
                if b.params[PARAM] not in seen:
                    seen.add(b.params[PARAM])
                    best.append((b.params[PARAM], list(b.values), b.number))
    waiting = sum(t.state == TrialState.WAITING for t in trials)  # enqueued baselines past the budget
    return TuneOutcome(name, objectives, new, sum(counts.values()), counts, best, exhausted, study, waiting)


def format_outcome(outcome: TuneOutcome) -> str:
    """The closing lines: the best config with its median, or the Pareto front."""
    c = outcome.counts
    lines = [
        f"study {outcome.study_name!r}: {outcome.n_trials} trials ({c['complete']} complete, "
        f"{c['pruned']} pruned, {c['fail']} failed; {outcome.new_trials} new)"
        + ("; every config measured" if outcome.exhausted else "")
        + (f"; {outcome.waiting} enqueued baseline(s) left for the next run" if outcome.waiting else "")
    ]
    if not outcome.best:
        lines.append("no config completed yet")
    elif len(outcome.objectives) == 1:
        config_id, values, number = outcome.best[0]
        walls = outcome.study.trials[number].user_attrs.get("walls_s", [])
        lines.append(f"best: {config_id}  median warm wall {values[0]:.4g} s over {len(walls)} repeat(s) (trial {number})")
    else:
        names = ", ".join(OBJECTIVES[o] for o in outcome.objectives)
        lines.append(f"Pareto front ({names}), {len(outcome.best)} config(s):")
        for config_id, values, number in outcome.best:
            lines.append(f"  {config_id:<22} " + "  ".join(f"{v:.4g}" for v in values) + f"  (trial {number})")
    return "\n".join(lines)


# -- the command -------------------------------------------------------------------------


def run_tune(
    scenarios: Sequence[Scenario],
    *,
    db: str | Path,
    engine: str = "core",
    storage: str | None = None,
    study: str | None = None,
    n_trials: int = 20,
    repeats: int = 3,
    timeout_s: float = 600.0,
    time_budget_s: float | None = None,
    objectives: Sequence[str] = ("wall",),
    seed: int = 0,
    levels: list[int] | None = None,
    backends: Sequence[str] = BACKENDS,
    oversubscribe: float = 1.0,
    prune_ratio: float | None = DEFAULT_PRUNE_RATIO,
    allow_concurrent: bool = False,
    preset: str | None = None,
    log: Callable[[str], None] = print,
) -> int:
    """``python -m harness tune``: one study per scenario, measured for real, recorded in ``db``.

    Returns 0, or 1 when a study ends without any completed trial.
    """
    from harness.measure import available_cores, collect_manifest, finish_manifest
    from harness.store import Store

    _import_optuna()
    objectives = parse_objectives(objectives)
    if study is not None and len(scenarios) != 1:
        raise ValueError("--study names one study: use it with --scenario, not with a preset of several scenarios")
    cores = available_cores()
    space = [c for c in search_space(cores, levels, backends, oversubscribe) if supports(engine, c)]
    baselines = baseline_configs(cores, backends, engine)
    url = storage or sqlite_url(db)
    status = 0
    with db_lock(db, allow_concurrent, "tune") as held, Store(db) as store:
        manifest = collect_manifest()
        run_id = store.start_run(manifest, "tune", preset)
        try:
            for scenario in scenarios:
                name = study or default_study_name(engine, scenario.id, objectives)
                measure = TrialMeasure(engine, scenario, timeout_s, store, run_id, host_lock=not allow_concurrent)
                log(f"{engine} | {scenario.id} | {cores} cores")
                outcome = tune(
                    measure,
                    space,
                    study_name=name,
                    storage=url,
                    n_trials=n_trials,
                    repeats=repeats,
                    objectives=objectives,
                    baselines=baselines,
                    prune_ratio=prune_ratio,
                    seed=seed,
                    time_budget_s=time_budget_s,
                    meta={
                        "engine": engine,
                        "scenario_id": scenario.id,
                        "scenario": scenario.to_dict(),
                        "cores": cores,
                        "created_by": "python -m harness tune",
                    },
                    fail_stale=held,
                    log=log,
                )
                log(format_outcome(outcome))
                if not outcome.best:
                    status = 1
                elif len(outcome.objectives) == 1:
                    log(f"confirm it: python -m harness recommend --scenario {scenario.id}"
                        + ("" if engine == "core" else f" --engine {engine}"))
                log("")
        finally:
            store.finish_run(run_id, finish_manifest(manifest))
    shown = storage or f"sqlite:///{db}"
    log(f"studies stored in {shown}; open them with: pip install optuna-dashboard && optuna-dashboard {shown}")
    return status
