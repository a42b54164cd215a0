"""What a learner's predict, predict_conditional_average_outcomes and evaluate ask of their models, gathered and run at once.

:class:`PredictionBatch` collects requests (one cross-fit estimator's predictions of
some rows of X, in or out of sample) and runs all of them in one go through
:func:`metalearners_core.cross_fit_estimator.predict_many`, so that every base-model
prediction of the call (models x row chunks) shares one pool, or none: ``n_jobs``
decides (:mod:`metalearners_core._execution.predict`). A request returns a thunk that
gives its predictions once the batch has run. :class:`_PredictionMixin` is the part of
:class:`MetaLearner` that makes the requests of its models (feature sets and predict
methods applied, and "own rows in sample, the others out of sample" for the learners
whose models trained on some rows only), checks the input of a prediction, and keeps
the package's one-model methods ``predict_nuisance`` and ``predict_treatment``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from metalearners_core._utils import n_rows, select_columns, take_rows, to_numpy_vector, validate_n_jobs
from metalearners_core._validation import as_variant_codes, check_in_sample_rows, validate_features
from metalearners_core.cross_fit_estimator import (
    OVERALL,
    CrossFitEstimator,
    OosMethod,
    PredictionRequest,
    predict_many,
    validate_oos_method,
)

Thunk = Callable[[], np.ndarray]


class PredictionBatch:
    """Requests of one prediction call, run at once with ``n_jobs`` (see the module)."""

    def __init__(self, n_jobs: int | str | None = None) -> None:
        self.n_jobs = n_jobs
        self._requests: list[PredictionRequest] = []
        self._results: list[np.ndarray] | None = None

    def add(self, estimator: CrossFitEstimator, X: Any, is_oos: bool, method: str, oos_method: OosMethod | None) -> Thunk:
        self._requests.append(PredictionRequest(estimator, X, is_oos, method, oos_method))
        index = len(self._requests) - 1
        return lambda: self._result(index)

    def _result(self, index: int) -> np.ndarray:
        if self._results is None:
            raise RuntimeError("A prediction was read before its batch ran.")
        return self._results[index]

    def run(self) -> None:
        self._results = predict_many(self._requests, self.n_jobs)


class _PredictionMixin:
    """Requests of a :class:`MetaLearner`'s models, and the checks before a prediction."""

    def _nuisance_request(
        self, batch: PredictionBatch, model_kind: str, model_ord: int, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL
    ) -> Thunk:
        method = self.nuisance_model_specifications()[model_kind]["predict_method"](self)
        model = self._nuisance_models[model_kind][model_ord]
        return batch.add(model, select_columns(X, self.feature_set[model_kind]), is_oos, method, oos_method)

    def _treatment_request(
        self, batch: PredictionBatch, model_kind: str, model_ord: int, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL
    ) -> Thunk:
        model = self._treatment_models[model_kind][model_ord]
        return batch.add(model, select_columns(X, self.feature_set[model_kind]), is_oos, "predict", oos_method)

    @staticmethod
    def _own_and_other(request: Callable[..., Thunk], X: Any, own_rows: np.ndarray, oos_method: OosMethod) -> Thunk:
        """Predictions of every row of X by a model that trained on ``own_rows`` only: those
        in sample (out of fold), the others out of sample with ``oos_method``."""
        own = request(take_rows(X, own_rows), False)
        other = request(take_rows(X, ~own_rows), True, oos_method) if (~own_rows).any() else None

        def combined() -> np.ndarray:
            values = own()
            full = np.zeros((n_rows(X), *values.shape[1:]))
            full[own_rows] = values
            if other is not None:
                full[~own_rows] = other()
            return full

        return combined

    def _variant_outcome_request(
        self, batch: PredictionBatch, kind: str, variant: int, X: Any, is_oos: bool, oos_method: OosMethod
    ) -> Thunk:
        """A per-variant model's predictions of every row of X: out of sample, or in sample
        where its own variant's rows are predicted out of fold."""
        request = partial(self._nuisance_request, batch, kind, variant)
        if is_oos:
            return request(X, True, oos_method)
        return self._own_and_other(request, X, self._treatment_variants_mask[variant], oos_method)

    def predict_nuisance(
        self, X: Any, model_kind: str, model_ord: int, is_oos: bool, oos_method: OosMethod = OVERALL
    ) -> np.ndarray:
        """Predictions of one nuisance model (its own feature set applied)."""
        method = self.nuisance_model_specifications()[model_kind]["predict_method"](self)
        model = self._nuisance_models[model_kind][model_ord]
        return getattr(model, method)(select_columns(X, self.feature_set[model_kind]), is_oos, oos_method)

    def predict_treatment(
        self, X: Any, model_kind: str, model_ord: int, is_oos: bool, oos_method: OosMethod = OVERALL
    ) -> np.ndarray:
        """Predictions of one treatment model (its own feature set applied)."""
        model = self._treatment_models[model_kind][model_ord]
        return model.predict(select_columns(X, self.feature_set[model_kind]), is_oos, oos_method)

    def _start_evaluate(self, X: Any, y: Any, w: Any, n_jobs: int | str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """y and w as numpy vectors (w as variant codes) for evaluate and ATEs, after checking X's columns."""
        validate_n_jobs(n_jobs, "n_jobs")
        validate_features(X, self.feature_set.values())
        return to_numpy_vector(y, "y"), as_variant_codes(to_numpy_vector(w, "w"))

    def _start_predict(self, X: Any, is_oos: bool, oos_method: Any, n_jobs: int | str | None = None) -> None:
        validate_n_jobs(n_jobs, "n_jobs")
        validate_oos_method(oos_method)
        check_in_sample_rows(self, X, is_oos)
        validate_features(X, self.feature_set.values())
