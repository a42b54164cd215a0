"""X-learner (Kuenzel et al. 2019): outcome models, then imputed-effect models per arm."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from metalearners_core._execution import CrossFitJob, Deferred
from metalearners_core._onnx import (
    check_spox_installed,
    get_overall_estimators,
    infer_input_dict,
    infer_probabilities_output,
    warning_experimental_feature,
)
from metalearners_core._utils import take_rows
from metalearners_core.cross_fit_estimator import MEDIAN, OVERALL, OosMethod
from metalearners_core._conditional_average_outcome import _ConditionalAverageOutcomeMetaLearner
from metalearners_core._evaluation import _evaluate_model_kind, _evaluate_propensity
from metalearners_core._model_kinds import (
    PROPENSITY_MODEL,
    VARIANT_OUTCOME_MODEL,
    _ModelSpecifications,
    get_one,
    get_predict,
    get_predict_proba,
)
from metalearners_core._prediction import PredictionBatch
from metalearners_core.metalearner import MetaLearner

CONTROL_EFFECT_MODEL = "control_effect_model"
TREATMENT_EFFECT_MODEL = "treatment_effect_model"


class XLearner(_ConditionalAverageOutcomeMetaLearner):
    """X-Learner for CATE estimation as described by Kuenzel et al. (2019).

    Supports binary outcomes for classification.
    """

    @classmethod
    def nuisance_model_specifications(cls) -> dict[str, _ModelSpecifications]:
        return {
            VARIANT_OUTCOME_MODEL: _ModelSpecifications(
                cardinality=MetaLearner._get_n_variants,
                predict_method=MetaLearner._outcome_predict_method,
            ),
            PROPENSITY_MODEL: _ModelSpecifications(cardinality=get_one, predict_method=get_predict_proba),
        }

    @classmethod
    def treatment_model_specifications(cls) -> dict[str, _ModelSpecifications]:
        return {
            CONTROL_EFFECT_MODEL: _ModelSpecifications(
                cardinality=MetaLearner._get_n_variants_minus_one, predict_method=get_predict
            ),
            TREATMENT_EFFECT_MODEL: _ModelSpecifications(
                cardinality=MetaLearner._get_n_variants_minus_one, predict_method=get_predict
            ),
        }

    def _nuisance_jobs(
        self, X: Any, y: np.ndarray, w: np.ndarray, fit_params: dict[str, dict], synchronize: bool
    ) -> list[CrossFitJob | None]:
        # Each variant's outcome and effect models share that variant's folds.
        variant_X = [self._rows_of_variant(X, w, v) for v in range(self.n_variants)]
        self._cvs = [self._split(variant_X[v]) if synchronize else None for v in range(self.n_variants)]
        # For the imputed effects, in the workers: the control model's overall model
        # predicts each variant's rows, every other variant's the control rows.
        outside = [tuple(w == v for v in range(1, self.n_variants)), *[(w == 0,)] * (self.n_variants - 1)]
        outcome_jobs = [
            self._nuisance_job(
                variant_X[v], y[w == v], VARIANT_OUTCOME_MODEL, v,
                fit_params[VARIANT_OUTCOME_MODEL], self._cvs[v], outside_X=X, outside_rows=outside[v],
            )
            for v in range(self.n_variants)
        ]
        return [*outcome_jobs, self._nuisance_job(X, w, PROPENSITY_MODEL, 0, fit_params[PROPENSITY_MODEL])]

    def _treatment_plan(
        self, X: Any, y: np.ndarray, w: np.ndarray, fit_params: dict[str, dict]
    ) -> list[Deferred]:
        # Variant v's effect models need only the outcome models of control and v.
        def build(v: int) -> list[CrossFitJob]:
            imputed_control, imputed_treatment = self._imputed_effects(X, y, w, v)
            return [
                self._treatment_job(
                    self._rows_of_variant(X, w, v), imputed_treatment, TREATMENT_EFFECT_MODEL, v - 1,
                    fit_params[TREATMENT_EFFECT_MODEL], self._cvs[v],
                ),
                self._treatment_job(
                    self._rows_of_variant(X, w, 0), imputed_control, CONTROL_EFFECT_MODEL, v - 1,
                    fit_params[CONTROL_EFFECT_MODEL], self._cvs[0],
                ),
            ]

        return [
            Deferred(
                frozenset({(VARIANT_OUTCOME_MODEL, 0), (VARIANT_OUTCOME_MODEL, v)}), 2, partial(build, v),
                data=(self._rows_of_variant(X, w, v), self._rows_of_variant(X, w, 0)),
            )
            for v in range(1, self.n_variants)
        ]

    def _imputed_effects(
        self, X: Any, y: np.ndarray, w: np.ndarray, variant: int, oos_method: OosMethod = OVERALL
    ) -> tuple[np.ndarray, np.ndarray]:
        """Imputed effects on the control rows (variant's model) and on variant's rows.

        Each outcome model predicts only rows it never saw, so in- and out-of-sample
        imputations are the same. In a fit, from the predictions made in the workers.
        """
        treated, control = w == variant, w == 0
        control_outcome_of_treated = self._nuisance_outside(X, VARIANT_OUTCOME_MODEL, 0, treated, variant - 1, oos_method)
        treated_outcome_of_controls = self._nuisance_outside(X, VARIANT_OUTCOME_MODEL, variant, control, 0, oos_method)
        return self._imputed(y, w, variant, control_outcome_of_treated, treated_outcome_of_controls)

    def _imputed(
        self, y: np.ndarray, w: np.ndarray, variant: int, control_outcome_of_treated: np.ndarray,
        treated_outcome_of_controls: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        imputed_control = self._outcome_scale(treated_outcome_of_controls) - y[w == 0]
        imputed_treatment = y[w == variant] - self._outcome_scale(control_outcome_of_treated)
        return imputed_control, imputed_treatment

    def _effect_request(
        self, batch: PredictionBatch, X: Any, kind: str, variant: int, own_rows: np.ndarray, is_oos: bool,
        oos_method: OosMethod,
    ) -> Callable[[], np.ndarray]:
        """An effect model's estimates: out of fold on the rows it trained on, else oos."""
        request = partial(self._treatment_request, batch, kind, variant - 1)
        return request(X, True, oos_method) if is_oos else self._own_and_other(request, X, own_rows, oos_method)

    def predict(
        self, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL, n_jobs: int | str | None = None
    ) -> np.ndarray:
        self._start_predict(X, is_oos, oos_method, n_jobs)
        batch = PredictionBatch(n_jobs)
        # Propensities have no median; metalearners falls back to the overall model.
        propensity = self._nuisance_request(
            batch, PROPENSITY_MODEL, 0, X, is_oos, OVERALL if oos_method == MEDIAN else oos_method
        )
        masks = self._treatment_variants_mask
        estimates = [
            (
                self._effect_request(batch, X, TREATMENT_EFFECT_MODEL, v, masks[v], is_oos, oos_method),
                self._effect_request(batch, X, CONTROL_EFFECT_MODEL, v, masks[0], is_oos, oos_method),
            )
            for v in range(1, self.n_variants)
        ]
        batch.run()
        p = propensity()
        effects = []
        for v, (tau_treatment, tau_control) in zip(range(1, self.n_variants), estimates):
            share = p[:, v] / (p[:, 0] + p[:, v])
            tau = share * tau_control() + (1 - share) * tau_treatment()
            effects.append(tau)
        return self._cate_tensor(effects)

    def evaluate(
        self, X: Any, y: Any, w: Any, is_oos: bool, oos_method: OosMethod = OVERALL, scoring: dict | None = None,
        n_jobs: int | str | None = None,
    ) -> dict[str, float]:
        y_np, w_np = self._start_evaluate(X, y, w, n_jobs)
        scoring = self._scoring(scoring)
        self._start_predict(X, is_oos, oos_method, n_jobs)
        batch = PredictionBatch(n_jobs)
        outside = [
            (
                self._nuisance_request(batch, VARIANT_OUTCOME_MODEL, 0, take_rows(X, w_np == v), True, oos_method),
                self._nuisance_request(batch, VARIANT_OUTCOME_MODEL, v, take_rows(X, w_np == 0), True, oos_method),
            )
            for v in range(1, self.n_variants)
        ]
        batch.run()
        imputed = [
            self._imputed(y_np, w_np, v, control_of_treated(), treated_of_controls())
            for v, (control_of_treated, treated_of_controls) in zip(range(1, self.n_variants), outside)
        ]
        common = dict(is_oos=is_oos, oos_method=oos_method, is_treatment_model=True, n_jobs=n_jobs)
        return (
            self._evaluate_variant_outcomes(X, y_np, w_np, is_oos, oos_method, scoring, n_jobs)
            | _evaluate_propensity(self, X, w_np, is_oos, oos_method, scoring, n_jobs)
            | _evaluate_model_kind(
                self._treatment_models[TREATMENT_EFFECT_MODEL],
                Xs=[take_rows(X, w_np == v) for v in range(1, self.n_variants)],
                ys=[treatment for _, treatment in imputed],
                scorers=scoring[TREATMENT_EFFECT_MODEL],
                model_kind=TREATMENT_EFFECT_MODEL,
                feature_set=self.feature_set[TREATMENT_EFFECT_MODEL],
                **common,
            )
            | _evaluate_model_kind(
                self._treatment_models[CONTROL_EFFECT_MODEL],
                Xs=[take_rows(X, w_np == 0) for _ in range(1, self.n_variants)],
                ys=[control for control, _ in imputed],
                scorers=scoring[CONTROL_EFFECT_MODEL],
                model_kind=CONTROL_EFFECT_MODEL,
                feature_set=self.feature_set[CONTROL_EFFECT_MODEL],
                **common,
            )
        )

    def _necessary_onnx_models(self) -> dict[str, list[Any]]:
        return {
            PROPENSITY_MODEL: get_overall_estimators(self._nuisance_models[PROPENSITY_MODEL]),
            CONTROL_EFFECT_MODEL: get_overall_estimators(self._treatment_models[CONTROL_EFFECT_MODEL]),
            TREATMENT_EFFECT_MODEL: get_overall_estimators(self._treatment_models[TREATMENT_EFFECT_MODEL]),
        }

    def _build_onnx(self, models: Mapping[str, Sequence], output_name: str = "tau") -> Any:
        """In the XLearner case, the necessary models are:

        * ``"propensity_model"``
        * ``"control_effect_model"``
        * ``"treatment_effect_model"``
        """
        warning_experimental_feature("_build_onnx")
        check_spox_installed()
        import spox.opset.ai.onnx.v21 as op
        from spox import inline

        self._validate_feature_set_none()
        self._validate_onnx_models(models, set(self._necessary_onnx_models().keys()))

        input_dict = infer_input_dict(models[PROPENSITY_MODEL][0])
        effect_output_name = models[CONTROL_EFFECT_MODEL][0].graph.output[0].name
        tau_hat_control = [inline(m)(**input_dict)[effect_output_name] for m in models[CONTROL_EFFECT_MODEL]]
        tau_hat_effect = [inline(m)(**input_dict)[effect_output_name] for m in models[TREATMENT_EFFECT_MODEL]]
        _, propensity_output_name = infer_probabilities_output(models[PROPENSITY_MODEL][0])
        propensity_scores = inline(models[PROPENSITY_MODEL][0])(**input_dict)[propensity_output_name]

        def propensity_of(variant: int) -> Any:
            return op.slice(
                propensity_scores,
                starts=op.const(np.array([variant])),
                ends=op.const(np.array([variant + 1])),
                axes=op.const(np.array([1])),
            )

        propensity_control = propensity_of(0)
        tau_hat = []
        for tv in range(self.n_variants - 1):
            propensity_variant = propensity_of(tv + 1)
            # As predict: the variant's share of the propensity of {control, variant}.
            share = op.div(propensity_variant, op.add(propensity_control, propensity_variant))
            tau_hat_tv = op.add(
                op.mul(share, tau_hat_control[tv]),
                op.mul(op.sub(op.constant(value_float=1), share), tau_hat_effect[tv]),
            )
            tau_hat.append(tau_hat_tv)
        return self._build_cate_onnx(input_dict, tau_hat, output_name)
