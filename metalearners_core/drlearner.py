"""DR-learner (Kennedy 2020): regress the doubly robust pseudo-outcome on X."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache, partial
from typing import Any

import numpy as np

from metalearners_core._execution import CrossFitJob, Deferred
from metalearners_core._onnx import get_overall_estimators, warning_experimental_feature
from metalearners_core._utils import clip_abs_to_epsilon, n_rows
from metalearners_core.cross_fit_estimator import OVERALL, OosMethod
from metalearners_core._conditional_average_outcome import _ConditionalAverageOutcomeMetaLearner
from metalearners_core._evaluation import _evaluate_model_kind, _evaluate_propensity
from metalearners_core._model_kinds import (
    PROPENSITY_MODEL,
    TREATMENT_MODEL,
    VARIANT_OUTCOME_MODEL,
    _ModelSpecifications,
    get_one,
    get_predict,
    get_predict_proba,
)
from metalearners_core._prediction import PredictionBatch
from metalearners_core.metalearner import MetaLearner

_EPSILON = 1e-09


class DRLearner(_ConditionalAverageOutcomeMetaLearner):
    """DR-Learner for CATE estimation as described by Kennedy (2020).

    Nuisance models: ``"propensity_model"`` (Pr[W=k|X]) and one ``"variant_outcome_model"``
    per variant (E[Y|X, W=k]); one ``"treatment_model"`` per non-control variant.
    ``adaptive_clipping=True`` switches to the T-learner pseudo-outcome where a
    propensity is below epsilon (DR-Switch, Mahajan et al. 2024). Supports binary
    outcomes for classification.
    """

    @classmethod
    def nuisance_model_specifications(cls) -> dict[str, _ModelSpecifications]:
        return {
            PROPENSITY_MODEL: _ModelSpecifications(cardinality=get_one, predict_method=get_predict_proba),
            VARIANT_OUTCOME_MODEL: _ModelSpecifications(
                cardinality=MetaLearner._get_n_variants,
                predict_method=MetaLearner._outcome_predict_method,
            ),
        }

    @classmethod
    def treatment_model_specifications(cls) -> dict[str, _ModelSpecifications]:
        return {
            TREATMENT_MODEL: _ModelSpecifications(
                cardinality=MetaLearner._get_n_variants_minus_one, predict_method=get_predict
            )
        }

    def __init__(self, is_classification: bool, n_variants: int, *args: Any, adaptive_clipping: bool = False, **kwargs: Any):
        super().__init__(is_classification, n_variants, *args, **kwargs)
        self.adaptive_clipping = adaptive_clipping

    def _nuisance_jobs(
        self, X: Any, y: np.ndarray, w: np.ndarray, fit_params: dict[str, dict], synchronize: bool
    ) -> list[CrossFitJob | None]:
        # The propensity and treatment models share folds; outcome models use their own.
        # Every nuisance model predicts all rows for the pseudo-outcomes in its workers:
        # its own rows out of fold, the other variants' rows with the overall model.
        self._cv_split_indices = self._split(X) if synchronize else None
        outcome_jobs = [
            self._nuisance_job(
                self._rows_of_variant(X, w, v), y[w == v], VARIANT_OUTCOME_MODEL, v, fit_params[VARIANT_OUTCOME_MODEL],
                in_sample=True, outside_X=X, outside_rows=(w != v,),
            )
            for v in range(self.n_variants)
        ]
        propensity_job = self._nuisance_job(
            X, w, PROPENSITY_MODEL, 0, fit_params[PROPENSITY_MODEL], self._cv_split_indices, in_sample=True
        )
        return [*outcome_jobs, propensity_job]

    def _treatment_plan(
        self, X: Any, y: np.ndarray, w: np.ndarray, fit_params: dict[str, dict]
    ) -> list[Deferred]:
        # Variant v's model needs the propensity and the outcome models of control and v;
        # each nuisance prediction is made once and shared by all variants.
        outcome, propensity = self._nuisance_sources(X, is_oos=False)

        def build(v: int) -> list[CrossFitJob]:
            pseudo = self._pseudo_outcome(y, w, v, outcome, propensity)
            return [self._treatment_job(X, pseudo, TREATMENT_MODEL, v - 1, fit_params[TREATMENT_MODEL], self._cv_split_indices)]

        return [
            Deferred(
                frozenset({(VARIANT_OUTCOME_MODEL, 0), (VARIANT_OUTCOME_MODEL, v), (PROPENSITY_MODEL, 0)}),
                1,
                partial(build, v),
                data=(X,),
            )
            for v in range(1, self.n_variants)
        ]

    def _nuisance_sources(
        self, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL
    ) -> tuple[Callable[[int], np.ndarray], Callable[[], np.ndarray]]:
        """Memoised E[Y(k)|X] per variant and Pr[W|X]: predicted at first use, once."""
        outcome = cache(lambda v: self._outcome_scale(self._conditional_outcome(X, v, is_oos, oos_method)))
        propensity = cache(lambda: self._nuisance_of_all_rows(X, PROPENSITY_MODEL, 0, is_oos, oos_method))
        return outcome, propensity

    def _pseudo_outcome(
        self,
        y: np.ndarray,
        w: np.ndarray,
        variant: int,
        outcome: Callable[[int], np.ndarray],
        propensity: Callable[[], np.ndarray],
        epsilon: float = _EPSILON,
    ) -> np.ndarray:
        """The doubly robust pseudo-outcome of variant vs control for every row."""
        y0, yv, p = outcome(0), outcome(variant), propensity()
        control_correction = (y - y0) / clip_abs_to_epsilon(p[:, 0], epsilon) * (w == 0)
        variant_correction = (y - yv) / clip_abs_to_epsilon(p[:, variant], epsilon) * (w == variant)
        pseudo = variant_correction + yv - control_correction - y0
        if self.adaptive_clipping:
            pseudo = np.where(p.min(axis=1) < epsilon, yv - y0, pseudo)
        return pseudo

    def _pseudo_outcomes(
        self, X: Any, y: np.ndarray, w: np.ndarray, is_oos: bool, oos_method: OosMethod = OVERALL,
        n_jobs: int | str | None = None,
    ) -> np.ndarray:
        """Pseudo-outcomes of every variant vs control: (n_obs, n_variants - 1); the nuisance
        predictions they need are made at once."""
        self._start_predict(X, is_oos, oos_method, n_jobs)
        batch = PredictionBatch(n_jobs)
        outcomes = [
            self._variant_outcome_request(batch, VARIANT_OUTCOME_MODEL, v, X, is_oos, oos_method)
            for v in range(self.n_variants)
        ]
        propensity = self._nuisance_request(batch, PROPENSITY_MODEL, 0, X, is_oos, oos_method)
        batch.run()
        scaled = [self._outcome_scale(outcome()) for outcome in outcomes]
        p = propensity()
        return np.stack(
            [self._pseudo_outcome(y, w, v, scaled.__getitem__, lambda: p) for v in range(1, self.n_variants)], axis=1
        )

    def predict(
        self, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL, n_jobs: int | str | None = None
    ) -> np.ndarray:
        self._start_predict(X, is_oos, oos_method, n_jobs)
        batch = PredictionBatch(n_jobs)
        effects = [
            self._treatment_request(batch, TREATMENT_MODEL, v - 1, X, is_oos, oos_method) for v in range(1, self.n_variants)
        ]
        batch.run()
        return self._cate_tensor([effect() for effect in effects])

    def evaluate(
        self, X: Any, y: Any, w: Any, is_oos: bool, oos_method: OosMethod = OVERALL, scoring: dict | None = None,
        n_jobs: int | str | None = None,
    ) -> dict[str, float]:
        y_np, w_np = self._start_evaluate(X, y, w, n_jobs)
        scoring = self._scoring(scoring)
        pseudo = self._pseudo_outcomes(X, y_np, w_np, is_oos, oos_method, n_jobs)
        return (
            self._evaluate_variant_outcomes(X, y_np, w_np, is_oos, oos_method, scoring, n_jobs)
            | _evaluate_propensity(self, X, w_np, is_oos, oos_method, scoring, n_jobs)
            | _evaluate_model_kind(
                self._treatment_models[TREATMENT_MODEL],
                Xs=[X] * (self.n_variants - 1),
                ys=[pseudo[:, v - 1] for v in range(1, self.n_variants)],
                scorers=scoring[TREATMENT_MODEL],
                model_kind=TREATMENT_MODEL,
                is_oos=is_oos,
                oos_method=oos_method,
                is_treatment_model=True,
                feature_set=self.feature_set[TREATMENT_MODEL],
                n_jobs=n_jobs,
            )
        )

    def average_treatment_effect(self, X: Any, y: Any, w: Any, is_oos: bool) -> tuple[np.ndarray, np.ndarray]:
        """AIPW estimate of the ATE of each variant vs control, and its standard error.

        Needs only the nuisance models (works right after ``fit_all_nuisance``).
        """
        if self._n_fit_rows is None:
            raise ValueError(
                "The nuisance models need to be fitted before computing the treatment effect."
            )
        y_np, w_np = self._start_evaluate(X, y, w)
        pseudo = self._pseudo_outcomes(X, y_np, w_np, is_oos)
        return pseudo.mean(axis=0), pseudo.std(axis=0) / np.sqrt(n_rows(X))

    @property
    def init_args(self) -> dict[str, Any]:
        return super().init_args | {"adaptive_clipping": self.adaptive_clipping}

    def _necessary_onnx_models(self) -> dict[str, list[Any]]:
        return {TREATMENT_MODEL: get_overall_estimators(self._treatment_models[TREATMENT_MODEL])}

    def _build_onnx(self, models: Mapping[str, Sequence], output_name: str = "tau") -> Any:
        """In the DRLearner case, the necessary models are:

        * ``"treatment_model"``
        """
        warning_experimental_feature("_build_onnx")
        return self._build_onnx_of_effect_models(models, TREATMENT_MODEL, output_name)
