"""R-learner (Nie and Wager 2017): residual-on-residual regression with weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
from sklearn.metrics import root_mean_squared_error

from metalearners_core._execution import CrossFitJob, Deferred
from metalearners_core._onnx import get_overall_estimators, warning_experimental_feature
from metalearners_core._utils import clip_abs_to_epsilon, function_has_argument, take_rows
from metalearners_core.cross_fit_estimator import OVERALL, OosMethod
from metalearners_core._evaluation import _evaluate_model_kind, _evaluate_propensity
from metalearners_core._model_kinds import (
    PROPENSITY_MODEL,
    TREATMENT_MODEL,
    _ModelSpecifications,
    get_one,
    get_predict,
    get_predict_proba,
)
from metalearners_core._prediction import PredictionBatch
from metalearners_core.metalearner import MetaLearner

OUTCOME_MODEL = "outcome_model"
_SAMPLE_WEIGHT = "sample_weight"
_EPSILON = 1e-09


def r_loss(
    cate_estimates: Any, outcome_estimates: Any, propensity_scores: Any, outcomes: Any, treatments: Any
) -> float:
    r"""Square root of the R-loss of Nie and Wager:
    :math:`\sqrt{\frac1N\sum_i ((y_i - \mu(X_i)) - \hat\tau(X_i)(w_i - e(X_i)))^2}`."""
    residual_outcomes = np.asarray(outcomes) - np.asarray(outcome_estimates)
    residual_treatments = np.asarray(treatments) - np.asarray(propensity_scores)
    return root_mean_squared_error(residual_outcomes, np.asarray(cate_estimates) * residual_treatments)


class RLearner(MetaLearner):
    """R-Learner for CATE estimation as described by Nie and Wager (2017).

    Nuisance models: ``"propensity_model"`` (Pr[W=k|X]) and ``"outcome_model"`` (E[Y|X]);
    one ``"treatment_model"`` per non-control variant, whose ``fit`` must take
    ``sample_weight``. Supports binary outcomes for classification.
    """

    @classmethod
    def nuisance_model_specifications(cls) -> dict[str, _ModelSpecifications]:
        return {
            PROPENSITY_MODEL: _ModelSpecifications(cardinality=get_one, predict_method=get_predict_proba),
            OUTCOME_MODEL: _ModelSpecifications(cardinality=get_one, predict_method=MetaLearner._outcome_predict_method),
        }

    @classmethod
    def treatment_model_specifications(cls) -> dict[str, _ModelSpecifications]:
        return {
            TREATMENT_MODEL: _ModelSpecifications(
                cardinality=MetaLearner._get_n_variants_minus_one, predict_method=get_predict
            )
        }

    def _validate_models(self) -> None:
        if not function_has_argument(self.treatment_model_factory[TREATMENT_MODEL].fit, _SAMPLE_WEIGHT):
            raise ValueError(
                f"{TREATMENT_MODEL}'s fit method does not support 'sample_weight' argument. "
                "The R-learner weights its treatment models' rows, so their fit must accept it."
            )
        super()._validate_models()

    def _nuisance_jobs(
        self, X: Any, y: np.ndarray, w: np.ndarray, fit_params: dict[str, dict], synchronize: bool
    ) -> list[CrossFitJob | None]:
        cv = self._split(X) if synchronize else None
        # Both predict their held-out rows in the workers, for the pseudo-outcomes.
        return [
            self._nuisance_job(X, w, PROPENSITY_MODEL, 0, fit_params[PROPENSITY_MODEL], cv, in_sample=True),
            self._nuisance_job(X, y, OUTCOME_MODEL, 0, fit_params[OUTCOME_MODEL], cv, in_sample=True),
        ]

    def _treatment_plan(
        self, X: Any, y: np.ndarray, w: np.ndarray, fit_params: dict[str, dict]
    ) -> list[Deferred]:
        if _SAMPLE_WEIGHT in fit_params[TREATMENT_MODEL]:
            raise ValueError(
                f"The parameter {_SAMPLE_WEIGHT} has been defined to be passed to the R-Learner's "
                "treatment model. Yet, this is not supported since the R-Learner requires freedom "
                " to define his parameter internally. Please adapt the argument fit_params to the "
                f"fit method to either not include any {_SAMPLE_WEIGHT} or only for nuisance models."
            )

        # One treatment variant: its model trains on all rows, the nuisance models' very
        # matrix, so LightGBM models can share its binned data.
        one_variant = self.n_variants == 2

        def build() -> list[CrossFitJob]:
            nuisance = self._nuisance_estimates(X, is_oos=False)
            self._variants_indices = []
            jobs = []
            for v in range(1, self.n_variants):
                mask = (w == v) | (w == 0)
                self._variants_indices.append(mask)
                pseudo_outcomes, weights = self._pseudo_outcome_and_weights(y, w, v, mask, nuisance)
                jobs.append(self._treatment_job(
                    X if one_variant else take_rows(X, mask), pseudo_outcomes, TREATMENT_MODEL, v - 1,
                    fit_params[TREATMENT_MODEL] | {_SAMPLE_WEIGHT: weights},
                ))
            return jobs

        needs = frozenset({(PROPENSITY_MODEL, 0), (OUTCOME_MODEL, 0)})
        return [Deferred(needs, self.n_variants - 1, build, data=(X,) if one_variant else ())]

    def _nuisance_estimates(
        self, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL
    ) -> tuple[np.ndarray, np.ndarray]:
        """(E[Y|X], Pr[W=k|X]) for every row, predicted once and shared by all variants."""
        y_hat = self._nuisance_of_all_rows(X, OUTCOME_MODEL, 0, is_oos, oos_method)
        if self.is_classification:
            y_hat = y_hat[:, 1]
        return y_hat, self._nuisance_of_all_rows(X, PROPENSITY_MODEL, 0, is_oos, oos_method)

    def _pseudo_outcome_and_weights(
        self,
        y: np.ndarray,
        w: np.ndarray,
        variant: int,
        mask: np.ndarray,
        nuisance: tuple[np.ndarray, np.ndarray],
        epsilon: float = _EPSILON,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Residualised outcome over residualised treatment, and its weight, on ``mask``."""
        y_hat, w_hat = nuisance[0][mask], nuisance[1][mask]
        propensity = w_hat[:, variant] / (w_hat[:, 0] + w_hat[:, variant])
        y_residuals = y[mask] - y_hat
        w_residuals = (w[mask] == variant) - propensity
        return y_residuals / clip_abs_to_epsilon(w_residuals, epsilon), np.square(w_residuals)

    def predict(
        self, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL, n_jobs: int | str | None = None
    ) -> np.ndarray:
        self._start_predict(X, is_oos, oos_method, n_jobs)
        batch = PredictionBatch(n_jobs)
        effects = []
        for v in range(1, self.n_variants):
            request = partial(self._treatment_request, batch, TREATMENT_MODEL, v - 1)
            if is_oos:
                effects.append(request(X, True, oos_method))
            else:  # out of fold on the rows its model trained on, out of sample on the others
                effects.append(self._own_and_other(request, X, self._variants_indices[v - 1], oos_method))
        batch.run()
        return self._cate_tensor([effect() for effect in effects])

    def evaluate(
        self, X: Any, y: Any, w: Any, is_oos: bool, oos_method: OosMethod = OVERALL, scoring: dict | None = None,
        n_jobs: int | str | None = None,
    ) -> dict[str, float]:
        """Base-model scores, plus ``r_loss_{k}_vs_0`` for every treatment variant k."""
        y_np, w_np = self._start_evaluate(X, y, w, n_jobs)
        scoring = self._scoring(scoring)
        batch = PredictionBatch(n_jobs)
        outcome = self._nuisance_request(batch, OUTCOME_MODEL, 0, X, is_oos, oos_method)
        propensity = self._nuisance_request(batch, PROPENSITY_MODEL, 0, X, is_oos, oos_method)
        batch.run()
        nuisance = (outcome()[:, 1] if self.is_classification else outcome(), propensity())
        masks = [(w_np == v) | (w_np == 0) for v in range(1, self.n_variants)]
        pseudo = [self._pseudo_outcome_and_weights(y_np, w_np, v, masks[v - 1], nuisance) for v in range(1, self.n_variants)]
        tau_hat = self.predict(X, is_oos, oos_method, n_jobs)
        y_hat, w_hat = nuisance
        r_losses = {}
        for v in range(1, self.n_variants):
            mask = masks[v - 1]
            r_losses[f"r_loss_{v}_vs_0"] = r_loss(
                cate_estimates=tau_hat[mask, v - 1, 1 if self.is_classification else 0],
                outcome_estimates=y_hat[mask],
                propensity_scores=(w_hat[:, v] / (w_hat[:, 0] + w_hat[:, v]))[mask],
                outcomes=y_np[mask],
                treatments=w_np[mask] == v,
            )
        return (
            _evaluate_propensity(self, X, w_np, is_oos, oos_method, scoring, n_jobs)
            | _evaluate_model_kind(
                self._nuisance_models[OUTCOME_MODEL], Xs=[X], ys=[y_np], scorers=scoring[OUTCOME_MODEL],
                model_kind=OUTCOME_MODEL, is_oos=is_oos, oos_method=oos_method, is_treatment_model=False,
                feature_set=self.feature_set[OUTCOME_MODEL], n_jobs=n_jobs,
            )
            | r_losses
            | _evaluate_model_kind(
                self._treatment_models[TREATMENT_MODEL],
                Xs=[take_rows(X, mask) for mask in masks],
                ys=[p for p, _ in pseudo],
                scorers=scoring[TREATMENT_MODEL],
                model_kind=TREATMENT_MODEL,
                is_oos=is_oos,
                oos_method=oos_method,
                is_treatment_model=True,
                sample_weights=[weights for _, weights in pseudo],
                feature_set=self.feature_set[TREATMENT_MODEL],
                n_jobs=n_jobs,
            )
        )

    def _necessary_onnx_models(self) -> dict[str, list[Any]]:
        return {TREATMENT_MODEL: get_overall_estimators(self._treatment_models[TREATMENT_MODEL])}

    def _build_onnx(self, models: Mapping[str, Sequence], output_name: str = "tau") -> Any:
        """In the RLearner case, the necessary models are:

        * ``"treatment_model"``
        """
        warning_experimental_feature("_build_onnx")
        return self._build_onnx_of_effect_models(models, TREATMENT_MODEL, output_name)
