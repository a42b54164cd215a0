"""Potential-outcome functions with a known treatment effect, as
``metalearners.outcome_functions`` offers them: each call draws linear coefficients
from ``U[ulow, uhigh]`` and returns ``f(X) -> (n_obs, n_variants)`` potential
outcomes, linear in ``X`` (pandas categoricals one-hot encoded, so ``dim`` counts
numerical columns plus every category) with no, a constant, or a linear treatment
effect. Feed ``f(X)`` to :func:`metalearners_core.data_generation.compute_experiment_outputs`.
Same signatures, defaults, errors and random draws as the package, so the same
generator state gives the same functions.
Follows ``metalearners`` 0.13 (QuantCo, BSD-3-Clause).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from metalearners_core import _synthetic_utils

Matrix = Any  # numpy array or pandas DataFrame


def _beta(ulow: float, uhigh: float, dim: tuple | int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(low=ulow, high=uhigh, size=dim)


def _one_hot(X: Matrix) -> np.ndarray:
    """Numerical columns as they are, each categorical column as one float per category."""
    if isinstance(X, pd.DataFrame):
        return pd.get_dummies(X, dtype="float64").to_numpy()
    return X


def _check_n_variants(n_variants: int) -> None:
    if n_variants < 2:
        raise ValueError(
            f"n_variants needs to be an integer greater or equal to 2, got {n_variants}."
        )


def constant_treatment_effect(
    dim: int,
    tau: float | np.ndarray,
    ulow: float = 0,
    uhigh: float = 1,
    rng: np.random.Generator | None = None,
) -> Callable:
    """``f(X) = [X b, X b + tau_1, ..., X b + tau_{K-1}]`` with ``b ~ U[ulow, uhigh]^dim``.

    ``tau`` is one effect (two variants) or an array of ``n_variants - 1`` effects.
    """
    if rng is None:
        rng = _synthetic_utils.default_rng
    beta = _beta(ulow, uhigh, dim, rng)
    if isinstance(tau, (int, float)):
        tau = np.array([tau])
    tau = tau.reshape(1, -1)

    def f(X: Matrix) -> np.ndarray:
        mu_0 = np.dot(_one_hot(X), beta)
        return np.c_[mu_0, mu_0.reshape(-1, 1) + tau]

    return f


def no_treatment_effect(
    dim: int,
    n_variants: int = 2,
    ulow: float = 0,
    uhigh: float = 1,
    rng: np.random.Generator | None = None,
) -> Callable:
    """``f(X) = [X b] * n_variants`` with ``b ~ U[ulow, uhigh]^dim``: every CATE is 0."""
    _check_n_variants(n_variants)
    tau = np.broadcast_to(0, n_variants - 1)
    return constant_treatment_effect(dim, tau=tau, ulow=ulow, uhigh=uhigh, rng=rng)


def linear_treatment_effect(
    dim: int,
    n_variants: int = 2,
    ulow: float = 0,
    uhigh: float = 1,
    rng: np.random.Generator | None = None,
) -> Callable:
    """``f(X) = [X b, X b + X B_1, ..., X b + X B_{K-1}]``, ``b``, ``B`` drawn from ``U[ulow, uhigh]``.

    The CATE of variant ``k`` is ``X B_k``: linear in the (one-hot encoded) features.
    """
    _check_n_variants(n_variants)
    if rng is None:
        rng = _synthetic_utils.default_rng
    beta_control = _beta(ulow, uhigh, dim, rng)
    beta = _beta(ulow, uhigh, (dim, n_variants - 1), rng)

    def f(X: Matrix) -> np.ndarray:
        features = _one_hot(X)
        mu_0 = np.dot(features, beta_control)
        return np.c_[mu_0, mu_0.reshape(-1, 1) + np.matmul(features, beta)]

    return f
