"""Cross-fitting: K fold models (+ an overall model) and their in/out-of-sample predictions.

A prediction is a few base-model predictions (:meth:`CrossFitEstimator.prediction_parts`)
combined; :func:`predict_many` runs those of many estimators at once through the
execution layer, so that models and rows of one learner's predict share one pool.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.base import is_classifier
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import KFold, StratifiedKFold

from metalearners_core._execution import CrossFitJob, FittedCrossFit, PredictItem, fit_cross_fit_jobs, run_predictions
from metalearners_core._utils import model_instance, n_rows, take_rows, validate_n_jobs, validate_positive_int

OosMethod = Literal["overall", "mean", "median"]
OVERALL: OosMethod = "overall"
MEDIAN: OosMethod = "median"
_MEAN: OosMethod = "mean"
_OOS_WHITELIST = [OVERALL, MEDIAN, _MEAN]

SplitIndices = Sequence[tuple[np.ndarray, np.ndarray]]


def validate_oos_method(oos_method: Any) -> None:
    if oos_method not in _OOS_WHITELIST:
        raise ValueError(
            f"oos_method {oos_method} not supported. Supported values are {_OOS_WHITELIST}."
        )


def _validate_n_folds(n_folds: Any) -> None:
    if isinstance(n_folds, (int, float, np.number)) and not isinstance(n_folds, bool) and n_folds <= 0:
        raise ValueError(f"n_folds needs to be a strictly positive integer but is {n_folds}.")
    validate_positive_int(n_folds, "n_folds")


def _validate_data_match_prior_split(n_observations: int, test_indices: tuple[np.ndarray, ...] | None) -> None:
    """Data to fit is not empty, and has as many rows as the folds it is fitted with (the package's checks)."""
    if n_observations <= 0:
        raise ValueError(f"n_observations was expected to be strictly positive but was {n_observations}.")
    if test_indices is not None and sum(map(len, test_indices)) != n_observations:
        raise ValueError(
            "CrossFitEstimator is given data to fit X and splits cv which rely on different "
            f"numbers of observations. The splits cover {sum(map(len, test_indices))} rows, X has {n_observations}."
        )


@dataclass
class CrossFitEstimator:
    """``n_folds`` models fitted on the folds of the data, plus one on all of it.

    In-sample predictions of a row come from the model that did not see it.
    Out-of-sample predictions use the overall model (``"overall"``) or combine
    the fold models (``"mean"``, ``"median"``). ``n_folds=1`` disables
    cross-fitting: only the overall model is trained.
    """

    n_folds: int
    estimator_factory: Any
    estimator_params: dict = field(default_factory=dict)
    enable_overall: bool = True
    random_state: int | None = None

    def __post_init__(self) -> None:
        _validate_n_folds(self.n_folds)
        if self.n_folds == 1 and not self.enable_overall:
            raise ValueError(
                "CrossFitting is deactivated as 'n_folds' is set to 1, but 'enable_overall' "
                "is set to 'False'. If you wish to deactivate CrossFitting, please ensure "
                " 'enable_overall' is set to 'True'. (Otherwise no model would be trained.)"
            )
        self.estimator_params = dict(self.estimator_params or {})
        self._estimators: list = []
        self._overall_estimator: Any = None
        self._test_indices: tuple[np.ndarray, ...] | None = None
        self._n_classes: int | None = None
        self.classes_: np.ndarray | None = None

    @property
    def _is_classifier(self) -> bool:
        return is_classifier(model_instance(self.estimator_factory, self.estimator_params))

    @property
    def _estimator_type(self) -> str:
        return "classifier" if self._is_classifier else "regressor"

    def clone(self) -> CrossFitEstimator:
        """A new, unfitted estimator with the same parameters."""
        return CrossFitEstimator(
            n_folds=self.n_folds,
            estimator_factory=self.estimator_factory,
            estimator_params=self.estimator_params,
            enable_overall=self.enable_overall,
            random_state=self.random_state,
        )

    # -- fitting --------------------------------------------------------------------

    def splits(self, X: Any, y: Any, cv: SplitIndices | None = None) -> SplitIndices:
        """The (train, test) folds: ``cv`` if given, else a shuffled (stratified) K-fold."""
        if self.n_folds == 1:
            return []
        if cv is not None:
            return [(np.asarray(train), np.asarray(test)) for train, test in cv]
        splitter = StratifiedKFold if self._is_classifier else KFold
        return list(
            splitter(n_splits=self.n_folds, shuffle=True, random_state=self.random_state).split(
                X, y
            )
        )

    def job(
        self,
        X: Any,
        y: Any,
        fit_params: dict | None = None,
        cv: SplitIndices | None = None,
        stage: str = "nuisance",
        model_kind: str = "model",
        model_ord: int = 0,
    ) -> CrossFitJob:
        """This estimator's fits, as a job for the execution layer."""
        if n_rows(X) != n_rows(y):
            raise ValueError(
                f"X has {n_rows(X)} rows but y has {n_rows(y)}; they must have the same length."
            )
        return CrossFitJob(
            stage=stage,
            model_kind=model_kind,
            model_ord=model_ord,
            estimator_factory=self.estimator_factory,
            estimator_params=self.estimator_params,
            X=X,
            y=y,
            fit_params=dict(fit_params or {}),
            splits=self.splits(X, y, cv),
            fit_overall=self.enable_overall,
        )

    def adopt(self, job: CrossFitJob, fitted: FittedCrossFit) -> CrossFitEstimator:
        """Take the fitted models of ``job`` as this estimator's state."""
        self._estimators = fitted.estimators
        self._overall_estimator = fitted.overall
        self._test_indices = tuple(test for _, test in job.splits) or None
        if self._is_classifier:
            self.classes_ = np.unique(job.y)
            self._n_classes = len(self.classes_)
            for estimator in self._estimators:
                if set(estimator.classes_) != set(self.classes_):
                    raise ValueError(
                        "Some folds in cross-fitting had fewer classes than "
                        "the overall dataset. Please check the cv parameter. If you are "
                        "synchronizing the folds in a MetaLearner consider not doing it."
                    )
        return self

    def fit(
        self,
        X: Any,
        y: Any,
        fit_params: dict | None = None,
        n_jobs_cross_fitting: int | None = None,
        cv: SplitIndices | None = None,
    ) -> CrossFitEstimator:
        """Fit one model per fold and, with ``enable_overall``, one on all rows."""
        _validate_data_match_prior_split(n_rows(X), self._test_indices)
        job = self.job(X, y, fit_params, cv)
        (fitted,) = fit_cross_fit_jobs([job], n_jobs_cross_fitting=n_jobs_cross_fitting)
        return self.adopt(job, fitted)

    # -- prediction -----------------------------------------------------------------

    def _n_outputs(self, method: str) -> int:
        if method == "predict_proba" and self._n_classes:
            return self._n_classes
        return 1

    def _stacked(self, fold_predictions: Sequence[np.ndarray], n_obs: int, method: str) -> np.ndarray:
        """Every fold model's predictions of the same rows, stacked on the last axis."""
        n_outputs = self._n_outputs(method)
        predictions = np.stack([np.reshape(p, (n_obs, n_outputs)) for p in fold_predictions], axis=-1)
        return predictions[:, 0, :] if n_outputs == 1 else predictions

    def _check_in_sample_rows(self, X: Any) -> None:
        expected = sum(len(fold) for fold in self._test_indices or ())
        if n_rows(X) != expected:
            raise ValueError(
                "Trying to predict in-sample on data that is unlike data encountered in training. "
                f"Training data included {expected} observations while prediction data includes "
                f"{n_rows(X)} observations. Use is_oos=True for new data."
            )

    def in_sample_from(self, fold_predictions: Sequence[np.ndarray], method: str) -> np.ndarray:
        """In-sample predictions from each fold model's predictions of its held-out rows."""
        n_outputs = self._n_outputs(method)
        predictions = np.zeros((sum(map(len, self._test_indices)), n_outputs))
        for fold_prediction, rows in zip(fold_predictions, self._test_indices):
            predictions[rows] = np.reshape(fold_prediction, (len(rows), n_outputs))
        return predictions[:, 0] if n_outputs == 1 else predictions

    def prediction_parts(
        self, X: Any, is_oos: bool, method: str, oos_method: OosMethod | None
    ) -> tuple[list[tuple[Any, Any]], Callable[[list], np.ndarray]]:
        """The base-model predictions a prediction needs, as (model, rows of X) pairs, and
        how their results combine into it (the checks of the package first)."""
        if self._overall_estimator is None and not self._estimators:
            raise ValueError("This CrossFitEstimator is not fitted yet; call fit first.")
        only = lambda predictions: predictions[0]  # noqa: E731
        if not is_oos:
            if self.n_folds == 1:
                warnings.warn(
                    "Cross-fitting is deactivated. Using overall model for in sample predictions.",
                    stacklevel=5,
                )
                return [(self._overall_estimator, X)], only
            self._check_in_sample_rows(X)
            parts = [(estimator, take_rows(X, rows)) for estimator, rows in zip(self._estimators, self._test_indices)]
            return parts, lambda predictions: self.in_sample_from(predictions, method)
        validate_oos_method(oos_method)
        if oos_method == OVERALL:
            if not self.enable_overall:
                raise ValueError(
                    "In order to use 'overall' prediction method, the estimator's "
                    "enable_overall property has to be set to True."
                )
            return [(self._overall_estimator, X)], only
        if self.n_folds == 1:
            raise ValueError(
                'Cross-fitting is deactivated and therefore only the ``"overall"`` prediction method '
                "can be used. (n_folds=1)"
            )
        every_fold = [(estimator, X) for estimator in self._estimators]
        if oos_method == _MEAN:
            if method != "predict_proba" and self.classes_ is not None:  # fitted classifiers have classes_
                raise ValueError("Cannot create a mean of classes. Please use a different oos_method.")
            return every_fold, lambda predictions: self._stacked(predictions, n_rows(X), method).mean(axis=-1)
        if method == "predict_proba":
            raise ValueError(
                "Cannot create median of class probabilities. Please use a different oos_method."
            )
        return every_fold, lambda predictions: np.median(self._stacked(predictions, n_rows(X), method), axis=-1)

    def _predict(
        self, X: Any, is_oos: bool, method: str, oos_method: OosMethod | None, n_jobs: int | str | None
    ) -> np.ndarray:
        (prediction,) = predict_many([PredictionRequest(self, X, is_oos, method, oos_method)], n_jobs)
        return prediction

    def predict(
        self, X: Any, is_oos: bool, oos_method: OosMethod | None = None, n_jobs: int | str | None = None, **kwargs: Any
    ) -> np.ndarray:
        """Predict from ``X``; ``is_oos=False`` means ``X`` are the training rows.

        ``n_jobs`` (None: serial; an int; ``"auto"``): the base models' predictions in
        parallel, models and row chunks (:mod:`metalearners_core._execution.predict`);
        the answer is the serial one.
        """
        return self._predict(X, is_oos, "predict", oos_method, n_jobs)

    def predict_proba(
        self, X: Any, is_oos: bool, oos_method: OosMethod | None = None, n_jobs: int | str | None = None
    ) -> np.ndarray:
        """Class probabilities; ``is_oos=False`` means ``X`` are the training rows."""
        return self._predict(X, is_oos, "predict_proba", oos_method, n_jobs)

    def set_params(self, **params: Any) -> None:
        raise NotImplementedError("CrossFitEstimator does not support set_params; build a new one.")

    def score(
        self,
        X: Any,
        y: Any,
        is_oos: bool,
        oos_method: OosMethod | None = None,
        sample_weight: Any = None,
    ) -> float:
        """Accuracy for classifiers, R^2 for regressors."""
        metric = accuracy_score if self._is_classifier else r2_score
        return metric(y, self.predict(X, is_oos, oos_method), sample_weight=sample_weight)


@dataclass(frozen=True)
class PredictionRequest:
    """One cross-fit estimator's predictions of ``X``, in or out of sample."""

    estimator: CrossFitEstimator
    X: Any
    is_oos: bool
    method: str  # "predict" | "predict_proba"
    oos_method: OosMethod | None = None


def predict_many(requests: Sequence[PredictionRequest], n_jobs: int | str | None = None) -> list[np.ndarray]:
    """Every request's predictions, all their base-model predictions run at once
    (:func:`metalearners_core._execution.run_predictions`), each combined as alone."""
    validate_n_jobs(n_jobs, "n_jobs")
    parts = [r.estimator.prediction_parts(r.X, r.is_oos, r.method, r.oos_method) for r in requests]
    items = [
        PredictItem(model, request.method, X)
        for request, (models, _) in zip(requests, parts)
        for model, X in models
    ]
    flat = run_predictions(items, n_jobs)
    results, start = [], 0
    for models, combine in parts:
        results.append(combine(flat[start : start + len(models)]))
        start += len(models)
    return results
