"""The TPE sampler that never measures a config twice: a proposal of an already-measured
config is replaced by a random unmeasured one, so every trial of the budget is new
(``recommend`` re-measures the leaders later)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from harness.tune.space import PARAM

__all__ = ["UntriedSampler", "tried_configs"]


def tried_configs(study: optuna.Study, include_running: bool = True) -> set[str]:
    """The config ids with a finished (or, with ``include_running``, running) trial."""
    states = [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]
    if include_running:
        states.append(TrialState.RUNNING)
    return {t.params[PARAM] for t in study.get_trials(deepcopy=False, states=tuple(states)) if PARAM in t.params}


class UntriedSampler(optuna.samplers.BaseSampler):
    """``base`` (TPE) with proposals of measured configs replaced by unmeasured ones."""

    def __init__(self, base: optuna.samplers.BaseSampler, ids: Sequence[str], seed: int | None) -> None:
        self.base, self.ids, self.rng = base, list(ids), random.Random(seed)

    def infer_relative_search_space(self, study, trial):  # type: ignore[no-untyped-def]
        return self.base.infer_relative_search_space(study, trial)

    def _untried(self, study: optuna.Study, value: Any) -> Any:
        tried = tried_configs(study)
        if value in tried:
            untried = [i for i in self.ids if i not in tried]
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
