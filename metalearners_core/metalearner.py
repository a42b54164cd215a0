"""The MetaLearner base class: its models, construction, the fit/predict/evaluate API and its state.

A learner declares its models (:mod:`._model_kinds`); :class:`MetaLearner` builds
one cross-fit estimator per model from the constructor's factories, params,
feature sets and folds, checks the data (:mod:`._validation`), fits every model
through one task graph (:mod:`._fit_graph`, run by :mod:`._execution`), and leaves
``predict`` and ``evaluate`` to each learner (their requests of the models, run at
once with ``n_jobs``: :mod:`._prediction`; scoring: :mod:`._evaluation`). The
public API mirrors ``metalearners`` 0.13 (QuantCo): same class names, constructor
keywords, method signatures and output shapes (plus ``n_jobs`` on predict and evaluate).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from copy import deepcopy
from dataclasses import replace
from typing import Any

import numpy as np

from metalearners_core._execution import CrossFitJob, Deferred, ModelKey, TaskRecord
from metalearners_core._explain import _ExplainMixin
from metalearners_core._fit_graph import _FitGraphMixin
from metalearners_core._model_kinds import (
    NUISANCE,
    PROPENSITY_MODEL,
    TREATMENT,
    TREATMENT_MODEL,
    VARIANT_OUTCOME_MODEL,
    _ModelSpecifications,
    get_one,
    get_predict,
    get_predict_proba,
)
from metalearners_core._onnx import _OnnxMixin
from metalearners_core._prediction import _PredictionMixin
from metalearners_core._utils import (
    default_metric,
    n_rows,
    validate_model_and_predict_method,
    validate_positive_int,
)
from metalearners_core._validation import (
    nuisance_model_missing,
    validate_fitted_nuisance_keys,
    validate_fit_inputs,
    validate_n_variants,
    validate_propensity_arguments,
)
from metalearners_core.cross_fit_estimator import OVERALL, CrossFitEstimator, OosMethod

# The model kinds and declaration helpers stay importable from here, as in metalearners.
__all__ = ["NUISANCE", "PROPENSITY_MODEL", "TREATMENT", "TREATMENT_MODEL", "VARIANT_OUTCOME_MODEL", "MetaLearner"]
__all__ += ["_ModelSpecifications", "get_one", "get_predict", "get_predict_proba"]


def _per_kind(argument: Any, kinds: Collection[str]) -> dict:
    """A value per model kind: a dict covering all kinds, or one value for all."""
    if isinstance(argument, dict) and set(argument) >= set(kinds):
        return {kind: argument[kind] for kind in kinds}
    return {kind: argument for kind in kinds}


class MetaLearner(_FitGraphMixin, _PredictionMixin, _ExplainMixin, _OnnxMixin, ABC):
    """Base class of all meta-learners.

    ``nuisance_model_factory``, ``treatment_model_factory``, ``nuisance_model_params``,
    ``treatment_model_params``, ``feature_set`` and ``n_folds`` each take one value for
    all models of their stage, or a dict from model kind to value. Already fitted
    nuisance models can be passed through ``fitted_nuisance_models`` and
    ``fitted_propensity_model``; they are never refitted.
    """

    # -- declarations (each learner says which models it trains) ----------------------

    @classmethod
    @abstractmethod
    def nuisance_model_specifications(cls) -> dict[str, _ModelSpecifications]:
        """The first-stage models: kind -> cardinality and predict method."""

    @classmethod
    def treatment_model_specifications(cls) -> dict[str, _ModelSpecifications]:
        """The second-stage models: kind -> cardinality and predict method (none by default)."""
        return {}

    @classmethod
    def _supports_multi_treatment(cls) -> bool:
        return True

    @classmethod
    def _supports_multi_class(cls) -> bool:
        """Whether the outcome may have more than two classes (only S and T learners)."""
        return False

    def _outcome_predict_method(self) -> str:
        return "predict_proba" if self.is_classification else "predict"

    def _get_n_variants(self) -> int:
        return self.n_variants

    def _get_n_variants_minus_one(self) -> int:
        return self.n_variants - 1

    # -- construction -------------------------------------------------------------------

    def __init__(
        self,
        is_classification: bool,
        n_variants: int,
        nuisance_model_factory: Any = None,
        treatment_model_factory: Any = None,
        propensity_model_factory: Any = None,
        nuisance_model_params: dict | None = None,
        treatment_model_params: dict | None = None,
        propensity_model_params: dict | None = None,
        fitted_nuisance_models: dict[str, list[CrossFitEstimator]] | None = None,
        fitted_propensity_model: CrossFitEstimator | None = None,
        feature_set: Any = None,
        n_folds: int | dict[str, int] = 10,
        random_state: int | None = None,
    ):
        nuisance_specs = self.nuisance_model_specifications()
        treatment_specs = self.treatment_model_specifications()
        has_propensity = PROPENSITY_MODEL in nuisance_specs
        validate_propensity_arguments(
            type(self), nuisance_model_factory, nuisance_model_params, propensity_model_factory, fitted_propensity_model
        )
        validate_n_variants(type(self), n_variants)
        self.is_classification = is_classification
        self.n_variants = n_variants

        other_nuisance = set(nuisance_specs) - {PROPENSITY_MODEL}
        propensity = {PROPENSITY_MODEL: propensity_model_factory} if has_propensity else {}
        self.nuisance_model_factory = _per_kind(nuisance_model_factory, other_nuisance) | propensity
        propensity_params = {PROPENSITY_MODEL: propensity_model_params or {}} if has_propensity else {}
        self.nuisance_model_params = (
            _per_kind(nuisance_model_params or {}, other_nuisance) | propensity_params
        )
        self.treatment_model_factory = _per_kind(treatment_model_factory, set(treatment_specs))
        self.treatment_model_params = _per_kind(treatment_model_params or {}, set(treatment_specs))

        all_kinds = set(nuisance_specs) | set(treatment_specs)
        self.n_folds = _per_kind(n_folds, all_kinds)
        for kind, folds in self.n_folds.items():
            validate_positive_int(folds, f"{kind} n_folds")
        self.random_state = random_state
        self.feature_set = _per_kind(feature_set, all_kinds)

        self._nuisance_models: dict[str, list[CrossFitEstimator]] = {}
        self._prefitted_nuisance_models: set[str] = set()
        if fitted_nuisance_models is not None:
            validate_fitted_nuisance_keys(fitted_nuisance_models, other_nuisance)
            self._nuisance_models |= deepcopy(fitted_nuisance_models)
            self._prefitted_nuisance_models |= set(fitted_nuisance_models)
        if has_propensity and fitted_propensity_model is not None:
            self._nuisance_models[PROPENSITY_MODEL] = [fitted_propensity_model]
            self._prefitted_nuisance_models.add(PROPENSITY_MODEL)

        for kind in set(nuisance_specs) - self._prefitted_nuisance_models:
            if self.nuisance_model_factory[kind] is None:
                raise nuisance_model_missing(kind)
            self._nuisance_models[kind] = [
                self._new_cross_fit_estimator(kind, self.nuisance_model_factory, self.nuisance_model_params)
                for _ in range(nuisance_specs[kind]["cardinality"](self))
            ]
        for kind in treatment_specs:
            if self.treatment_model_factory[kind] is None:
                raise ValueError(f"A model for the treatment model {kind} is needed: pass treatment_model_factory.")
        self._treatment_models: dict[str, list[CrossFitEstimator]] = {
            kind: [
                self._new_cross_fit_estimator(kind, self.treatment_model_factory, self.treatment_model_params)
                for _ in range(treatment_specs[kind]["cardinality"](self))
            ]
            for kind in treatment_specs
        }
        self.fit_trace_: list[TaskRecord] = []
        self._n_fit_rows: int | None = None
        # (in-sample, [outside...]) predictions the nuisance models made in the workers
        # during the current fit; empty outside a fit.
        self._fit_predictions: dict[ModelKey, tuple[np.ndarray | None, list | None]] = {}
        # Each variant's rows of X, taken once per fit (see _rows_of_variant); empty outside a fit.
        self._fit_rows: dict[tuple[int, int], tuple[Any, Any]] = {}
        self._validate_models()

    def _new_cross_fit_estimator(self, kind: str, factories: dict, params: dict) -> CrossFitEstimator:
        return CrossFitEstimator(
            n_folds=self.n_folds[kind],
            estimator_factory=factories[kind],
            estimator_params=params[kind],
            random_state=self.random_state,
        )

    def _validate_models(self) -> None:
        for kind, spec in self.nuisance_model_specifications().items():
            if kind in self._prefitted_nuisance_models:
                factory = self._nuisance_models[kind][0].estimator_factory
            else:
                factory = self.nuisance_model_factory[kind]
            validate_model_and_predict_method(factory, spec["predict_method"](self), f"nuisance model {kind}")
        for kind, spec in self.treatment_model_specifications().items():
            validate_model_and_predict_method(
                self.treatment_model_factory[kind], spec["predict_method"](self), f"treatment model {kind}"
            )

    # -- fitting --------------------------------------------------------------------------

    def fit_all_nuisance(
        self,
        X: Any,
        y: Any,
        w: Any,
        n_jobs_cross_fitting: int | None = None,
        fit_params: dict | None = None,
        synchronize_cross_fitting: bool = True,
        n_jobs_base_learners: int | None = None,
    ) -> MetaLearner:
        """Fit all first-stage models (pre-fitted ones are kept as they are)."""
        y_np, w_np = self._start_fit(X, y, w)
        jobs = self._nuisance_jobs(
            X, y_np, w_np, self._qualified_fit_params(fit_params)[NUISANCE], synchronize_cross_fitting
        )
        # No second stage in this call: its predictions would be wasted work.
        jobs = [None if job is None else replace(job, predictions=None) for job in jobs]
        self._fit_graph(jobs, [], n_jobs_cross_fitting, n_jobs_base_learners)
        return self

    def _start_fit(self, X: Any, y: Any, w: Any) -> tuple[np.ndarray, np.ndarray]:
        y_np, w_np = validate_fit_inputs(self, X, y, w)
        self._n_fit_rows = n_rows(X)
        self._treatment_variants_mask = [w_np == v for v in range(self.n_variants)]
        self.fit_trace_, self._fit_rows = [], {}
        return y_np, w_np

    def fit_all_treatment(
        self,
        X: Any,
        y: Any,
        w: Any,
        n_jobs_cross_fitting: int | None = None,
        fit_params: dict | None = None,
        synchronize_cross_fitting: bool = True,
        n_jobs_base_learners: int | None = None,
    ) -> MetaLearner:
        """Fit all second-stage models; the nuisance models must be fitted already."""
        if not self.treatment_model_specifications():
            return self
        if self._n_fit_rows is None:
            raise ValueError(
                "The nuisance models need to be fitted before fitting the treatment models. "
                "Call fit_all_nuisance first."
            )
        y_np, w_np = validate_fit_inputs(self, X, y, w)
        self._fit_rows = {}
        plan = self._treatment_plan(X, y_np, w_np, self._qualified_fit_params(fit_params)[TREATMENT])
        self._fit_graph([], plan, n_jobs_cross_fitting, n_jobs_base_learners, fitted_stage=True)
        return self

    def fit(
        self,
        X: Any,
        y: Any,
        w: Any,
        n_jobs_cross_fitting: int | None = None,
        fit_params: dict | None = None,
        synchronize_cross_fitting: bool = True,
        n_jobs_base_learners: int | None = None,
    ) -> MetaLearner:
        """Fit all models.

        ``n_jobs_cross_fitting``: folds of one model fitted at once; ``n_jobs_base_learners``:
        models fitted at once. ``None`` means 1 unless inside a
        ``joblib.parallel_config(n_jobs=...)`` context; ``-1`` means all cores; ``"auto"``
        (opt-in) lets the scheduler split the cores over workers and threads per fit.
        The base models' own threads come from ``n_jobs`` in the ``*_model_params``; when
        unset, it is set explicitly to the cores left per concurrently running fit.

        ``fit_params`` go to every base model's ``fit``, or, qualified as
        ``{"nuisance": {kind: {...}}, "treatment": {kind: {...}}}``, to chosen models only.
        ``synchronize_cross_fitting`` makes models share folds where the method allows.
        """
        graph = self._fit_graph_of(X, y, w, fit_params, synchronize_cross_fitting)
        self._fit_graph(graph.jobs, graph.deferred, n_jobs_cross_fitting, n_jobs_base_learners)
        return self

    @abstractmethod
    def _nuisance_jobs(
        self, X: Any, y: np.ndarray, w: np.ndarray, fit_params: dict[str, dict], synchronize: bool
    ) -> list[CrossFitJob | None]:
        """The first-stage cross-fit jobs of this learner."""

    def _treatment_plan(
        self, X: Any, y: np.ndarray, w: np.ndarray, fit_params: dict[str, dict]
    ) -> list[Deferred]:
        """The second-stage jobs of this learner, each with the nuisance models it needs."""
        return []

    # -- prediction ------------------------------------------------------------------------

    def _cate_tensor(self, effects: Sequence[np.ndarray]) -> np.ndarray:
        """Per-variant effects, each (n_obs,), as predict returns them: (n_obs, n_variants - 1,
        n_outputs); for a binary outcome the effect on both classes' probabilities."""
        tau = np.stack(effects, axis=1)
        return np.stack([-tau, tau], axis=2) if self.is_classification else tau[:, :, None]

    @abstractmethod
    def predict(
        self, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL, n_jobs: int | str | None = None
    ) -> np.ndarray:
        """CATE estimates of shape (n_obs, n_variants - 1, n_outputs).

        ``n_outputs`` is 1 for regression and the number of classes for classification.
        ``is_oos=False`` means ``X`` are the training rows: the estimates then come from
        cross-fitting. ``n_jobs`` (not in metalearners): the base models' predictions in
        parallel, models and row chunks (``None``: serial; an int; ``"auto"``: serial for
        small batches); the answer is the serial one.
        """

    @abstractmethod
    def evaluate(
        self, X: Any, y: Any, w: Any, is_oos: bool, oos_method: OosMethod = OVERALL, scoring: dict | None = None,
        n_jobs: int | str | None = None,
    ) -> dict[str, float]:
        """Scores of every base model, keyed ``{model_kind}[_{i}|_{k}_vs_0]_{scorer}``; ``n_jobs`` as in predict."""

    def _scoring(self, scoring: dict | None) -> dict[str, list]:
        specs = self.nuisance_model_specifications() | self.treatment_model_specifications()
        default = {kind: [default_metric(spec["predict_method"](self))] for kind, spec in specs.items()}
        return default | dict(scoring or {})

    @property
    def init_args(self) -> dict[str, Any]:
        """Constructor arguments for a new, unfitted learner with the same setup."""
        prefitted = self._prefitted_nuisance_models
        return {
            "is_classification": self.is_classification,
            "n_variants": self.n_variants,
            "nuisance_model_factory": {
                k: v for k, v in self.nuisance_model_factory.items() if k != PROPENSITY_MODEL and k not in prefitted
            },
            "treatment_model_factory": self.treatment_model_factory,
            "propensity_model_factory": (
                self.nuisance_model_factory.get(PROPENSITY_MODEL) if PROPENSITY_MODEL not in prefitted else None
            ),
            "nuisance_model_params": {
                k: v for k, v in self.nuisance_model_params.items() if k != PROPENSITY_MODEL and k not in prefitted
            },
            "treatment_model_params": self.treatment_model_params,
            "propensity_model_params": (
                self.nuisance_model_params.get(PROPENSITY_MODEL) if PROPENSITY_MODEL not in prefitted else None
            ),
            "fitted_nuisance_models": {
                k: deepcopy(v) for k, v in self._nuisance_models.items() if k in prefitted and k != PROPENSITY_MODEL
            },
            "fitted_propensity_model": (
                deepcopy(self._nuisance_models.get(PROPENSITY_MODEL)[0]) if PROPENSITY_MODEL in prefitted else None
            ),
            "feature_set": self.feature_set,
            "n_folds": self.n_folds,
            "random_state": self.random_state,
        }


def __getattr__(name: str) -> Any:
    # The per-variant-outcome base subclasses MetaLearner, so it is imported on demand
    # (importing it above would be circular); it stays importable from here, as in metalearners.
    if name == "_ConditionalAverageOutcomeMetaLearner":
        from metalearners_core._conditional_average_outcome import _ConditionalAverageOutcomeMetaLearner

        return _ConditionalAverageOutcomeMetaLearner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
