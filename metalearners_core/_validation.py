"""Checks of what a meta-learner is given: fail early, naming the value and what is allowed.

The constructor checks ``n_variants`` and where the propensity model is configured;
``fit`` checks X, y and w against each other and against the learner's setup
(lengths, NaN, variant codes 0..n_variants-1 each with rows, outcome classes);
``fit``, ``predict`` and ``evaluate`` check that the columns of X the models use
hold numbers, bools or pandas categories; ``predict`` checks that in-sample
prediction gets the training rows. Every check ``metalearners`` 0.13 also makes raises
its exception type with its message text first (users and its tests match on them),
then core's detail: the value found and what is allowed. Checks run before any base
model sees the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype, is_bool_dtype, is_complex_dtype, is_numeric_dtype

from metalearners_core._frames import is_polars_frame, polars_allowed_columns, polars_bad_columns
from metalearners_core._model_kinds import PROPENSITY_MODEL
from metalearners_core._utils import has_nan, n_rows, to_numpy_vector

if TYPE_CHECKING:
    from metalearners_core.metalearner import MetaLearner


def validate_n_variants(learner_class: type[MetaLearner], n_variants: Any) -> None:
    if isinstance(n_variants, bool) or not isinstance(n_variants, (int, np.integer)) or n_variants < 2:
        raise ValueError(
            f"n_variants needs to be an integer strictly greater than 1. Got {n_variants!r}."
        )
    if n_variants > 2 and not learner_class._supports_multi_treatment():
        raise NotImplementedError(
            f"Current implementation of {learner_class.__name__} only supports binary "
            f"treatment variants. Yet, n_variants was set to {n_variants}."
        )


def validate_propensity_arguments(
    learner_class: type[MetaLearner],
    nuisance_model_factory: Any,
    nuisance_model_params: Any,
    propensity_model_factory: Any,
    fitted_propensity_model: Any,
) -> None:
    """The propensity model is configured through its own arguments, and given if the learner has one."""
    if PROPENSITY_MODEL in learner_class.treatment_model_specifications():
        raise ValueError(f"{PROPENSITY_MODEL} can't be used as a treatment model name")
    for argument, name, what in [
        (nuisance_model_factory, "nuisance_model_factory", "factory"),
        (nuisance_model_params, "nuisance_model_params", "params"),
    ]:
        if isinstance(argument, dict) and PROPENSITY_MODEL in argument:
            raise ValueError(
                f"Propensity model {what} should be defined using propensity_model_{what} "
                f"and not {name}."
            )
    has_propensity = PROPENSITY_MODEL in learner_class.nuisance_model_specifications()
    if has_propensity and propensity_model_factory is None and fitted_propensity_model is None:
        raise ValueError(
            "propensity_model_factory or fitted_propensity_model needs to be defined "
            f"as the {learner_class.__name__} has a propensity model."
        )


def validate_fitted_nuisance_keys(fitted_nuisance_models: dict, other_nuisance: set[str]) -> None:
    if not set(fitted_nuisance_models) <= other_nuisance:
        raise ValueError(
            f"The keys present in fitted_nuisance_models should be a subset of {other_nuisance}. "
            f"Got {sorted(fitted_nuisance_models)}."
        )


def nuisance_model_missing(kind: str) -> ValueError:
    """The error for a nuisance model with neither a factory nor a fitted model."""
    source = ("propensity_model_factory", "fitted_propensity_model") if kind == PROPENSITY_MODEL else (
        "nuisance_model_factory", "fitted_nuisance_models"
    )
    return ValueError(
        f"A model for the nuisance model {kind} needs to be defined. Either in {source[0]} or in {source[1]}."
    )


def validate_fit_inputs(learner: MetaLearner, X: Any, y: Any, w: Any) -> tuple[np.ndarray, np.ndarray]:
    """The outcome and treatment as numpy vectors, after checking them against X."""
    y_np, w_np = to_numpy_vector(y, "y"), to_numpy_vector(w, "w")
    if not (n_rows(X) == len(y_np) == len(w_np)):
        raise ValueError(
            f"X, y and w must have the same length; got {n_rows(X)}, {len(y_np)} and {len(w_np)} rows."
        )
    validate_features(X, learner.feature_set.values())
    if has_nan(y_np):
        raise ValueError("y contains NaN; remove or impute those rows before fitting.")
    _validate_treatment(learner.n_variants, w_np)
    w_np = as_variant_codes(w_np)
    _validate_outcome(learner, y_np, w_np)
    return y_np, w_np


def _validate_treatment(n_variants: int, w: np.ndarray) -> None:
    """The package's two treatment checks and messages, with what was found after them."""
    values = np.unique(w)  # NaNs collapse into one value
    nan = " w contains NaN; every row needs a treatment variant." if has_nan(values) else ""
    found = [v for v in values.tolist() if v == v]
    allowed = set(range(n_variants))
    outside = sorted(v for v in found if v not in allowed)
    missing = sorted(allowed - set(found))
    detail = (
        (f" Treatment values {outside} are outside 0..{n_variants - 1} (n_variants={n_variants})." if outside else "")
        + (f" Treatment variant(s) {missing} have no rows; every variant 0..{n_variants - 1} needs data." if missing else "")
        + nan
    )
    if len(values) != n_variants:
        raise ValueError(
            "Number of variants present in the treatment are different than the number "
            f"specified at instantiation.{detail}"
        )
    if detail:
        raise ValueError(
            f"Treatment variant should be encoded with values {{0...{n_variants - 1}}} and all "
            f"variants should be present. Yet we found the values {set(values.tolist())}.{detail}"
        )


_TREATMENT_DTYPES = "Treatment must be boolean, integer or float with integer values."


def as_variant_codes(w: np.ndarray) -> np.ndarray:
    """The treatment as integer variant codes (bools and whole floats are converted)."""
    if w.dtype == bool:
        return w.astype(np.int64)
    if w.dtype.kind == "f":
        if not np.all(np.mod(w, 1) == 0):
            raise TypeError(f"{_TREATMENT_DTYPES} w holds non-integer values.")
        return w.astype(np.int64)
    if w.dtype.kind not in "iu":
        raise TypeError(f"{_TREATMENT_DTYPES} Got dtype {w.dtype}.")
    return w


def _validate_outcome(learner: MetaLearner, y: np.ndarray, w: np.ndarray) -> None:
    """The package's outcome checks, in its order: multi-class, classes per variant, one class."""
    if not learner.is_classification:
        return
    classes = np.unique(y)
    if len(classes) > 2 and not learner._supports_multi_class():
        raise ValueError(
            f"{type(learner).__name__} does not support multiclass classification."
            f" Yet we found {len(classes)} classes."
        )
    classes_control = set(np.unique(y[w == 0]).tolist())
    for variant in range(1, learner.n_variants):
        classes_variant = set(np.unique(y[w == variant]).tolist())
        if classes_variant != classes_control:
            raise ValueError(
                f"Variants 0 and {variant} have seen different sets of classification outcomes. "
                f"Please check your data. Variant 0 has seen {sorted(classes_control)}, "
                f"variant {variant} {sorted(classes_variant)}."
            )
    if len(classes_control) == 1:
        raise ValueError(
            f"There is only one class present in the classification outcome: {classes_control}. "
            "Please check your data. Classification needs at least two classes."
        )


def check_in_sample_rows(learner: MetaLearner, X: Any, is_oos: bool) -> None:
    """The learner is fitted, and in-sample prediction gets as many rows as it was fitted on."""
    if learner._n_fit_rows is None:
        # The package's X-learner spells it "MetaLearner", its other learners "metalearner".
        spelling = "MetaLearner" if type(learner).__name__ == "XLearner" else "metalearner"
        raise ValueError(
            f"The {spelling} needs to be fitted before predicting. This "
            f"{type(learner).__name__} is not fitted yet; call fit first."
        )
    if not is_oos and n_rows(X) != learner._n_fit_rows:
        raise ValueError(
            "Trying to predict in-sample on data that is unlike data encountered in training. "
            f"Training data included {learner._n_fit_rows} observations while prediction data "
            f"includes {n_rows(X)} observations. In-sample prediction (is_oos=False) needs the "
            "training rows; use is_oos=True for new data."
        )


# What an object column may hold (pandas' infer_dtype, NaN skipped): scikit-learn models
# convert these to floats.
_NUMERIC_VALUES = frozenset({"integer", "floating", "mixed-integer-float", "decimal", "boolean", "empty"})
_ALLOWED_COLUMNS = "numeric or bool columns, or pandas 'category' columns for base models that take them (such as LightGBM)"
_LISTED_AT_MOST = 10


def validate_features(X: Any, feature_sets: Iterable[Sequence | None]) -> None:
    """The columns of X that some model uses (per its feature set) hold numbers, bools or
    pandas categories; categories pass through untouched to the base models."""
    if is_polars_frame(X):
        bad = polars_bad_columns(X, _used_positions(X, feature_sets))
        if bad:
            raise ValueError(f"X has columns the base models cannot take: {_listed(bad)}. Allowed are {polars_allowed_columns()}.")
        return
    is_frame = isinstance(X, pd.DataFrame)
    if not is_frame and (getattr(X, "ndim", 0) != 2 or _takes_dtype(X.dtype)):
        return
    dtypes = list(X.dtypes) if is_frame else [X.dtype] * X.shape[1]
    bad = []
    for j in _used_positions(X, feature_sets):
        dtype = dtypes[j]
        name = repr(X.columns[j]) if is_frame else f"column {j}"
        if _takes_dtype(dtype):
            continue
        if dtype == object:
            values = infer_dtype(X.iloc[:, j] if is_frame else X[:, j], skipna=True)
            if values not in _NUMERIC_VALUES:
                bad.append(f"{name} (dtype object holding {values} values)")
        else:
            bad.append(f"{name} (dtype {dtype})")
    if bad:
        listed = _listed(bad)
        fix = (
            "Encode them as numbers, or make them categorical with .astype('category')."
            if is_frame
            else "Convert X to numbers, or pass a pandas DataFrame with 'category' columns."
        )
        raise ValueError(f"X has columns the base models cannot take: {listed}. Allowed are {_ALLOWED_COLUMNS}. {fix}")


def _listed(bad: list[str]) -> str:
    return ", ".join(bad[:_LISTED_AT_MOST]) + (f" and {len(bad) - _LISTED_AT_MOST} more" if len(bad) > _LISTED_AT_MOST else "")


def _takes_dtype(dtype: Any) -> bool:
    if isinstance(dtype, pd.CategoricalDtype):
        return True
    return is_bool_dtype(dtype) or (is_numeric_dtype(dtype) and not is_complex_dtype(dtype))


def _used_positions(X: Any, feature_sets: Iterable[Sequence | None]) -> list[int]:
    """Positions of the columns used by any feature set (None: all columns); feature sets
    that ``select_columns`` would reject are left to it."""
    n_columns = X.shape[1]
    used: set[int] = set()
    for features in feature_sets:
        if features is None:
            return list(range(n_columns))
        if len(features) == 0:
            continue
        if hasattr(X, "columns") and all(isinstance(f, str) for f in features):
            names = set(features)
            used.update(j for j, column in enumerate(X.columns) if column in names)
            continue
        try:
            used.update(np.arange(n_columns)[np.asarray(features)].tolist())
        except (IndexError, ValueError, TypeError):
            continue
    return sorted(used)
