"""Helpers of the public API: learner lookup by prefix, output simplification, and
FixedBinaryPropensity (a propensity model that predicts one fixed score, as in
``metalearners.utils``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from metalearners_core._utils import n_rows
from metalearners_core.drlearner import DRLearner
from metalearners_core.metalearner import MetaLearner
from metalearners_core.rlearner import RLearner
from metalearners_core.slearner import SLearner
from metalearners_core.tlearner import TLearner
from metalearners_core.xlearner import XLearner

_LEARNERS: dict[str, type[MetaLearner]] = {
    "S": SLearner,
    "T": TLearner,
    "X": XLearner,
    "R": RLearner,
    "DR": DRLearner,
}


def metalearner_factory(metalearner_prefix: str) -> type[MetaLearner]:
    """The learner class for a prefix: "S", "T", "X", "R" or "DR"."""
    try:
        return _LEARNERS[metalearner_prefix]
    except (KeyError, TypeError):
        raise ValueError(
            f"No MetaLearner implementation found for prefix {metalearner_prefix}. "
            f"Choose one of {list(_LEARNERS)}."
        ) from None


def simplify_output(tensor: np.ndarray) -> np.ndarray:
    """Drop the dimensions of a CATE tensor (n_obs, n_variants - 1, n_outputs) that are 1.

    Binary classification keeps the positive class's effect.
    """
    if tensor.ndim != 3:
        raise ValueError(f"Output needs to be 3-dimensional but is {tensor.ndim}-dimensional.")
    n_obs, n_variants, n_outputs = tensor.shape
    if n_variants == 1 and n_outputs == 1:
        return tensor.reshape(n_obs)
    if n_variants == 1 and n_outputs == 2:
        return tensor[:, 0, 1].reshape(n_obs)
    if n_variants == 1:
        return tensor.reshape(n_obs, n_outputs)
    if n_outputs == 1:
        return tensor.reshape(n_obs, n_variants)
    if n_outputs == 2:
        return tensor[:, :, 1].reshape(n_obs, n_variants)
    return tensor


class FixedBinaryPropensity(ClassifierMixin, BaseEstimator):
    """Binary classifier propensity dummy model which outputs a fixed propensity,
    independently of covariates."""

    def __init__(self, propensity_score: float) -> None:
        if not 0 <= propensity_score <= 1:
            raise ValueError(
                f"Expected a propensity score between 0 and 1 but got {propensity_score}."
            )
        self.propensity_score = propensity_score

    def fit(self, X: Any, y: Any) -> FixedBinaryPropensity:
        self.classes_ = np.unique(y)  # scikit-learn's classifiers expose their classes
        if (n_classes := len(self.classes_)) > 2:
            raise ValueError(
                f"FixedBinaryPropensityModel only supports binary outcomes but {n_classes} were provided ."
            )
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=1)

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.full((n_rows(X), 2), [1 - self.propensity_score, self.propensity_score])
