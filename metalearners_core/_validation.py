"""Checks of the data a meta-learner is given: fail early, naming the value and what is allowed.

``fit`` checks X, y and w against each other and against the learner's setup
(lengths, NaN, variant codes 0..n_variants-1 each with rows, outcome classes);
``predict`` checks that in-sample prediction gets the training rows. Each check
raises a ``ValueError`` that says what is wrong and what would be accepted,
before any base model sees the data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from metalearners_core._utils import has_nan, n_rows, to_numpy_vector

if TYPE_CHECKING:
    from metalearners_core.metalearner import MetaLearner


def validate_n_variants(learner_class: type[MetaLearner], n_variants: Any) -> None:
    if isinstance(n_variants, bool) or not isinstance(n_variants, (int, np.integer)) or n_variants < 2:
        raise ValueError(f"n_variants must be an integer >= 2, got {n_variants!r}.")
    if n_variants > 2 and not learner_class._supports_multi_treatment():
        raise NotImplementedError(
            f"{learner_class.__name__} only supports binary treatments, got n_variants={n_variants}."
        )


def validate_fit_inputs(learner: MetaLearner, X: Any, y: Any, w: Any) -> tuple[np.ndarray, np.ndarray]:
    """The outcome and treatment as numpy vectors, after checking them against X."""
    y_np, w_np = to_numpy_vector(y, "y"), to_numpy_vector(w, "w")
    if not (n_rows(X) == len(y_np) == len(w_np)):
        raise ValueError(
            f"X, y and w must have the same length; got {n_rows(X)}, {len(y_np)} and {len(w_np)} rows."
        )
    if has_nan(y_np):
        raise ValueError("y contains NaN; remove or impute those rows before fitting.")
    if has_nan(w_np):
        raise ValueError("w contains NaN; every row needs a treatment variant.")
    w_np = as_variant_codes(w_np)
    n_variants = learner.n_variants
    present = set(np.unique(w_np).tolist())
    allowed = set(range(n_variants))
    if present - allowed:
        raise ValueError(
            f"Treatment values {sorted(present - allowed)} are outside 0..{n_variants - 1} "
            f"(n_variants={n_variants})."
        )
    if allowed - present:
        raise ValueError(
            f"Treatment variant(s) {sorted(allowed - present)} have no rows; every variant "
            f"0..{n_variants - 1} needs data."
        )
    _validate_outcome(learner, y_np, w_np)
    return y_np, w_np


def as_variant_codes(w: np.ndarray) -> np.ndarray:
    """The treatment as integer variant codes (bools and whole floats are converted)."""
    if w.dtype == bool:
        return w.astype(np.int64)
    if w.dtype.kind == "f":
        if not np.all(np.mod(w, 1) == 0):
            raise ValueError("w must hold integer variant codes; found non-integer values.")
        return w.astype(np.int64)
    if w.dtype.kind not in "iu":
        raise ValueError(f"w must hold integer variant codes, got dtype {w.dtype}.")
    return w


def _validate_outcome(learner: MetaLearner, y: np.ndarray, w: np.ndarray) -> None:
    if not learner.is_classification:
        return
    classes = np.unique(y)
    if len(classes) > 2 and not learner._supports_multi_class():
        raise ValueError(
            f"{type(learner).__name__} supports binary classification only; y has "
            f"{len(classes)} classes."
        )
    if len(classes) == 1:
        raise ValueError(f"y has a single class {classes.tolist()}; classification needs two.")
    classes_control = set(np.unique(y[w == 0]).tolist())
    for variant in range(1, learner.n_variants):
        if set(np.unique(y[w == variant]).tolist()) != classes_control:
            raise ValueError(
                f"Variants 0 and {variant} have seen different sets of outcome classes."
            )


def check_in_sample_rows(learner: MetaLearner, X: Any, is_oos: bool) -> None:
    """The learner is fitted, and in-sample prediction gets as many rows as it was fitted on."""
    if learner._n_fit_rows is None:
        raise ValueError(f"This {type(learner).__name__} is not fitted yet; call fit first.")
    if not is_oos and n_rows(X) != learner._n_fit_rows:
        raise ValueError(
            f"In-sample prediction (is_oos=False) needs the {learner._n_fit_rows} training "
            f"rows, got {n_rows(X)}; use is_oos=True for new data."
        )
