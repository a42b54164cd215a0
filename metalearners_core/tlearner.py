"""T-learner (Kuenzel et al. 2019): one outcome model per variant."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from metalearners_core._execution import CrossFitJob
from metalearners_core._onnx import (
    check_spox_installed,
    get_overall_estimators,
    infer_input_dict,
    infer_probabilities_output,
    warning_experimental_feature,
)
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
                self._rows_of_variant(X, w, v), y[w == v], VARIANT_OUTCOME_MODEL, v, fit_params[VARIANT_OUTCOME_MODEL]
            )
            for v in range(self.n_variants)
        ]

    def predict(
        self, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL, n_jobs: int | str | None = None
    ) -> np.ndarray:
        outcomes = self.predict_conditional_average_outcomes(X, is_oos, oos_method, n_jobs)
        return outcomes[:, 1:] - outcomes[:, [0]]

    def evaluate(
        self, X: Any, y: Any, w: Any, is_oos: bool, oos_method: OosMethod = OVERALL, scoring: dict | None = None,
        n_jobs: int | str | None = None,
    ) -> dict[str, float]:
        y_np, w_np = self._start_evaluate(X, y, w, n_jobs)
        return self._evaluate_variant_outcomes(
            X, y_np, w_np, is_oos, oos_method, self._scoring(scoring), n_jobs
        )

    def _necessary_onnx_models(self) -> dict[str, list[Any]]:
        return {VARIANT_OUTCOME_MODEL: get_overall_estimators(self._nuisance_models[VARIANT_OUTCOME_MODEL])}

    def _build_onnx(self, models: Mapping[str, Sequence], output_name: str = "tau") -> Any:
        """In the TLearner case, the necessary models are:

        * ``"variant_outcome_model"``
        """
        warning_experimental_feature("_build_onnx")
        check_spox_installed()
        import spox.opset.ai.onnx.v21 as op
        from onnx.checker import check_model
        from spox import build, inline

        self._validate_feature_set_none()
        self._validate_onnx_models(models, set(self._necessary_onnx_models().keys()))

        outcome_models = models[VARIANT_OUTCOME_MODEL]
        input_dict = infer_input_dict(outcome_models[0])
        if self.is_classification:
            _, model_output_name = infer_probabilities_output(outcome_models[0])
        else:
            model_output_name = outcome_models[0].graph.output[0].name

        control_output = inline(outcome_models[0])(**input_dict)[model_output_name]
        variant_cates = []
        for model in outcome_models[1:]:
            variant_output = inline(model)(**input_dict)[model_output_name]
            variant_cate = op.sub(variant_output, control_output)
            variant_cates.append(op.unsqueeze(variant_cate, axes=op.constant(value_int=1)))
        final_model = build(input_dict, {output_name: op.concat(variant_cates, axis=1)})
        check_model(final_model, full_check=True)
        return final_model
