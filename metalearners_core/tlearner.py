"""T-learner (Kuenzel et al. 2019): one outcome model per variant."""

from __future__ import annotations

from typing import Any

import numpy as np

from metalearners_core._execution import CrossFitJob
from metalearners_core._utils import take_rows
from metalearners_core.cross_fit_estimator import OVERALL, OosMethod
from metalearners_core._conditional_average_outcome import _ConditionalAverageOutcomeMetaLearner
from metalearners_core._model_kinds import VARIANT_OUTCOME_MODEL, _ModelSpecifications
from metalearners_core.metalearner import MetaLearner


class TLearner(_ConditionalAverageOutcomeMetaLearner):
    """T-Learner for CATE estimation as described by Kuenzel et al. (2019)."""

    @classmethod
    def nuisance_model_specifications(cls) -> dict[str, _ModelSpecifications]:
        return {
            VARIANT_OUTCOME_MODEL: _ModelSpecifications(
                cardinality=MetaLearner._get_n_variants,
                predict_method=MetaLearner._outcome_predict_method,
            )
        }

    @classmethod
    def _supports_multi_class(cls) -> bool:
        return True

    def _nuisance_jobs(
        self, X: Any, y: np.ndarray, w: np.ndarray, fit_params: dict[str, dict], synchronize: bool
    ) -> list[CrossFitJob | None]:
        return [
            self._nuisance_job(
                take_rows(X, w == v), y[w == v], VARIANT_OUTCOME_MODEL, v, fit_params[VARIANT_OUTCOME_MODEL]
            )
            for v in range(self.n_variants)
        ]

    def predict(self, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL) -> np.ndarray:
        outcomes = self.predict_conditional_average_outcomes(X, is_oos, oos_method)
        return outcomes[:, 1:] - outcomes[:, [0]]

    def evaluate(
        self, X: Any, y: Any, w: Any, is_oos: bool, oos_method: OosMethod = OVERALL, scoring: dict | None = None
    ) -> dict[str, float]:
        y_np, w_np = self._start_evaluate(X, y, w)
        return self._evaluate_variant_outcomes(
            X, y_np, w_np, is_oos, oos_method, self._scoring(scoring)
        )
