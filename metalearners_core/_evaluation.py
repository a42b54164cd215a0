"""Scoring fitted base models for ``evaluate``: sklearn scorers on cross-fit estimators.

A fitted :class:`CrossFitEstimator` is shown to scikit-learn's scorers through a
scoring view that fixes its ``is_oos`` and ``oos_method`` arguments;
:func:`_evaluate_model_kind` scores every model of one kind and keys the results
as ``metalearners`` keys them (``{model_kind}[_{i}|_{k}_vs_0]_{scorer}``). With
``n_jobs`` the predictions the scorers need are made first, all at once, through a
:class:`~metalearners_core._prediction.PredictionBatch`, and handed to the views.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import get_scorer

from metalearners_core._model_kinds import PROPENSITY_MODEL
from metalearners_core._prediction import PredictionBatch
from metalearners_core._utils import select_columns
from metalearners_core.cross_fit_estimator import OVERALL, CrossFitEstimator, OosMethod

if TYPE_CHECKING:
    from metalearners_core.metalearner import MetaLearner


class _ScoringView(BaseEstimator):
    """A fitted cross-fit estimator seen by sklearn scorers with fixed predict arguments.

    Predictions made beforehand for the very X it is scored on (``prefetched``:
    method -> (X, thunk)) are returned instead of predicting again.
    """

    def __init__(self, cfe: Any = None, is_oos: bool = True, oos_method: str = OVERALL, n_jobs: Any = None):
        self.cfe = cfe
        self.is_oos = is_oos
        self.oos_method = oos_method
        self.n_jobs = n_jobs
        self.prefetched: dict[str, tuple[Any, Callable[[], np.ndarray]]] = {}

    def fit(self, X: Any, y: Any) -> _ScoringView:  # pragma: no cover - scorers never fit
        raise NotImplementedError("A scoring view is already fitted.")

    def _made(self, method: str, X: Any) -> np.ndarray | None:
        made = self.prefetched.get(method)
        return made[1]() if made is not None and made[0] is X else None

    def predict(self, X: Any) -> np.ndarray:
        made = self._made("predict", X)
        return made if made is not None else self.cfe.predict(X, self.is_oos, self.oos_method, n_jobs=self.n_jobs)


class _ClassifierScoringView(ClassifierMixin, _ScoringView):
    @property
    def classes_(self) -> np.ndarray:
        return self.cfe.classes_

    def predict_proba(self, X: Any) -> np.ndarray:
        made = self._made("predict_proba", X)
        return made if made is not None else self.cfe.predict_proba(X, self.is_oos, self.oos_method, n_jobs=self.n_jobs)


class _RegressorScoringView(RegressorMixin, _ScoringView):
    pass


def _response_methods(scorer: Any, view: _ScoringView) -> list[str]:
    """The methods a scikit-learn scorer will call on the view (none known for custom callables)."""
    response = getattr(scorer, "_response_method", None)
    candidates = (response,) if isinstance(response, str) else tuple(response or ())
    # sklearn takes the first method the estimator has; the views have no decision_function.
    available = [m for m in candidates if m in ("predict", "predict_proba") and hasattr(view, m)]
    return available[:1]


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
    n_jobs: int | str | None = None,
) -> dict[str, float]:
    """Scores of all models of one kind, keyed as metalearners keys them.

    With ``n_jobs``, the predictions every scorer needs are made first, all at once
    (models and rows in parallel); the scores are those of the serial evaluation.
    """
    named = [
        (scorer if isinstance(scorer, str) else f"custom_scorer_{idx}", get_scorer(scorer) if isinstance(scorer, str) else scorer)
        for idx, scorer in enumerate(scorers)
    ]
    views, inputs = [], []
    for i, cfe in enumerate(cfes):
        view_class = _ClassifierScoringView if cfe._is_classifier else _RegressorScoringView
        views.append(view_class(cfe, is_oos, oos_method, n_jobs))
        inputs.append(select_columns(Xs[i], feature_set))
    if n_jobs is not None:
        batch = PredictionBatch(n_jobs)
        for view, X in zip(views, inputs):
            for method in sorted({m for _, score in named for m in _response_methods(score, view)}):
                view.prefetched[method] = (X, batch.add(view.cfe, X, is_oos, method, oos_method))
        batch.run()
    metrics: dict[str, float] = {}
    for name_of_scorer, score in named:
        for i, (view, X) in enumerate(zip(views, inputs)):
            if is_treatment_model:
                index = f"{i + 1}_vs_0_"
            else:
                index = "" if len(cfes) == 1 else f"{i}_"
            kwargs = {"sample_weight": sample_weights[i]} if sample_weights else {}
            metrics[f"{model_kind}_{index}{name_of_scorer}"] = score(view, X, ys[i], **kwargs)
    return metrics


def _evaluate_propensity(
    learner: MetaLearner, X: Any, w: np.ndarray, is_oos: bool, oos_method: OosMethod, scoring: dict,
    n_jobs: int | str | None = None,
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
        n_jobs=n_jobs,
    )
