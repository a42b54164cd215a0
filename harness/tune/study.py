"""The study: run (or continue) an Optuna search over a workload's configs.

Exhaustive (``BruteForceSampler``) when every config not yet measured fits into the
trial budget, else TPE (:class:`~harness.tune.sampler.UntriedSampler`). Baselines are
enqueued first. Each trial measures its config ``repeats`` times through a
``measure(config) -> Measurement`` callable (the real one:
:class:`harness.runner.TrialRunner`; synthetic ones in the tests); the objective is
the median of every warm wall. Which configs are tied with the best is THE rule's
(:func:`harness.analysis.stats.verdict`, on the per-repeat walls kept with each
trial). Pruning, failures and stale trials as described in :mod:`harness.tune`.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from harness.analysis.stats import ALPHA, MIN_EFFECT, TIED, verdict
from harness.config import ParallelConfig
from harness.errors import UsageError
from harness.runner import Measurement
from harness.tune.sampler import UntriedSampler, tried_configs
from harness.tune.space import OBJECTIVES, PARAM, parse_objectives

__all__ = ["DEFAULT_PRUNE_RATIO", "MeasurementFailed", "TuneOutcome", "format_outcome", "tune"]

DEFAULT_PRUNE_RATIO = 1.5
MeasureFn = Callable[[ParallelConfig], Measurement]
optuna.logging.set_verbosity(optuna.logging.WARNING)


class MeasurementFailed(Exception):
    """A measurement was not ok: the trial is recorded as failed, the study goes on."""



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
    #: single objective: configs THE rule calls tied with the best (config_id -> (effect, p))
    tied: dict[str, tuple[float, float]] = field(default_factory=dict)
    min_effect: float = MIN_EFFECT



def _median(values: Sequence[float | None]) -> float:
    known = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(known) if known else float("nan")




def _open_study(
    storage: Any, study_name: str, ids: list[str], objectives: tuple[str, ...], meta: dict[str, Any]
) -> optuna.Study:
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
        raise UsageError(
            f"study {study_name!r} optimises {','.join(attrs.get('objectives', ['?']))}, not "
            f"{','.join(objectives)}; pass the same --objectives to resume it, or name a new study with --study"
        )
    if attrs.get("space") is not None and list(attrs["space"]) != list(ids):
        old = attrs["space"]
        raise UsageError(
            f"study {study_name!r} was created with another search space ({len(old)} configs, now {len(ids)}: "
            "other --levels/--backends/--oversubscribe or another machine); resume it with the same ones, "
            "or name a new study with --study"
        )
    for key in ("engine", "scenario_id"):
        if key in attrs and key in meta and attrs[key] != meta[key]:
            raise UsageError(
                f"study {study_name!r} tunes {key} {attrs[key]!r}, not {meta[key]!r}; name a new study with --study"
            )
    return study


def _fail_stale_trials(study: Any, say: Callable[[str], None]) -> None:
    """Trials left RUNNING by a process that died: mark them failed, measure them again."""
    storage = study._storage  # noqa: SLF001 - Optuna has no public call for this
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        storage.set_trial_user_attr(t._trial_id, "reason", "interrupted: the tune process ended during this trial")
        storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        if PARAM in t.params:
            study.enqueue_trial({PARAM: t.params[PARAM]}, user_attrs={"retry_of": t.number})
        say(f"trial {t.number} ({t.params.get(PARAM, '?')}) was left running by an ended process: marked failed, queued again")


def _waiting(study: Any) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def _exhausted(study: Any, ids: Sequence[str]) -> bool:
    """Every config has a finished trial and nothing is queued."""
    return set(ids) <= tried_configs(study, include_running=False) and not _waiting(study)


def open_search(
    space: Sequence[ParallelConfig],
    baselines: Sequence[ParallelConfig],
    study_name: str,
    storage: Any,
    objectives: tuple[str, ...],
    n_trials: int,
    repeats: int,
    seed: int,
    meta: dict[str, Any] | None,
    fail_stale: bool,
    say: Callable[[str], None],
    seeds: Sequence[ParallelConfig] = (),
) -> tuple[optuna.Study, dict[str, ParallelConfig], list[str]]:
    """The study opened (or created) with its sampler and baselines queued: (study, configs by id, ids).

    Shared by :func:`tune` (``study.optimize``) and the cluster's ask-and-tell loop
    (:mod:`harness.tune.ask_tell`)."""
    space = list(dict.fromkeys(space))
    if not space:
        raise UsageError("the search space is empty")
    by_id = {c.id: c for c in space}
    ids = list(by_id)
    missing = [b.id for b in baselines if b.id not in by_id]
    if missing:
        raise UsageError(f"baselines {missing} are not in the search space")
    study = _open_study(storage, study_name, ids, objectives, dict(meta or {}))
    if fail_stale:
        _fail_stale_trials(study, say)
    tried = tried_configs(study, include_running=False)
    untried = [i for i in ids if i not in tried]
    n_before = len(study.trials)
    if len(untried) <= n_trials:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning
            sampler: Any = optuna.samplers.BruteForceSampler(seed=seed + n_before)
        sampler_name = f"exhaustive ({len(untried)} configs left of {len(ids)})"
    else:
        tpe = optuna.samplers.TPESampler(seed=seed + n_before)
        sampler = UntriedSampler(tpe, ids, seed + n_before)
        sampler_name = f"TPE, seed {seed + n_before} ({len(untried)} configs left of {len(ids)})"
    study.sampler = sampler

    for c in seeds:  # Optuna's enqueue_trial: measured first, then the sampler goes on
        if c.id not in tried and c.id in by_id:
            study.enqueue_trial({PARAM: c.id}, user_attrs={"seeded_by": "whatif"}, skip_if_exists=True)
    for b in baselines:
        if b.id not in tried:
            study.enqueue_trial({PARAM: b.id}, user_attrs={"baseline": True}, skip_if_exists=True)

    say(
        f"study {study_name!r}: {len(ids)} feasible configs, {len(tried)} measured before, "
        f"sampler {sampler_name}, {repeats} repeat(s) per config, objectives {','.join(objectives)}"
    )
    return study, by_id, ids


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
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    seeds: Sequence[ParallelConfig] = (),
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
    the lock). ``seeds`` (``--seed-from-whatif``: the predicted best configs) are
    enqueued before the baselines.
    """

    objectives = parse_objectives(objectives)
    if n_trials < 1 or repeats < 1:
        raise UsageError(f"n_trials={n_trials} and repeats={repeats} must be >= 1")
    say = log or (lambda text: None)
    multi = len(objectives) > 1
    study, by_id, ids = open_search(space, baselines, study_name, storage, objectives, n_trials, repeats, seed,
                                    meta, fail_stale, say, seeds)
    if _exhausted(study, ids):
        say("every config of the space is measured already; nothing to do")
        return _outcome(study, study_name, objectives, 0, exhausted=True, alpha=alpha, min_effect=min_effect)

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
        per_repeat: list[list[float]] = []  # the trial structure THE rule needs
        cpu: list[float | None] = []
        mem: list[float | None] = []
        rmse: list[float | None] = []
        for r in range(repeats):
            m = measure(config)
            walls += m.walls
            per_repeat.append(list(m.walls))
            cpu += m.cpu
            mem += m.mem
            rmse += m.rmse
            trial.set_user_attr("walls_s", walls)
            trial.set_user_attr("trial_walls_s", per_repeat)
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
    return _outcome(study, study_name, objectives, state["new"], exhausted=exhausted, alpha=alpha, min_effect=min_effect)


def _progress_line(study: Any, t: Any, k: int, n: int, objectives: tuple[str, ...]) -> str:
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


def _ties(study: Any, best_number: int, alpha: float, min_effect: float) -> dict[str, tuple[float, float]]:
    """Completed configs THE rule calls tied with the best trial's (on their per-repeat walls)."""
    def per_repeat(t: Any) -> list[list[float]]:
        return t.user_attrs.get("trial_walls_s") or [[w] for w in t.user_attrs.get("walls_s", [])]

    best = study.trials[best_number]
    tied = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.number == best_number or t.params.get(PARAM) == best.params.get(PARAM):
            continue
        p, effect, outcome = verdict(per_repeat(t), per_repeat(best), alpha, min_effect)
        if outcome == TIED:
            tied[t.params[PARAM]] = (effect, p)
    return tied


def _outcome(study: Any, name: str, objectives: tuple[str, ...], new: int, exhausted: bool,
             alpha: float = ALPHA, min_effect: float = MIN_EFFECT) -> TuneOutcome:
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
    tied = _ties(study, best[0][2], alpha, min_effect) if best and len(objectives) == 1 else {}
    return TuneOutcome(name, objectives, new, sum(counts.values()), counts, best, exhausted, study, waiting,
                       tied, min_effect)


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
        repeats = len(outcome.study.trials[number].user_attrs.get("trial_walls_s") or walls)
        lines.append(f"best: {config_id}  median warm wall {values[0]:.4g} s over {repeats} repeat(s) (trial {number})")
        if outcome.tied:
            ties = ", ".join(f"{cid} (x{effect:.3f})" for cid, (effect, _) in sorted(outcome.tied.items(), key=lambda kv: kv[1][0]))
            lines.append(f"tied with the best (THE rule, min effect {outcome.min_effect:.0%}): {ties}")
        elif repeats < 2:
            lines.append("tied with the best: cannot tell with 1 repeat per config (too few samples: THE rule needs 2 trials a side)")
        else:
            lines.append("tied with the best: none (THE rule)")
    else:
        names = ", ".join(OBJECTIVES[o] for o in outcome.objectives)
        lines.append(f"Pareto front ({names}), {len(outcome.best)} config(s):")
        for config_id, values, number in outcome.best:
            lines.append(f"  {config_id:<22} " + "  ".join(f"{v:.4g}" for v in values) + f"  (trial {number})")
    return "\n".join(lines)
