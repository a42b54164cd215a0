"""Scoring fitted base models for ``evaluate``: sklearn scorers on cross-fit estimators.

A fitted :class:`CrossFitEstimator` is shown to scikit-learn's scorers through a
scoring view that fixes its ``is_oos`` and ``oos_method`` arguments;
:func:`_evaluate_model_kind` scores every model of one kind and keys the results
as ``metalearners`` keys them (``{model_kind}[_{i}|_{k}_vs_0]_{scorer}``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import get_scorer

from metalearners_core._model_kinds import PROPENSITY_MODEL
from metalearners_core._utils import select_columns
from metalearners_core.cross_fit_estimator import OVERALL, CrossFitEstimator, OosMethod

if TYPE_CHECKING:
    from metalearners_core.metalearner import MetaLearner


class _ScoringView(BaseEstimator):
    """A fitted cross-fit estimator seen by sklearn scorers with fixed predict arguments."""

    def __init__(self, cfe: Any = None, is_oos: bool = True, oos_method: str = OVERALL):
        self.cfe = cfe
        self.is_oos = is_oos
        self.oos_method = oos_method

    def fit(self, X: Any, y: Any) -> _ScoringView:  # pragma: no cover - scorers never fit
        raise NotImplementedError("A scoring view is already fitted.")

    def predict(self, X: Any) -> np.ndarray:
        return self.cfe.predict(X, self.is_oos, self.oos_method)


class _ClassifierScoringView(ClassifierMixin, _ScoringView):
    @property
    def classes_(self) -> np.ndarray:
        return self.cfe.classes_

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.cfe.predict_proba(X, self.is_oos, self.oos_method)


class _RegressorScoringView(RegressorMixin, _ScoringView):
    pass


def _evaluate_model_kind(
    cfes: Sequence[CrossFitEstimator],
    Xs: Sequence[Any],
    ys: Sequence[Any],
    scorers: Sequence[str | Callable],
    model_kind: str,
    is_oos: bool,
    is_treatment_model: bool,
    feature_set: Any,
    oos_method: OosMethod = OVERALL,
    sample_weights: Sequence[Any] | None = None,
) -> dict[str, float]:
    """Scores of all models of one kind, keyed as metalearners keys them."""
    metrics: dict[str, float] = {}
    for idx, scorer in enumerate(scorers):
        name_of_scorer = scorer if isinstance(scorer, str) else f"custom_scorer_{idx}"
        score = get_scorer(scorer) if isinstance(scorer, str) else scorer
        for i, cfe in enumerate(cfes):
            if is_treatment_model:
                index = f"{i + 1}_vs_0_"
            else:
                index = "" if len(cfes) == 1 else f"{i}_"
            view_class = _ClassifierScoringView if cfe._is_classifier else _RegressorScoringView
            view = view_class(cfe, is_oos, oos_method)
            X = select_columns(Xs[i], feature_set)
            kwargs = {"sample_weight": sample_weights[i]} if sample_weights else {}
            metrics[f"{model_kind}_{index}{name_of_scorer}"] = score(view, X, ys[i], **kwargs)
    return metrics


def _evaluate_propensity(
    learner: MetaLearner, X: Any, w: np.ndarray, is_oos: bool, oos_method: OosMethod, scoring: dict
) -> dict[str, float]:
    """Scores of the propensity model, which predicts the treatment of every row."""
    return _evaluate_model_kind(
        cfes=learner._nuisance_models[PROPENSITY_MODEL],
        Xs=[X],
        ys=[w],
        scorers=scoring[PROPENSITY_MODEL],
        model_kind=PROPENSITY_MODEL,
        is_oos=is_oos,
        oos_method=oos_method,
        is_treatment_model=False,
        feature_set=learner.feature_set[PROPENSITY_MODEL],
    )
