"""The base of learners with one outcome model per treatment variant (T, X, DR).

It predicts the conditional average outcome E[Y(k) | X] of every variant (in
sample, a row's own variant model predicts it out of fold, the others out of
sample) and scores the variant outcome models for ``evaluate``.
"""

from __future__ import annotations

from abc import ABC
from typing import Any

import numpy as np

from metalearners_core._evaluation import _evaluate_model_kind
from metalearners_core._model_kinds import VARIANT_OUTCOME_MODEL
from metalearners_core._prediction import PredictionBatch
from metalearners_core._utils import n_rows, take_rows
from metalearners_core.cross_fit_estimator import OVERALL, OosMethod
from metalearners_core.metalearner import MetaLearner


class _ConditionalAverageOutcomeMetaLearner(MetaLearner, ABC):
    """Learners with one outcome model per variant (T, X, DR)."""

    def predict_conditional_average_outcomes(
        self, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL, n_jobs: int | str | None = None
    ) -> np.ndarray:
        """E[Y(k) | X] for every variant k: shape (n_obs, n_variants, n_outputs).

        In-sample, a row's own variant model predicts it out of fold; the other variants'
        models never saw it and predict it out of sample. ``n_jobs`` as in ``predict``.
        """
        self._start_predict(X, is_oos, oos_method, n_jobs)
        batch = PredictionBatch(n_jobs)
        outcomes = [
            self._variant_outcome_request(batch, VARIANT_OUTCOME_MODEL, v, X, is_oos, oos_method)
            for v in range(self.n_variants)
        ]
        batch.run()
        return np.stack([outcome() for outcome in outcomes], axis=1).reshape(n_rows(X), self.n_variants, -1)

    def _conditional_outcome(self, X: Any, variant: int, is_oos: bool, oos_method: OosMethod = OVERALL) -> np.ndarray:
        """E[Y(variant) | X] for every row of X (all classes for classification); in a fit,
        from the predictions the outcome models made in the workers."""
        if is_oos:
            return self.predict_nuisance(X, VARIANT_OUTCOME_MODEL, variant, True, oos_method)
        mask = self._treatment_variants_mask[variant]
        own = self._nuisance_in_sample(X, VARIANT_OUTCOME_MODEL, variant, mask)
        other = self._nuisance_outside(X, VARIANT_OUTCOME_MODEL, variant, ~mask, 0, oos_method)
        combined = np.zeros((n_rows(X), *own.shape[1:]))
        combined[mask], combined[~mask] = own, other
        return combined

    def _outcome_scale(self, prediction: np.ndarray) -> np.ndarray:
        """The outcome a pseudo-outcome works with: the positive class's probability, or y."""
        return prediction[:, 1] if self.is_classification else prediction

    def _evaluate_variant_outcomes(
        self, X: Any, y: Any, w: np.ndarray, is_oos: bool, oos_method: OosMethod, scoring: dict,
        n_jobs: int | str | None = None,
    ) -> dict[str, float]:
        return _evaluate_model_kind(
            cfes=self._nuisance_models[VARIANT_OUTCOME_MODEL],
            Xs=[take_rows(X, w == v) for v in range(self.n_variants)],
            ys=[y[w == v] for v in range(self.n_variants)],
            scorers=scoring[VARIANT_OUTCOME_MODEL],
            model_kind=VARIANT_OUTCOME_MODEL,
            is_oos=is_oos,
            oos_method=oos_method,
            is_treatment_model=False,
            feature_set=self.feature_set[VARIANT_OUTCOME_MODEL],
            n_jobs=n_jobs,
        )
