"""Synthetic data with a known true CATE, deterministic by seed, and the CATE error.

The data sets are kept on disk by :mod:`scenarios.cache` (:func:`load_data`).

The generating process (version :data:`scenarios.spec.DATA_GENERATOR_VERSION`), with
``X ~ N(0, I_p)``, ``m = min(p, 5)`` active features and ``K`` variants:

- baseline ``mu0(X) = X[:, :m] @ a + 0.5 sin(X_0) + 0.25 (X_1^2 - 1)`` (mildly
  nonlinear; feature indices wrap around when ``p`` is small);
- effect of variant ``k = 1..K-1`` against control ``0``, with intercepts ``c_k``
  rising from 0.5 to 1.0 over the variants:

  * ``constant``:  ``tau_k(X) = c_k``
  * ``linear``:    ``tau_k(X) = c_k + X[:, :m] @ beta_k`` (sparse: first m features)
  * ``nonlinear``: ``tau_k(X) = c_k + b_k . [sin(2 X_0), |X_1| - sqrt(2/pi),
    X_2 X_3, 1{X_4 > 0} - 1/2]``

- treatment: ``randomised`` = a balanced random permutation (uniform over variants,
  independent of X); ``confounded`` = ``0.05 + (1 - 0.05 K) softmax(X[:, :m] @ G)``,
  so every variant keeps probability >= 0.05;
- outcome: ``continuous``: ``y = mu0 + tau_w + N(0, 1)``, true CATE ``tau_k``;
  ``binary``: ``y ~ Bernoulli(sigmoid(mu0 + tau_w))``, true CATE on the probability
  scale ``sigmoid(mu0 + tau_k) - sigmoid(mu0)``.

The function parameters (``a, beta, b, G``), the training rows and the test rows come
from three independent streams spawned from ``SeedSequence(seed)``: the functions do
not depend on ``n_rows``, ``effect``, ``propensity`` or ``outcome``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Union

import numpy as np

from scenarios.spec import DATA_GENERATOR_VERSION, DataSpec, Scenario

DataSource = Union[Scenario, DataSpec, Mapping[str, Any]]

#: Largest held-out test set.
MAX_TEST_ROWS = 20_000
#: Smallest propensity of any variant under a confounded design.
PROPENSITY_FLOOR = 0.05
_N_ACTIVE = 5
_N_NONLINEAR_TERMS = 4
#: The array fields of :class:`SyntheticData` (what the cache stores).
ARRAY_FIELDS = ("X", "y", "w", "cate", "X_test", "cate_test")


@dataclasses.dataclass(frozen=True, eq=False)
class SyntheticData:
    """One generated data set with its true CATE.

    Attributes:
        X: features, float64, shape ``(n_rows, n_features)``.
        y: outcome, shape ``(n_rows,)``: float64 (continuous) or int64 in {0, 1}
            (binary).
        w: treatment variant, int64 in ``0..n_variants-1``; every variant present.
        cate: true CATE of variants ``1..K-1`` against ``0`` on the training rows,
            float64, shape ``(n_rows, n_variants - 1)`` (probability scale for a
            binary outcome).
        X_test: held-out features, ``min(n_rows, 20_000)`` rows.
        cate_test: true CATE on ``X_test``.
        spec: the :class:`DataSpec` that generated it (``spec.key`` is the cache key).
    """

    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    cate: np.ndarray
    X_test: np.ndarray
    cate_test: np.ndarray
    spec: DataSpec

    @property
    def key(self) -> str:
        """The data key (cache file stem)."""
        return self.spec.key

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_variants(self) -> int:
        return int(self.cate.shape[1]) + 1

    @property
    def is_classification(self) -> bool:
        return self.spec.outcome == "binary"


def as_data_spec(source: DataSource) -> DataSpec:
    """The :class:`DataSpec` of a scenario, a data spec, or a mapping of fields.

    A mapping is read as a full scenario dict when it has a ``learner`` key, else as
    data fields only (unknown keys raise a ``ValueError``).
    """
    if isinstance(source, DataSpec):
        return source
    if isinstance(source, Scenario):
        return source.data_spec
    if isinstance(source, Mapping):
        if "learner" in source:
            return Scenario.from_dict(source).data_spec
        return DataSpec.from_dict(source)
    raise TypeError(
        f"expected a Scenario, DataSpec or mapping of data fields, got {type(source).__name__}"
    )


# --------------------------------------------------------------------------- model


@dataclasses.dataclass(frozen=True)
class _Params:
    """Parameters of the generating functions (drawn from their own stream)."""

    a: np.ndarray  # (m,) baseline coefficients
    intercepts: np.ndarray  # (K-1,) c_k
    beta: np.ndarray  # (K-1, m) linear effects
    b: np.ndarray  # (K-1, 4) nonlinear effects
    G: np.ndarray  # (m, K) propensity logits, column 0 zero


def _draw_params(spec: DataSpec, rng: np.random.Generator) -> _Params:
    m = min(spec.n_features, _N_ACTIVE)
    k1 = spec.n_variants - 1
    # Always draw in the same order and amounts so that the parameters depend only
    # on (seed, n_features, n_variants).
    a = rng.normal(0.0, 0.5, size=m)
    beta = rng.normal(0.0, 0.5, size=(k1, m))
    b = rng.normal(0.0, 0.5, size=(k1, _N_NONLINEAR_TERMS))
    G = rng.normal(0.0, 0.5, size=(m, spec.n_variants))
    G[:, 0] = 0.0
    intercepts = 0.5 + 0.5 * np.arange(k1) / max(k1 - 1, 1)
    return _Params(a=a, intercepts=intercepts, beta=beta, b=b, G=G)


def _col(X: np.ndarray, j: int) -> np.ndarray:
    return X[:, j % X.shape[1]]


def _mu0(X: np.ndarray, p: _Params) -> np.ndarray:
    m = p.a.shape[0]
    return X[:, :m] @ p.a + 0.5 * np.sin(_col(X, 0)) + 0.25 * (_col(X, 1) ** 2 - 1.0)


def _tau(X: np.ndarray, p: _Params, effect: str) -> np.ndarray:
    """Effect on the linear-predictor scale, shape ``(n, K-1)``."""
    n = X.shape[0]
    tau = np.broadcast_to(p.intercepts, (n, p.intercepts.shape[0])).copy()
    if effect == "linear":
        m = p.beta.shape[1]
        tau += X[:, :m] @ p.beta.T
    elif effect == "nonlinear":
        terms = np.column_stack(
            [
                np.sin(2.0 * _col(X, 0)),
                np.abs(_col(X, 1)) - np.sqrt(2.0 / np.pi),
                _col(X, 2) * _col(X, 3),
                (_col(X, 4) > 0).astype(np.float64) - 0.5,
            ]
        )
        tau += terms @ p.b.T
    return tau


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


def _true_cate(mu0: np.ndarray, tau: np.ndarray, outcome: str) -> np.ndarray:
    if outcome == "binary":
        return _sigmoid(mu0[:, None] + tau) - _sigmoid(mu0)[:, None]
    return tau


def _propensity(X: np.ndarray, p: _Params, n_variants: int) -> np.ndarray:
    m = p.G.shape[0]
    logits = X[:, :m] @ p.G
    logits -= logits.max(axis=1, keepdims=True)
    soft = np.exp(logits)
    soft /= soft.sum(axis=1, keepdims=True)
    return PROPENSITY_FLOOR + (1.0 - PROPENSITY_FLOOR * n_variants) * soft


def _ensure_all_variants(w: np.ndarray, score: np.ndarray) -> None:
    """In place: give every missing variant one row (only ever needed for tiny data).

    The row moved to a missing variant ``v`` is the one with the highest ``score[:, v]``
    among rows whose own variant has more than one row; deterministic.
    """
    n_variants = score.shape[1]
    for v in range(n_variants):
        counts = np.bincount(w, minlength=n_variants)
        if counts[v] > 0:
            continue
        movable = counts[w] > 1
        candidates = np.flatnonzero(movable)
        w[candidates[np.argmax(score[candidates, v])]] = v


def _ensure_both_classes(y: np.ndarray, w: np.ndarray, prob: np.ndarray) -> None:
    """In place: make every variant see both classes (only ever needed for tiny data).

    Classifiers per variant need both classes; when a variant has only one, the row of
    that variant most likely to be of the other class is switched to it.
    """
    for v in np.unique(w):
        rows = np.flatnonzero(w == v)
        if rows.size < 2:
            continue
        if np.all(y[rows] == 1):
            y[rows[np.argmin(prob[rows])]] = 0
        elif np.all(y[rows] == 0):
            y[rows[np.argmax(prob[rows])]] = 1


def generate(source: DataSource) -> SyntheticData:
    """Generate the data set of a scenario / data spec / mapping of data fields.

    Deterministic: the same data spec always gives identical arrays; see the module
    docstring for the generating process.
    """
    spec = as_data_spec(source)
    params_ss, train_ss, test_ss = np.random.SeedSequence(
        [spec.seed, DATA_GENERATOR_VERSION]
    ).spawn(3)
    params = _draw_params(spec, np.random.default_rng(params_ss))
    n, p_feat, K = spec.n_rows, spec.n_features, spec.n_variants

    rng = np.random.default_rng(train_ss)
    X = rng.standard_normal((n, p_feat))
    if spec.propensity == "randomised":
        w = rng.permutation(np.arange(n, dtype=np.int64) % K)
        propensity = np.full((n, K), 1.0 / K)
    else:
        propensity = _propensity(X, params, K)
        u = rng.random(n)
        cdf = np.cumsum(propensity, axis=1)
        w = np.minimum((u[:, None] > cdf).sum(axis=1), K - 1).astype(np.int64)
        _ensure_all_variants(w, propensity)

    mu0 = _mu0(X, params)
    tau = _tau(X, params, spec.effect)
    tau_w = np.concatenate([np.zeros((n, 1)), tau], axis=1)[np.arange(n), w]
    if spec.outcome == "continuous":
        y = mu0 + tau_w + rng.standard_normal(n)
    else:
        prob = _sigmoid(mu0 + tau_w)
        y = (rng.random(n) < prob).astype(np.int64)
        _ensure_both_classes(y, w, prob)
    cate = _true_cate(mu0, tau, spec.outcome)

    test_rng = np.random.default_rng(test_ss)
    X_test = test_rng.standard_normal((min(n, MAX_TEST_ROWS), p_feat))
    cate_test = _true_cate(
        _mu0(X_test, params), _tau(X_test, params, spec.effect), spec.outcome
    )
    return SyntheticData(
        X=np.ascontiguousarray(X),
        y=np.ascontiguousarray(y),
        w=np.ascontiguousarray(w, dtype=np.int64),
        cate=np.ascontiguousarray(cate),
        X_test=np.ascontiguousarray(X_test),
        cate_test=np.ascontiguousarray(cate_test),
        spec=spec,
    )


# --------------------------------------------------------------------------- metric


def cate_rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    """Root mean squared error of a CATE estimate over all rows and variants.

    Args:
        pred: meta-learner ``predict`` output of shape ``(n, n_variants - 1,
            n_outputs)``: with ``n_outputs == 2`` (binary classification) the positive
            class ``[:, :, 1]`` is used, with ``n_outputs == 1`` ``[:, :, 0]``.
            Already simplified shapes ``(n, n_variants - 1)`` and, for two variants,
            ``(n,)`` are accepted too.
        truth: true CATE, shape ``(n, n_variants - 1)`` (e.g. ``SyntheticData.cate``
            or ``cate_test``).
    """
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if truth.ndim == 1:
        truth = truth[:, None]
    if truth.ndim != 2:
        raise ValueError(f"truth has shape {truth.shape}; expected (n, n_variants - 1)")
    if pred.ndim == 3:
        n_outputs = pred.shape[2]
        if n_outputs == 2:
            pred = pred[:, :, 1]
        elif n_outputs == 1:
            pred = pred[:, :, 0]
        else:
            raise ValueError(
                f"pred has {n_outputs} outputs (shape {pred.shape}); "
                "only 1 (regression) or 2 (binary classification) are supported"
            )
    elif pred.ndim == 1:
        pred = pred[:, None]
    elif pred.ndim != 2:
        raise ValueError(
            f"pred has shape {pred.shape}; expected (n, n_variants - 1, n_outputs)"
        )
    if pred.shape != truth.shape:
        raise ValueError(
            f"pred has shape {pred.shape} after selecting the output, "
            f"truth has shape {truth.shape}; they must match"
        )
    return float(np.sqrt(np.mean((pred - truth) ** 2)))
