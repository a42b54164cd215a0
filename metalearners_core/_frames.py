"""What each kind of input needs: rows, columns, size and column checks of polars and scipy.sparse.

X may be a numpy array, a pandas or polars DataFrame, or a scipy.sparse matrix; y and w
numpy arrays, pandas or polars Series. As in ``metalearners`` 0.13, polars frames go to
the base models as polars frames (row subsets and column selections stay polars), and
sparse matrices stay sparse: nothing here densifies a matrix. polars is optional: it
is only looked up, never imported, so an input can only be a polars object once the
caller has imported polars.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse

# What a polars column may hold for the base models: LightGBM reads polars frames through
# Arrow and aborts the process on a dictionary (Categorical/Enum) column, so those are
# not passed on; numbers and bools are what every scikit-learn style model takes.
_POLARS_ALLOWED = "numeric or Boolean columns (polars Categorical, Enum and String columns are not taken by the base models; use X.to_pandas() with 'category' columns instead)"


def _polars() -> Any:
    return sys.modules.get("polars")


def is_polars_frame(value: Any) -> bool:
    pl = _polars()
    return pl is not None and isinstance(value, pl.DataFrame)


def is_polars(value: Any) -> bool:
    """A polars DataFrame or Series."""
    pl = _polars()
    return pl is not None and isinstance(value, (pl.DataFrame, pl.Series))


def polars_take_rows(data: Any, rows: np.ndarray) -> Any:
    """Rows of a polars DataFrame or Series by boolean mask or integer positions (polars
    reads a boolean array in ``frame[mask]`` as a column mask)."""
    rows = np.asarray(rows)
    if rows.dtype == bool:
        return data.filter(_polars().Series(rows))
    return data[rows]


def polars_select_columns(X: Any, feature_set: Sequence) -> Any:
    """The feature set's columns of a polars DataFrame, by names or by positions."""
    if all(isinstance(f, str) for f in feature_set):
        return X.select(list(feature_set))
    if all(isinstance(f, (int, np.integer)) and not isinstance(f, bool) for f in feature_set):
        return X.select([X.columns[int(f)] for f in feature_set])
    raise ValueError(
        f"feature_set {list(feature_set)!r} must be all column names or all column positions."
    )


def input_nbytes(value: Any) -> int:
    """The bytes of an input's values (numpy, scipy.sparse, pandas, polars); 0 for others."""
    if scipy.sparse.issparse(value):
        parts = ("data", "indices", "indptr", "row", "col", "offsets")
        return sum(getattr(value, part).nbytes for part in parts if isinstance(getattr(value, part, None), np.ndarray))
    if is_polars(value):
        return int(value.estimated_size())
    memory_usage = getattr(value, "memory_usage", None)
    if callable(memory_usage) and hasattr(value, "columns"):
        return int(memory_usage(deep=False).sum())
    return int(getattr(value, "nbytes", 0))


def polars_bad_columns(X: Any, positions: Sequence[int]) -> list[str]:
    """Of the given column positions of a polars DataFrame, those no base model can take,
    each as ``'name' (dtype ...)``."""
    bad = []
    for j in positions:
        name, dtype = X.columns[j], X.dtypes[j]
        if not (dtype.is_numeric() or dtype == _polars().Boolean):
            bad.append(f"{name!r} (dtype {dtype})")
    return bad


def polars_allowed_columns() -> str:
    return _POLARS_ALLOWED
