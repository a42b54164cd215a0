"""Small helpers shared by the learners: row indexing, validation, numerics.

Row and column selection take every input kind the learners accept (numpy, pandas,
polars, scipy.sparse); what polars and sparse need is in :mod:`metalearners_core._frames`.
"""

from __future__ import annotations

from collections.abc import Sequence
from inspect import signature
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import is_classifier, is_regressor

from metalearners_core._frames import is_polars, is_polars_frame, polars_select_columns, polars_take_rows

Matrix = Any  # numpy array, pandas or polars DataFrame, or scipy.sparse matrix
Vector = Any  # numpy array, pandas or polars Series


def n_rows(X: Matrix) -> int:
    return X.shape[0] if hasattr(X, "shape") else len(X)


def take_rows(data: Matrix | Vector, rows: np.ndarray) -> Matrix | Vector:
    """Rows of a numpy array, scipy.sparse matrix, pandas or polars object, by boolean
    mask or integer positions."""
    if isinstance(data, (pd.DataFrame, pd.Series)):
        return data.iloc[rows]
    if is_polars(data):
        return polars_take_rows(data, rows)
    return data[rows]


def to_numpy_vector(v: Vector, name: str) -> np.ndarray:
    """A 1-d numpy view of a vector (pandas Series, list or array)."""
    arr = v.to_numpy() if isinstance(v, (pd.Series, pd.DataFrame)) else np.asarray(v)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}.")
    return arr


def select_columns(X: Matrix, feature_set: Sequence | None) -> Matrix:
    """The columns a model uses: all (None), none (a column of ones) or a subset."""
    if feature_set is None:
        return X
    if len(feature_set) == 0:
        return np.ones((n_rows(X), 1))
    if isinstance(X, pd.DataFrame):
        if all(isinstance(f, str) for f in feature_set):
            return X[list(feature_set)]
        if all(isinstance(f, (int, np.integer)) for f in feature_set):
            return X.iloc[:, list(feature_set)]
        raise ValueError(
            f"feature_set {list(feature_set)!r} must be all column names or all "
            "column positions."
        )
    if is_polars_frame(X):
        return polars_select_columns(X, feature_set)
    return X[:, np.asarray(feature_set)]


def validate_positive_int(value: Any, name: str) -> None:
    """An integer >= 1; the message for values <= 0 is the package's (validate_number_positive)."""
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and value <= 0:
        raise ValueError(f"{name} was expected to be strictly positive but was {value}. It must be an integer >= 1.")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")


def validate_n_jobs(value: Any, name: str) -> None:
    """joblib's convention: None, a positive int, a negative int (-1 = all cores), or "auto"."""
    if value is None or value == "auto":
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be None, 'auto' or a non-zero integer, got {value!r}.")
    if value == 0:
        raise ValueError(
            f"{name}=0 has no meaning; use None or 1 (serial), k > 1 (k workers) "
            "or -1 (all cores)."
        )


def has_nan(v: Vector) -> bool:
    arr = np.asarray(v)
    return arr.dtype.kind in "fc" and bool(np.isnan(arr).any())


def clip_abs_to_epsilon(v: np.ndarray, epsilon: float) -> np.ndarray:
    """Push values closer to 0 than epsilon out to +-epsilon, keeping their sign."""
    bound = np.where(v < 0, -1.0, 1.0) * epsilon
    return np.where(np.abs(v) < epsilon, bound, v)


def function_has_argument(func: Any, argument: str) -> bool:
    return argument in signature(func).parameters


def model_instance(factory: Any, params: dict | None = None) -> Any:
    """A model of ``factory``, to ask what kind it is: scikit-learn >= 1.8 only
    classifies instances, and building one is cheap. A factory with required
    arguments and none given (``FixedBinaryPropensity``) is built without its
    ``__init__``; scikit-learn's estimator type does not depend on it."""
    try:
        return factory(**(params or {}))
    except TypeError:
        if params or not isinstance(factory, type):
            raise
        return factory.__new__(factory)


def _factory_is(factory: Any, check: Any) -> bool:
    return check(model_instance(factory))


def validate_model_and_predict_method(factory: Any, method: str, name: str = "model") -> None:
    if method == "predict" and _factory_is(factory, is_classifier):
        raise ValueError(
            f"The {name} is supposed to be used with the predict method 'predict' but it is a "
            f"classifier. {factory.__name__} is a classifier; 'predict' needs a regressor."
        )
    if method == "predict_proba" and _factory_is(factory, is_regressor):
        raise ValueError(
            f"The {name} is supposed to be used with the predict method 'predict_proba' but it is "
            f"not a classifier. {factory.__name__} is a regressor; 'predict_proba' needs a classifier."
        )


def default_metric(predict_method: str) -> str:
    return "neg_log_loss" if predict_method == "predict_proba" else "neg_root_mean_squared_error"


def supports_categoricals(model: Any) -> bool:
    """Models that take a pandas categorical column natively (as metalearners decides)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if isinstance(model, (HistGradientBoostingClassifier, HistGradientBoostingRegressor)):
        return model.categorical_features == "from_dtype"
    try:
        from lightgbm import LGBMClassifier, LGBMRegressor
    except ImportError:  # pragma: no cover - lightgbm is a dependency
        return False
    return isinstance(model, (LGBMClassifier, LGBMRegressor))
