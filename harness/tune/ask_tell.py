"""tune on a cluster: Optuna ask-and-tell in the supervisor, one trial in flight per host.

The study is opened exactly as :func:`harness.tune.study.tune` opens it (same space,
sampler, baselines: :func:`~harness.tune.study.open_search`), but instead of
``study.optimize`` this loop asks for as many Optuna trials as the cluster has hosts,
sends each trial's repeats one after another to whichever host is free
(:class:`harness.cluster.ClusterPool`), records every measurement in the local store,
and tells the study each config's objective, prune or failure -- with the same
user attributes as the one-machine path, so ``recommend`` and the closing lines read
it alike.

Several tune processes (on several machines) may share one study through an RDB
storage (``--storage postgresql://...``). A config already running or finished in
the study -- asked by another process at the same moment -- is never measured
again: that ask is told FAIL with the reason ``duplicate`` and not counted, and so are
the duplicate baselines two processes queued at once that nobody asked for.
A repeat whose worker was lost is recorded as failed and measured once more.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from harness.config import ParallelConfig
from harness.runner import TrialRunner, measurement_from_result
from harness.tune.space import OBJECTIVES, PARAM, parse_objectives
from harness.tune.study import (
    DEFAULT_PRUNE_RATIO, TuneOutcome, _exhausted, _median, _outcome, _progress_line, open_search,
)

__all__ = ["tune_on_cluster"]

DUPLICATE = "duplicate: another process of the shared study asked for this config at the same time"


class _AskTellSampler(optuna.samplers.BaseSampler):
    """``base`` as it is, except that its ``study.stop()`` (BruteForce, when the space is
    exhausted) is ignored: outside ``optimize`` it raises; this loop checks exhaustion itself."""

    def __init__(self, base: optuna.samplers.BaseSampler) -> None:
        self.base = base

    def infer_relative_search_space(self, study, trial):  # type: ignore[no-untyped-def]
        return self.base.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):  # type: ignore[no-untyped-def]
        return self.base.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):  # type: ignore[no-untyped-def]
        return self.base.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial):  # type: ignore[no-untyped-def]
        self.base.before_trial(study, trial)

    def after_trial(self, study, trial, state, values):  # type: ignore[no-untyped-def]
        try:
            self.base.after_trial(study, trial, state, values)
        except RuntimeError as e:
            if "Study.stop" not in str(e):
                raise


@dataclass
class _Active:
    """One Optuna trial in flight: its config, the repeats measured so far, the current future."""

    trial: optuna.Trial
    config: ParallelConfig
    best: float | None
    future: Any = None
    submitted_at: float = 0.0
    retried: bool = False
    walls: list[float] = field(default_factory=list)
    per_repeat: list[list[float]] = field(default_factory=list)
    cpu: list[float | None] = field(default_factory=list)
    mem: list[float | None] = field(default_factory=list)
    rmse: list[float | None] = field(default_factory=list)


def _taken_elsewhere(study: optuna.Study, number: int, config_id: str) -> bool:
    """Whether another trial of the study (another process's too) runs or ran this config."""
    states = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
    return any(t.number != number and t.params.get(PARAM) == config_id
               for t in study.get_trials(deepcopy=False, states=states))


def _drop_queued_duplicates(study: optuna.Study, storage: Any) -> None:
    """Queued (WAITING) trials of configs that run or ran elsewhere, claimed and told FAIL as
    duplicates: two processes opening the shared study at the same moment both queue its
    baselines, and the copies nobody asked for would stay WAITING in the study for good."""
    backend = optuna.storages.get_storage(storage)
    for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        config_id = t.system_attrs.get("fixed_params", {}).get(PARAM)
        if not _taken_elsewhere(study, t.number, config_id):
            continue
        # Claimed by Optuna's own atomic WAITING -> RUNNING step: False (or, finished, an error)
        # where another process asked for it or dropped it first.
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            if backend.set_trial_state_values(t._trial_id, TrialState.RUNNING):
                backend.set_trial_user_attr(t._trial_id, "reason", DUPLICATE)
                study.tell(t.number, state=TrialState.FAIL)


def tune_on_cluster(
    pool: Any,
    runner: TrialRunner,
    space: Sequence[ParallelConfig],
    *,
    study_name: str,
    storage: Any,
    n_trials: int = 20,
    repeats: int = 3,
    objectives: Sequence[str] = ("wall",),
    baselines: Sequence[ParallelConfig] = (),
    prune_ratio: float | None = DEFAULT_PRUNE_RATIO,
    seed: int = 0,
    time_budget_s: float | None = None,
    meta: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = print,
    seeds: Sequence[ParallelConfig] = (),
    **rule: Any,
) -> TuneOutcome:
    """Up to ``n_trials`` new configs of the study, measured on ``pool``'s hosts and recorded by ``runner``
    (``seeds``: the what-if's predicted best configs, queued before the baselines)."""
    objectives = parse_objectives(objectives)
    say = log or (lambda text: None)
    multi = len(objectives) > 1
    study, by_id, ids = open_search(space, baselines, study_name, storage, objectives, n_trials, repeats, seed,
                                    meta, False, say, seeds)  # shared storage: never fail another process's trials
    study.sampler = _AskTellSampler(study.sampler)
    if _exhausted(study, ids):
        say("every config of the space is measured already; nothing to do")
        return _outcome(study, study_name, objectives, 0, exhausted=True, **rule)
    prune = prune_ratio is not None and math.isfinite(prune_ratio) and not multi and repeats > 1
    deadline = None if time_budget_s is None else time.monotonic() + time_budget_s
    active: dict[int, _Active] = {}
    asked = told = 0
    full = False  # every config left runs elsewhere: ask no more

    def best_wall() -> float | None:
        done = [t.values[0] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.values]
        return min(done) if done else None

    def submit(a: _Active, avoid: str | None = None) -> None:
        a.submitted_at = time.time()
        a.future = pool.submit(runner.spec(a.config), runner.scenario, avoid_host=avoid)

    def finish(a: _Active, state: TrialState, values: Any = None) -> None:
        nonlocal told
        frozen = study.tell(a.trial, values, state=state)
        del active[a.trial.number]
        told += 1
        say(_progress_line(study, frozen, told, n_trials, objectives))

    while True:
        while (asked < n_trials and not full and len(active) < pool.n_hosts()
               and (deadline is None or time.monotonic() < deadline) and not _exhausted(study, ids)):
            trial = study.ask()
            config_id = trial.suggest_categorical(PARAM, ids)
            if _taken_elsewhere(study, trial.number, config_id):
                trial.set_user_attr("reason", DUPLICATE)
                study.tell(trial, state=TrialState.FAIL)
                full = not [i for i in ids if not _taken_elsewhere(study, -1, i)]
                continue
            trial.set_user_attr("config", by_id[config_id].to_dict())
            a = active[trial.number] = _Active(trial, by_id[config_id], best_wall() if prune else None)
            submit(a)
            asked += 1
        if not active:
            break
        by_future = {a.future: a for a in active.values()}
        for future in pool.wait_any(list(by_future)):
            a = by_future[future]
            outcome = pool.outcome(future, runner.spec(a.config), a.submitted_at)
            runner.record(a.config, outcome.result, None, outcome.manifest)
            if outcome.lost and not a.retried:
                a.retried = True
                say(f"  {a.config.id}: {outcome.result.reason}; measuring it once more on another host")
                submit(a, avoid=outcome.host)
                continue
            a.retried = False
            m = measurement_from_result(outcome.result)
            a.walls += m.walls
            a.per_repeat.append(list(m.walls))
            a.cpu += m.cpu
            a.mem += m.mem
            a.rmse += m.rmse
            for key, value in (("walls_s", a.walls), ("trial_walls_s", a.per_repeat), ("cpu_s", a.cpu),
                               ("peak_mem_mb", a.mem), ("cate_rmse", a.rmse), ("repeats", len(a.per_repeat))):
                a.trial.set_user_attr(key, value)
            if not m.ok:
                a.trial.set_user_attr("reason", m.reason)
                finish(a, TrialState.FAIL)
            elif prune and len(a.per_repeat) == 1 and a.best is not None and _median(a.walls) > prune_ratio * a.best:
                a.trial.set_user_attr("pruned", f"after 1 repeat: {_median(a.walls):.4g} s > {prune_ratio:g} x best {a.best:.4g} s")
                finish(a, TrialState.PRUNED)
            elif len(a.per_repeat) < repeats:
                submit(a)
            else:
                sources = {"wall": a.walls, "cpu": a.cpu, "memory": a.mem}
                values = [_median(sources[name]) for name in objectives]
                bad = [OBJECTIVES[n] for n, v in zip(objectives, values) if math.isnan(v)]
                if bad:
                    a.trial.set_user_attr("reason", f"no {bad[0]} measured")
                    finish(a, TrialState.FAIL)
                else:
                    finish(a, TrialState.COMPLETE, values[0] if not multi else values)
    if storage is not None:
        _drop_queued_duplicates(study, storage)
    return _outcome(study, study_name, objectives, told, exhausted=_exhausted(study, ids), **rule)
