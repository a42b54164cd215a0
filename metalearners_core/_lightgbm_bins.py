"""LightGBM's binned training data, built once per fit for every set of training rows.

Binning (finding each feature's bin edges, then mapping every value to its bin) is
a third of a LightGBM fit at 16k rows and half of it at 64k (measured on the
default scenarios). Meta-learners train several models on the same rows with the
same folds: DR's propensity and treatment models, R's three models, the outcome
and effect models of an X-learner variant. Bins depend on the features and on
LightGBM's dataset parameters, not on labels or weights, so within one fit each
(rows, parameters) is binned once: the first model on those rows builds its
Dataset as usual and keeps it, every later one takes a copy (LightGBM's own
``Dataset.subset`` of all rows: a copy of the binned bytes) and sets its own
labels and weights. The models are the ones a fit from scratch gives (the tests
compare LightGBM's model dumps).

LightGBM's scikit-learn wrapper builds its Dataset inside ``fit`` and takes none,
so the wrapper's ``Dataset`` is pointed, once, at a subclass that behaves exactly
like LightGBM's own unless :func:`binned_once` is active in the calling thread,
which this package sets only around its own base-model fits.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, ContextManager

import numpy as np

# LightGBM parameters (and aliases) that do not change the binned data: a
# classifier and a regressor with otherwise equal parameters share bins, and so do
# models that differ only in how they grow trees (what grid searches vary). Every
# other parameter is taken to change the bins: min_child_samples does (LightGBM
# drops features it cannot split on, feature_pre_filter), the seed may (sampling).
_TRAINING_ONLY = frozenset(
    {
        "objective", "objective_type", "app", "application", "loss",
        "num_class", "num_classes",
        "metric", "metrics", "metric_types",
        "num_threads", "num_thread", "nthread", "nthreads", "n_jobs",
        "num_iterations", "num_iteration", "n_iter", "num_tree", "num_trees", "num_round", "num_rounds",
        "nrounds", "num_boost_round", "n_estimators", "max_iter",
        "learning_rate", "shrinkage_rate", "eta",
        "num_leaves", "num_leaf", "max_leaves", "max_leaf", "max_leaf_nodes", "max_depth",
        "lambda_l1", "reg_alpha", "l1_regularization", "lambda_l2", "reg_lambda", "lambda", "l2_regularization",
        "min_gain_to_split", "min_split_gain",
        "verbose", "verbosity",
    }
)  # fmt: skip

_this_thread = threading.local()  # .bins, .rows_key, .binning: set by binned_once around one fit
_install_lock = threading.Lock()


class _Entry:
    """One binned Dataset of a fit: built by the first model that needs it."""

    def __init__(self) -> None:
        self.built = threading.Event()
        self.dataset: Any = None  # None once built: the build failed


class BinsOfFit:
    """The binned Datasets of one fit, by (training rows, dataset parameters)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}

    def _claim(self, key: Hashable) -> tuple[_Entry, bool]:
        """The entry of ``key`` and whether the caller must build it."""
        with self._lock:
            if key in self._entries:
                return self._entries[key], False
            entry = self._entries[key] = _Entry()
            return entry, True

    def keep_only(self, needed: Callable[[Hashable], bool]) -> None:
        """Drop the binned data of every rows key not ``needed`` by a later fit."""
        with self._lock:
            for key in [key for key in self._entries if not needed(key[0])]:
                del self._entries[key]


@dataclass
class Binning:
    """What one fit did with its LightGBM Dataset: "built" (binned from scratch, kept
    for the next models on the same rows), "copied" (another model's bins) or None
    (no shareable Dataset: another base model, or data this module leaves alone)."""

    how: str | None = None


def binned_once(bins: BinsOfFit | None, rows_key: Hashable, factory: Any) -> ContextManager[Binning]:
    """Around one base-model fit: a LightGBM Dataset built in this thread meanwhile
    reuses the bins of ``rows_key``'s earlier fits in ``bins`` (a no-op for other
    base models or without ``bins``). Yields the fit's :class:`Binning`.

    ``rows_key`` must identify the training data exactly within the fit (the same
    feature matrix and rows).
    """
    if bins is None or not getattr(factory, "__module__", "").startswith("lightgbm") or not _supported():
        return nullcontext(Binning())
    return _active(bins, rows_key)


#: What sharing relies on in LightGBM beyond its documented API (checked on first use).
_DATASET_ATTRIBUTES = (
    "_handle", "_predictor", "reference", "used_indices", "data", "params", "label", "weight",
    "init_score", "group", "feature_name", "categorical_feature",
    "construct", "set_label", "set_field", "set_weight",
)  # fmt: skip


@functools.cache
def _supported() -> bool:
    """Whether this LightGBM has everything sharing relies on; else one warning and
    plain builds (the models are the same, only slower to bin)."""
    import lightgbm
    import lightgbm.sklearn

    probe = lightgbm.Dataset(np.zeros((2, 1)), label=np.zeros(2), free_raw_data=False)
    missing = [name for name in _DATASET_ATTRIBUTES if not hasattr(probe, name)]
    if not hasattr(lightgbm.sklearn, "Dataset"):
        missing.append("lightgbm.sklearn.Dataset")
    if missing:
        warnings.warn(
            f"metalearners_core: LightGBM {lightgbm.__version__} lacks {', '.join(missing)}, which sharing "
            "binned data relies on; every LightGBM model bins its data itself (same models, slower fits)",
            RuntimeWarning,
            stacklevel=3,
        )
    return not missing


@contextmanager
def _active(bins: BinsOfFit, rows_key: Hashable) -> Iterator[Binning]:
    _install()
    _this_thread.bins, _this_thread.rows_key, _this_thread.binning = bins, rows_key, Binning()
    try:
        yield _this_thread.binning
    finally:
        _this_thread.bins = _this_thread.rows_key = _this_thread.binning = None


def _install() -> None:
    import lightgbm.sklearn

    with _install_lock:
        if lightgbm.sklearn.Dataset is not _shared_bins_dataset():
            lightgbm.sklearn.Dataset = _shared_bins_dataset()


def _binning_params(params: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items() if k not in _TRAINING_ONLY))


@functools.cache
def _shared_bins_dataset() -> type:
    """The Dataset subclass (defined on first use: LightGBM is imported lazily)."""
    import lightgbm

    class SharedBinsDataset(lightgbm.Dataset):
        """LightGBM's Dataset; inside :func:`binned_once`, built once per rows and parameters."""

        def construct(self) -> SharedBinsDataset:
            bins = getattr(_this_thread, "bins", None)
            if self._handle is not None or bins is None or not self._shareable():
                return super().construct()
            key = (_this_thread.rows_key, self.data.shape, self.data.dtype.str, _binning_params(self.params))
            entry, build = bins._claim(key)
            if build:
                try:
                    super().construct()
                    entry.dataset = self
                    _this_thread.binning.how = "built"
                finally:
                    entry.built.set()  # waiters build their own if this failed
                return self
            entry.built.wait()
            if entry.dataset is None:
                return super().construct()
            # A copy of the binned rows, then this model's own labels and weights.
            self.reference = entry.dataset
            self.used_indices = np.arange(self.data.shape[0], dtype=np.int32)
            super().construct()
            self.set_label(self.label)
            self.set_field("weight", None)
            self.set_weight(self.weight)
            _this_thread.binning.how = "copied"
            return self

        def _shareable(self) -> bool:
            # Plain arrays, no metadata beyond labels and weights, LightGBM's own
            # feature names and categories: everything else builds as usual.
            return (
                self.reference is None
                and self.used_indices is None
                and isinstance(self.data, np.ndarray)
                and self.data.ndim == 2
                and self.init_score is None
                and self.group is None
                and getattr(self, "position", None) is None
                and self._predictor is None
                and isinstance(self.feature_name, str) and self.feature_name == "auto"
                and isinstance(self.categorical_feature, str) and self.categorical_feature == "auto"
            )

    return SharedBinsDataset
