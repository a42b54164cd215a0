"""The checks and numerics that `data_generation` and `outcome_functions` share: the
unseeded default generator, probability and propensity-score validation (the same
checks, in the same order and with the same message text as ``metalearners._utils``,
with the offending value added after it), the sigmoid, and the one-hot dimension of a
feature matrix. Follows ``metalearners`` 0.13 (QuantCo, BSD-3-Clause).
"""

from __future__ import annotations

from operator import le, lt
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import check_array

#: The generator used when a caller passes ``rng=None`` (unseeded, like the package's).
default_rng = np.random.default_rng()


def check_probability(
    p: float, zero_included: bool = False, one_included: bool = False, name: str = "p"
) -> None:
    """Raise a ``ValueError`` unless ``p`` lies in (0, 1), each end included on request."""
    allowed = (
        f"{'0 <=' if zero_included else '0 <'} {name} {'<= 1' if one_included else '< 1'}"
    )
    if np.isnan(p):
        raise ValueError(
            f"Invalid input! Probability p should not be NaN. Got {name}={p}; allowed: {allowed}."
        )
    left = le if zero_included else lt
    right = le if one_included else lt
    if not left(0, p):
        raise ValueError(
            "Probability p must be greater than or equal to 0. "
            f"Got {name}={p}; allowed: {allowed}."
        )
    if not right(p, 1):
        raise ValueError(
            "Probability p must be less than or equal to 1. "
            f"Got {name}={p}; allowed: {allowed}."
        )


def get_n_variants(propensity_scores: Any) -> int:
    """2 for a vector or a single column of scores, else the number of columns."""
    shape = propensity_scores.shape
    return 2 if len(shape) == 1 or shape[1] == 1 else shape[1]


def convert_and_pad_propensity_score(propensity_scores: Any, n_variants: int) -> np.ndarray:
    """A numpy matrix of scores; a binary design's single column becomes ``[1 - p, p]``."""
    if isinstance(propensity_scores, (pd.Series, pd.DataFrame)):
        propensity_scores = propensity_scores.to_numpy()
    is_1d = len(propensity_scores.shape) == 1 or propensity_scores.shape[1] == 1
    if n_variants == 2 and is_1d:
        propensity_scores = np.c_[1 - propensity_scores, propensity_scores]
    return propensity_scores


def check_propensity_score(
    propensity_scores: np.ndarray,
    n_variants: int = 2,
    sum_to_one: bool = False,
    sum_tolerance: float = 0.001,
) -> None:
    """One score per variant, finite, strictly inside (0, 1), and (on request) rows summing to 1."""
    if len(propensity_scores.shape) < 2 or propensity_scores.shape[1] != n_variants:
        raise ValueError(
            f"One propensity score must be provided for each variant. "
            f"There are {n_variants} but the shape of the propensity "
            f"scores is {propensity_scores.shape}."
        )
    # scikit-learn's check: rejects NaN, infinities and empty input, as the package does.
    check_array(propensity_scores)
    low, high = np.min(propensity_scores), np.max(propensity_scores)
    if not 0.0 < low <= high < 1.0:
        raise ValueError(
            f"Propensity scores have to be between 0 and 1. Minimum is "
            f"{low:.4f} and maximum is {high:.4f}. Allowed: 0 < score < 1."
        )
    if sum_to_one:
        row_sums = np.sum(propensity_scores, axis=1)
        min_sum, max_sum = np.min(row_sums), np.max(row_sums)
        if not 1 - sum_tolerance < min_sum <= max_sum < 1 + sum_tolerance:
            raise ValueError(
                f"Propensity scores for all observations must sum to 1. "
                f"Minimum is {min_sum:.4f} and maximum is {max_sum:.4f}. "
                f"Allowed: within {sum_tolerance} of 1."
            )


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))``, written as the package writes it (same bits)."""
    return 1 / (1 + np.exp(-x))


def get_linear_dimension(X: Any) -> int:
    """The ``dim`` an outcome function needs for ``X``: numerical columns plus every
    category of every categorical column (pandas), else the number of columns."""
    if isinstance(X, pd.DataFrame):
        categorical = X.select_dtypes(include="category")
        n_categories = sum(len(X[c].cat.categories) for c in categorical.columns)
        return len(set(X.columns) - set(categorical)) + n_categories
    return X.shape[1]
