"""Synthetic experiments with a known true CATE, as ``metalearners.data_generation``
offers them: covariates (numerical features from a Gaussian with a Wishart-drawn
covariance, categorical features drawn uniformly or binomially over their categories,
as numpy or pandas with category dtype), missing values, treatment assignment from
propensity scores, and observed outcomes plus true CATE from a matrix of potential
outcomes (see :mod:`metalearners_core.outcome_functions`). Same signatures, defaults,
return types, errors and random draws as the package: for the same inputs and the same
``np.random.Generator`` state every function returns the package's arrays bit for bit.
Follows ``metalearners`` 0.13 (QuantCo, BSD-3-Clause).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import wishart

from metalearners_core import _synthetic_utils
from metalearners_core._synthetic_utils import (
    check_probability,
    check_propensity_score,
    convert_and_pad_propensity_score,
    get_n_variants,
    sigmoid,
)

Matrix = Any  # numpy array or pandas DataFrame
Vector = Any  # numpy array or pandas Series

_FORMATS = ["numpy", "pandas"]


def _rng_or_default(rng: np.random.Generator | None) -> np.random.Generator:
    return _synthetic_utils.default_rng if rng is None else rng


def generate_categoricals(
    n_obs: int,
    n_features: int,
    n_categories: int | np.ndarray | None = None,
    n_uniform: int | None = None,
    p_binomial: float = 0.5,
    use_strings: bool = False,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``n_obs`` rows of ``n_features`` categorical features, and each one's number of categories.

    The first ``n_uniform`` features (all when None) are uniform over their categories;
    the others are ``Binomial(c_i - 1, p_binomial)``. ``n_categories`` is one count for
    all features, one per feature, or None (each drawn from ``{2, ..., 10}``).
    Values are ``np.int64`` codes, or their strings when ``use_strings``.
    """
    rng = _rng_or_default(rng)
    check_probability(p_binomial, name="p_binomial")

    if n_categories is None:
        n_categories = rng.integers(low=2, high=10, size=n_features, endpoint=True)
    n_categories = np.broadcast_to(n_categories, n_features)

    if n_uniform is None:
        n_uniform = n_features

    dtype = str if use_strings else np.int64
    balanced = np.array([], dtype=dtype).reshape(n_obs, 0)
    unbalanced = np.array([], dtype=dtype).reshape(n_obs, 0)
    if n_uniform > 0:
        balanced = rng.integers(
            low=0, high=n_categories[:n_uniform], size=(n_obs, n_uniform)
        ).astype(dtype)
    if (n_non_uniform := n_features - n_uniform) > 0:
        unbalanced = rng.binomial(
            n_categories[n_uniform:] - 1, p_binomial, size=(n_obs, n_non_uniform)
        ).astype(dtype)
    return np.concatenate([balanced, unbalanced], axis=1), n_categories


def generate_numericals(
    n_obs: int,
    n_features: int,
    mu: float | np.ndarray | None = None,
    wishart_scale: float = 1,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """``n_obs`` rows of ``n_features`` numerical features drawn from ``N(mu, Sigma)``.

    ``mu`` is one mean, one per feature, or None (each drawn from ``U[-5, 5]``);
    ``Sigma ~ Wishart(n_features, wishart_scale * I)``, or ``I`` when
    ``wishart_scale`` is 0 (it must be >= 0).
    """
    rng = _rng_or_default(rng)
    if mu is None:
        mu = rng.uniform(-5, 5, size=n_features)
    mu = np.broadcast_to(mu, n_features)
    if wishart_scale < 0:
        raise ValueError(
            f"wishart_scale needs to be >= 0, got {wishart_scale} "
            "(0 means an identity covariance)."
        )
    if wishart_scale > 0:
        cov_matrix = wishart.rvs(
            df=n_features, scale=wishart_scale * np.eye(n_features), random_state=rng
        ).reshape(n_features, n_features)
    else:
        cov_matrix = np.eye(n_features)
    return rng.multivariate_normal(mean=mu, cov=cov_matrix, size=n_obs)


def generate_covariates(
    n_obs: int,
    n_features: int,
    n_categoricals: int = 0,
    format: Literal["pandas", "numpy"] = "pandas",
    mu: float | np.ndarray | None = None,
    wishart_scale: float = 1,
    n_categories: int | np.ndarray | None = None,
    n_uniform: int | None = None,
    p_binomial: float = 0.5,
    use_strings: bool = False,
    rng: np.random.Generator | None = None,
) -> tuple[Matrix, list[int], np.ndarray]:
    """Covariates: the first ``n_features - n_categoricals`` numerical, the rest categorical.

    Numerical columns come from :func:`generate_numericals` (``mu``,
    ``wishart_scale``), categorical ones from :func:`generate_categoricals`
    (``n_categories``, ``n_uniform``, ``p_binomial``, ``use_strings``, the latter
    only with ``format="pandas"``). Returns the covariates (a pandas DataFrame whose
    categorical columns have category dtype listing every category, sampled or not;
    or a float64 numpy array), the categorical columns' positions, and each
    categorical feature's number of categories.
    """
    rng = _rng_or_default(rng)
    if format not in _FORMATS:
        raise ValueError(f"format needs to be one of {_FORMATS}, got {format!r}.")
    if format == "numpy" and use_strings:
        raise ValueError(
            "if format is numpy then use_strings must be False "
            "(string categories need format='pandas')."
        )

    numerical_features = np.array([]).reshape(n_obs, 0)
    categorical_features = np.array([]).reshape(n_obs, 0)
    if n_features - n_categoricals > 0:
        numerical_features = generate_numericals(
            n_obs=n_obs,
            n_features=n_features - n_categoricals,
            mu=mu,
            wishart_scale=wishart_scale,
            rng=rng,
        )
    if n_categoricals > 0:
        categorical_features, n_categories = generate_categoricals(
            n_obs=n_obs,
            n_features=n_categoricals,
            n_categories=n_categories,
            n_uniform=n_uniform,
            p_binomial=p_binomial,
            use_strings=use_strings,
            rng=rng,
        )
    else:
        n_categories = np.array([])

    categorical_features_idx = list(range(n_features - n_categoricals, n_features))
    if format == "numpy":
        return (
            np.concatenate([numerical_features, categorical_features], axis=1),
            categorical_features_idx,
            n_categories,
        )

    features = pd.concat(
        [pd.DataFrame(numerical_features), pd.DataFrame(categorical_features)],
        axis=1,
        ignore_index=True,
    )
    features[categorical_features_idx] = features[categorical_features_idx].astype(
        "category"
    )
    for i, column in enumerate(categorical_features_idx):
        # Every category, also the unsampled ones: a one-hot encoding of these
        # covariates (as the outcome functions do) must have a fixed width.
        categories: list = list(range(n_categories[i]))
        if use_strings:
            categories = list(map(str, categories))
        features[column] = features[column].cat.set_categories(categories)
    return features, categorical_features_idx, n_categories


def insert_missing(
    X: Matrix,
    missing_probability: float = 0.1,
    rng: np.random.Generator | None = None,
) -> Matrix:
    """A copy of ``X`` where each element is NaN with probability ``missing_probability``."""
    rng = _rng_or_default(rng)
    check_probability(missing_probability, zero_included=True, name="missing_probability")
    missing_mask = rng.binomial(1, p=missing_probability, size=X.shape).astype("bool")
    masked = X.copy()
    masked[missing_mask] = np.nan
    return masked


def generate_treatment(
    propensity_scores: np.ndarray, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Each row's treatment variant, drawn from its propensity scores.

    ``propensity_scores`` is ``(n_obs,)`` or ``(n_obs, 1)`` (the probability of
    variant 1 of 2) or ``(n_obs, n_variants)`` with rows summing to 1. Returns an
    ``(n_obs,)`` integer array of variants ``0..n_variants-1``.
    """
    rng = _rng_or_default(rng)
    n_variants = get_n_variants(propensity_scores)
    propensity_scores = convert_and_pad_propensity_score(propensity_scores, n_variants)
    check_propensity_score(propensity_scores, n_variants=n_variants, sum_to_one=True)
    return rng.multinomial(1, propensity_scores).argmax(axis=1)


def compute_experiment_outputs(
    mu: np.ndarray,
    treatment: Vector,
    sigma_y: float = 1,
    sigma_tau: float = 0.5,
    n_variants: int | None = None,
    is_classification: bool = False,
    positive_proportion: float = 0.5,
    return_probability_cate: bool = False,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The observed outcomes ``y`` and the true CATE, from the potential outcomes ``mu``.

    ``mu`` is ``(n_obs, n_variants)`` without noise; ``treatment`` holds each row's
    variant (``n_variants`` defaults to its maximum + 1). ``y`` is the treated
    potential outcome plus ``N(0, sigma_y)`` noise plus ``N(0, sigma_tau)`` effect
    noise for treated rows; the true CATE ``(n_obs, n_variants - 1)`` is noise-free.
    With ``is_classification`` (binary treatments only) the outcomes pass a sigmoid
    centred so that about ``positive_proportion`` of them are positive, ``y`` is a
    Bernoulli draw, and the CATE is a difference of probabilities
    (``return_probability_cate``) or of Bernoulli draws.
    """
    rng = _rng_or_default(rng)
    if isinstance(treatment, pd.Series):
        treatment = treatment.to_numpy()
    if n_variants is None:
        n_variants = np.max(treatment) + 1

    n_obs = mu.shape[0]
    if mu.shape[1] != n_variants:
        raise ValueError(
            f"mu should be a matrix where the second dimension has size n_variants. "
            f"n_variants is {n_variants} and mu is a matrix of shape {mu.shape}"
        )

    true_cate = mu[:, 1:] - mu[:, 0].reshape(-1, 1)
    true_y = mu[np.arange(n_obs), treatment]
    # Drawn in the package's order (and also when sigma_tau is 0) so that the same
    # generator state gives the same arrays.
    y_noise = rng.normal(loc=0, scale=sigma_y, size=n_obs)
    tau_noise = np.c_[
        np.zeros(n_obs),
        rng.normal(loc=0, scale=sigma_tau, size=(n_obs, n_variants - 1)),
    ]
    y = true_y + y_noise + tau_noise[np.arange(n_obs), treatment]

    if is_classification:
        if n_variants > 2:
            raise ValueError(
                "Generating classification problems is only implemented for binary "
                f"treatments; got n_variants={n_variants}."
            )
        normalizer = np.quantile(true_y, 1 - positive_proportion)
        if return_probability_cate:
            true_cate = sigmoid(mu[:, 1] - normalizer) - sigmoid(mu[:, 0] - normalizer)
        else:
            true_cate = rng.binomial(n=1, p=sigmoid(mu[:, 1] - normalizer)) - rng.binomial(
                n=1, p=sigmoid(mu[:, 0] - normalizer)
            )
        true_cate = true_cate.reshape(-1, 1)
        y = rng.binomial(n=1, p=sigmoid(y - normalizer))

    return y, true_cate
