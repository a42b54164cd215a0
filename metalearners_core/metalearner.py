"""The MetaLearner base: model declarations, validation, fitting through the execution layer.

The public API mirrors ``metalearners`` 0.13 (QuantCo): same class names, constructor
keywords, method signatures and output shapes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from copy import deepcopy
from dataclasses import replace
from typing import Any, TypedDict

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import get_scorer
from sklearn.model_selection import KFold

from metalearners_core._execution import (
    CrossFitJob,
    Deferred,
    FitPredictions,
    FittedCrossFit,
    ModelKey,
    Plan,
    TaskRecord,
    run_fit_graph,
)
from metalearners_core._onnx import _OnnxMixin
from metalearners_core._explain import _ExplainMixin
from metalearners_core._utils import (
    default_metric,
    has_nan,
    n_rows,
    select_columns,
    take_rows,
    to_numpy_vector,
    validate_model_and_predict_method,
    validate_n_jobs,
    validate_positive_int,
)
from metalearners_core.cross_fit_estimator import (
    OVERALL,
    CrossFitEstimator,
    OosMethod,
    SplitIndices,
    validate_oos_method,
)

PROPENSITY_MODEL = "propensity_model"
VARIANT_OUTCOME_MODEL = "variant_outcome_model"
TREATMENT_MODEL = "treatment_model"
NUISANCE = "nuisance"
TREATMENT = "treatment"


class _ModelSpecifications(TypedDict):
    cardinality: Callable[[MetaLearner], int]
    predict_method: Callable[[MetaLearner], str]


def get_one(*args: Any) -> int:
    return 1


def get_predict(*args: Any) -> str:
    return "predict"


def get_predict_proba(*args: Any) -> str:
    return "predict_proba"


def _per_kind(argument: Any, kinds: Collection[str]) -> dict:
    """A value per model kind: a dict covering all kinds, or one value for all."""
    if isinstance(argument, dict) and set(argument) >= set(kinds):
        return {kind: argument[kind] for kind in kinds}
    return {kind: argument for kind in kinds}


def _parse_fit_params(
    fit_params: dict | None, nuisance_kinds: Collection[str], treatment_kinds: Collection[str]
) -> dict[str, dict[str, dict]]:
    """``fit_params`` for every model: shared by all, or qualified per stage and kind."""
    if not fit_params or (NUISANCE not in fit_params and TREATMENT not in fit_params):
        shared = dict(fit_params or {})
        return {
            NUISANCE: {k: dict(shared) for k in nuisance_kinds},
            TREATMENT: {k: dict(shared) for k in treatment_kinds},
        }
    return {
        NUISANCE: {k: dict(fit_params.get(NUISANCE, {}).get(k, {})) for k in nuisance_kinds},
        TREATMENT: {k: dict(fit_params.get(TREATMENT, {}).get(k, {})) for k in treatment_kinds},
    }


class _ScoringView(BaseEstimator):
    """A fitted cross-fit estimator seen by sklearn scorers with fixed predict arguments."""

    def __init__(self, cfe: Any = None, is_oos: bool = True, oos_method: str = OVERALL):
        self.cfe = cfe
        self.is_oos = is_oos
        self.oos_method = oos_method

    def fit(self, X: Any, y: Any) -> _ScoringView:  # pragma: no cover - scorers never fit
        raise NotImplementedError("A scoring view is already fitted.")

    def predict(self, X: Any) -> np.ndarray:
        return self.cfe.predict(X, self.is_oos, self.oos_method)


class _ClassifierScoringView(ClassifierMixin, _ScoringView):
    @property
    def classes_(self) -> np.ndarray:
        return self.cfe.classes_

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.cfe.predict_proba(X, self.is_oos, self.oos_method)


class _RegressorScoringView(RegressorMixin, _ScoringView):
    pass


def _evaluate_model_kind(
    cfes: Sequence[CrossFitEstimator],
    Xs: Sequence[Any],
    ys: Sequence[Any],
    scorers: Sequence[str | Callable],
    model_kind: str,
    is_oos: bool,
    is_treatment_model: bool,
    feature_set: Any,
    oos_method: OosMethod = OVERALL,
    sample_weights: Sequence[Any] | None = None,
) -> dict[str, float]:
    """Scores of all models of one kind, keyed as metalearners keys them."""
    metrics: dict[str, float] = {}
    for idx, scorer in enumerate(scorers):
        name_of_scorer = scorer if isinstance(scorer, str) else f"custom_scorer_{idx}"
        score = get_scorer(scorer) if isinstance(scorer, str) else scorer
        for i, cfe in enumerate(cfes):
            if is_treatment_model:
                index = f"{i + 1}_vs_0_"
            else:
                index = "" if len(cfes) == 1 else f"{i}_"
            view_class = _ClassifierScoringView if cfe._is_classifier else _RegressorScoringView
            view = view_class(cfe, is_oos, oos_method)
            X = select_columns(Xs[i], feature_set)
            kwargs = {"sample_weight": sample_weights[i]} if sample_weights else {}
            metrics[f"{model_kind}_{index}{name_of_scorer}"] = score(view, X, ys[i], **kwargs)
    return metrics


class MetaLearner(_ExplainMixin, _OnnxMixin, ABC):
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
        for argument, name in [
            (nuisance_model_factory, "nuisance_model_factory"),
            (nuisance_model_params, "nuisance_model_params"),
        ]:
            if isinstance(argument, dict) and PROPENSITY_MODEL in argument:
                kind = name.rsplit("_", 1)[-1]
                raise ValueError(
                    f"The propensity model's {kind} goes into propensity_model_{kind}, "
                    f"not into {name}."
                )
        if has_propensity and propensity_model_factory is None and fitted_propensity_model is None:
            raise ValueError(
                f"{type(self).__name__} has a propensity model: pass "
                "propensity_model_factory or fitted_propensity_model."
            )
        self._validate_n_variants(n_variants)
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
            validate_positive_int(folds, f"n_folds of {kind}")
        self.random_state = random_state
        self.feature_set = _per_kind(feature_set, all_kinds)

        self._nuisance_models: dict[str, list[CrossFitEstimator]] = {}
        self._prefitted_nuisance_models: set[str] = set()
        if fitted_nuisance_models is not None:
            if not set(fitted_nuisance_models) <= other_nuisance:
                raise ValueError(
                    f"The keys of fitted_nuisance_models {sorted(fitted_nuisance_models)} "
                    f"must be among {sorted(other_nuisance)}."
                )
            self._nuisance_models |= deepcopy(fitted_nuisance_models)
            self._prefitted_nuisance_models |= set(fitted_nuisance_models)
        if has_propensity and fitted_propensity_model is not None:
            self._nuisance_models[PROPENSITY_MODEL] = [fitted_propensity_model]
            self._prefitted_nuisance_models.add(PROPENSITY_MODEL)

        for kind in set(nuisance_specs) - self._prefitted_nuisance_models:
            if self.nuisance_model_factory[kind] is None:
                source = "propensity_model_factory" if kind == PROPENSITY_MODEL else "nuisance_model_factory"
                raise ValueError(f"A model for the nuisance model {kind} is needed: pass {source}.")
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

    @classmethod
    def _validate_n_variants(cls, n_variants: Any) -> None:
        if isinstance(n_variants, bool) or not isinstance(n_variants, (int, np.integer)) or n_variants < 2:
            raise ValueError(f"n_variants must be an integer >= 2, got {n_variants!r}.")
        if n_variants > 2 and not cls._supports_multi_treatment():
            raise NotImplementedError(
                f"{cls.__name__} only supports binary treatments, got n_variants={n_variants}."
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

    # -- input validation -------------------------------------------------------------

    def _validate_fit_inputs(self, X: Any, y: Any, w: Any) -> tuple[np.ndarray, np.ndarray]:
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
        w_np = self._as_variant_codes(w_np)
        present = set(np.unique(w_np).tolist())
        allowed = set(range(self.n_variants))
        if present - allowed:
            raise ValueError(
                f"Treatment values {sorted(present - allowed)} are outside 0..{self.n_variants - 1} "
                f"(n_variants={self.n_variants})."
            )
        if allowed - present:
            raise ValueError(
                f"Treatment variant(s) {sorted(allowed - present)} have no rows; every variant "
                f"0..{self.n_variants - 1} needs data."
            )
        self._validate_outcome(y_np, w_np)
        return y_np, w_np

    @staticmethod
    def _as_variant_codes(w: np.ndarray) -> np.ndarray:
        if w.dtype == bool:
            return w.astype(np.int64)
        if w.dtype.kind == "f":
            if not np.all(np.mod(w, 1) == 0):
                raise ValueError("w must hold integer variant codes; found non-integer values.")
            return w.astype(np.int64)
        if w.dtype.kind not in "iu":
            raise ValueError(f"w must hold integer variant codes, got dtype {w.dtype}.")
        return w

    def _validate_outcome(self, y: np.ndarray, w: np.ndarray) -> None:
        if not self.is_classification:
            return
        classes = np.unique(y)
        if len(classes) > 2 and not self._supports_multi_class():
            raise ValueError(
                f"{type(self).__name__} supports binary classification only; y has "
                f"{len(classes)} classes."
            )
        if len(classes) == 1:
            raise ValueError(f"y has a single class {classes.tolist()}; classification needs two.")
        classes_control = set(np.unique(y[w == 0]).tolist())
        for variant in range(1, self.n_variants):
            if set(np.unique(y[w == variant]).tolist()) != classes_control:
                raise ValueError(
                    f"Variants 0 and {variant} have seen different sets of outcome classes."
                )

    def _check_in_sample_rows(self, X: Any, is_oos: bool) -> None:
        if self._n_fit_rows is None:
            raise ValueError(f"This {type(self).__name__} is not fitted yet; call fit first.")
        if not is_oos and n_rows(X) != self._n_fit_rows:
            raise ValueError(
                f"In-sample prediction (is_oos=False) needs the {self._n_fit_rows} training "
                f"rows, got {n_rows(X)}; use is_oos=True for new data."
            )

    # -- fitting --------------------------------------------------------------------------

    def _qualified_fit_params(self, fit_params: dict | None) -> dict[str, dict[str, dict]]:
        return _parse_fit_params(
            fit_params, self.nuisance_model_specifications(), self.treatment_model_specifications()
        )

    def _split(self, X: Any) -> SplitIndices:
        """Shared folds for synchronized cross-fitting."""
        folds = set(self.n_folds.values())
        if len(folds) != 1:
            raise ValueError(
                f"Synchronized cross-fitting needs equal n_folds for all models, got {self.n_folds}."
            )
        (n_folds,) = folds
        if n_folds < 2:
            raise ValueError("Synchronized cross-fitting needs at least two folds.")
        return list(KFold(n_splits=n_folds, shuffle=True, random_state=self.random_state).split(X))

    def _nuisance_job(
        self, X: Any, y: Any, model_kind: str, model_ord: int, fit_params: dict | None, cv: SplitIndices | None = None,
        in_sample: bool = False, outside_X: Any = None, outside_rows: Sequence[np.ndarray] = (),
    ) -> CrossFitJob | None:
        """A nuisance model's job. ``in_sample``: its fold models also predict their held-out
        rows; ``outside_rows``: its overall model also predicts these rows of ``outside_X``
        (both in the workers, for the second stage: see :meth:`_nuisance_in_sample`)."""
        if model_kind in self._prefitted_nuisance_models:
            return None
        features = self.feature_set[model_kind]
        job = self._nuisance_models[model_kind][model_ord].job(
            select_columns(X, features), y, fit_params, cv, NUISANCE, model_kind, model_ord
        )
        if not (in_sample or outside_rows):
            return job
        method = self.nuisance_model_specifications()[model_kind]["predict_method"](self)
        outside = select_columns(outside_X, features) if outside_rows else None
        return replace(job, predictions=FitPredictions(method, in_sample, outside, tuple(outside_rows)))

    def _nuisance_in_sample(self, X: Any, model_kind: str, model_ord: int, rows: np.ndarray | None = None) -> np.ndarray:
        """In-sample predictions of a nuisance model for ``X`` (``rows`` of it): the ones its
        fold models made in the workers during this fit, else predicted now."""
        made = self._fit_predictions.get((model_kind, model_ord), (None, None))[0]
        if made is not None:
            return made
        return self.predict_nuisance(X if rows is None else take_rows(X, rows), model_kind, model_ord, False)

    def _nuisance_of_all_rows(
        self, X: Any, model_kind: str, model_ord: int, is_oos: bool, oos_method: OosMethod = OVERALL
    ) -> np.ndarray:
        """A nuisance model's predictions of every row of ``X``: out of sample, or in sample
        (made in the workers during this fit where it can)."""
        if is_oos:
            return self.predict_nuisance(X, model_kind, model_ord, True, oos_method)
        return self._nuisance_in_sample(X, model_kind, model_ord)

    def _nuisance_outside(
        self, X: Any, model_kind: str, model_ord: int, rows: np.ndarray, index: int, oos_method: OosMethod = OVERALL
    ) -> np.ndarray:
        """Out-of-sample predictions of ``rows`` of ``X``: the ``index``-th set the overall
        model predicted in the workers during this fit, else predicted now."""
        made = self._fit_predictions.get((model_kind, model_ord), (None, None))[1]
        if made is not None and oos_method == OVERALL:
            return made[index]
        return self.predict_nuisance(take_rows(X, rows), model_kind, model_ord, True, oos_method)

    def _treatment_job(
        self, X: Any, y: Any, model_kind: str, model_ord: int, fit_params: dict | None, cv: SplitIndices | None = None
    ) -> CrossFitJob:
        return self._treatment_models[model_kind][model_ord].job(
            select_columns(X, self.feature_set[model_kind]), y, fit_params, cv, TREATMENT, model_kind, model_ord
        )

    def _fit_graph(
        self,
        jobs: Sequence[CrossFitJob | None],
        deferred: Sequence[Deferred],
        n_jobs_cross_fitting: int | str | None,
        n_jobs_base_learners: int | str | None,
        fitted_stage: bool = False,
    ) -> None:
        """Fit jobs, and deferred jobs once their models are ready, in one pool; keep them.

        ``fitted_stage``: the nuisance models are all fitted already (``fit_all_treatment``).
        """
        validate_n_jobs(n_jobs_cross_fitting, "n_jobs_cross_fitting")
        validate_n_jobs(n_jobs_base_learners, "n_jobs_base_learners")
        ready = set(self._prefitted_nuisance_models) | (set(self._nuisance_models) if fitted_stage else set())
        fitted = [(kind, i) for kind in ready for i in range(len(self._nuisance_models[kind]))]

        def keep(job: CrossFitJob, result: FittedCrossFit) -> None:
            models = self._nuisance_models if job.stage == NUISANCE else self._treatment_models
            model = models[job.model_kind][job.model_ord].clone().adopt(job, result)
            models[job.model_kind][job.model_ord] = model
            self.fit_trace_.extend(result.records)
            if job.predictions is not None:
                folds = result.fold_predictions
                in_sample = None if folds is None else model.in_sample_from(folds, job.predictions.method)
                self._fit_predictions[job.key] = (in_sample, result.outside_predictions)

        try:
            self.fit_plan_: Plan = run_fit_graph(
                [job for job in jobs if job is not None],
                deferred,
                n_jobs_cross_fitting,
                n_jobs_base_learners,
                on_fitted=keep,
                fitted=fitted,
            )
        finally:
            self._fit_predictions, self._fit_rows = {}, {}  # valid for this fit's data only

    def _rows_of_variant(self, X: Any, w: np.ndarray, variant: int) -> Any:
        """X's rows of ``variant``, one array per fit: models trained on the same array
        and folds share LightGBM's binned data (see ``_lightgbm_bins``)."""
        key = (id(X), variant)
        if key not in self._fit_rows:  # X is kept, so that its id stays unique
            self._fit_rows[key] = (X, take_rows(X, w == variant))
        return self._fit_rows[key][1]

    def fit_nuisance(
        self, X: Any, y: Any, model_kind: str, model_ord: int, fit_params: dict | None = None,
        n_jobs_cross_fitting: int | None = None, cv: SplitIndices | None = None,
    ) -> MetaLearner:
        """Fit one nuisance model on its own target ``y`` (never a pre-fitted one)."""
        self._fit_graph([self._nuisance_job(X, y, model_kind, model_ord, fit_params, cv)], [], n_jobs_cross_fitting, 1)
        return self

    def fit_treatment(
        self, X: Any, y: Any, model_kind: str, model_ord: int, fit_params: dict | None = None,
        n_jobs_cross_fitting: int | None = None, cv: SplitIndices | None = None,
    ) -> MetaLearner:
        """Fit one treatment model on its own target ``y``."""
        self._fit_graph([self._treatment_job(X, y, model_kind, model_ord, fit_params, cv)], [], n_jobs_cross_fitting, 1)
        return self

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
        y_np, w_np = self._validate_fit_inputs(X, y, w)
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
            raise ValueError("Fit the nuisance models (fit_all_nuisance) before the treatment models.")
        y_np, w_np = self._validate_fit_inputs(X, y, w)
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
        y_np, w_np = self._start_fit(X, y, w)
        qualified = self._qualified_fit_params(fit_params)
        jobs = self._nuisance_jobs(X, y_np, w_np, qualified[NUISANCE], synchronize_cross_fitting)
        # One pool for both stages: a treatment model starts once the models it needs are fitted.
        plan = self._treatment_plan(X, y_np, w_np, qualified[TREATMENT])
        self._fit_graph(jobs, plan, n_jobs_cross_fitting, n_jobs_base_learners)
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

    def predict_nuisance(
        self, X: Any, model_kind: str, model_ord: int, is_oos: bool, oos_method: OosMethod = OVERALL
    ) -> np.ndarray:
        """Predictions of one nuisance model (its own feature set applied)."""
        method = self.nuisance_model_specifications()[model_kind]["predict_method"](self)
        model = self._nuisance_models[model_kind][model_ord]
        return getattr(model, method)(select_columns(X, self.feature_set[model_kind]), is_oos, oos_method)

    def predict_treatment(
        self, X: Any, model_kind: str, model_ord: int, is_oos: bool, oos_method: OosMethod = OVERALL
    ) -> np.ndarray:
        """Predictions of one treatment model (its own feature set applied)."""
        model = self._treatment_models[model_kind][model_ord]
        return model.predict(select_columns(X, self.feature_set[model_kind]), is_oos, oos_method)

    def _outcome_and_treatment(self, y: Any, w: Any) -> tuple[np.ndarray, np.ndarray]:
        """y and w as numpy vectors (w as variant codes), for evaluation and ATEs."""
        return to_numpy_vector(y, "y"), self._as_variant_codes(to_numpy_vector(w, "w"))

    def _cate_tensor(self, effects: Sequence[np.ndarray]) -> np.ndarray:
        """Per-variant effects, each (n_obs,), as predict returns them: (n_obs, n_variants - 1,
        n_outputs); for a binary outcome the effect on both classes' probabilities."""
        tau = np.stack(effects, axis=1)
        return np.stack([-tau, tau], axis=2) if self.is_classification else tau[:, :, None]

    def _start_predict(self, X: Any, is_oos: bool, oos_method: Any) -> None:
        validate_oos_method(oos_method)
        self._check_in_sample_rows(X, is_oos)

    @abstractmethod
    def predict(self, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL) -> np.ndarray:
        """CATE estimates of shape (n_obs, n_variants - 1, n_outputs).

        ``n_outputs`` is 1 for regression and the number of classes for classification.
        ``is_oos=False`` means ``X`` are the training rows: the estimates then come from
        cross-fitting.
        """

    @abstractmethod
    def evaluate(
        self, X: Any, y: Any, w: Any, is_oos: bool, oos_method: OosMethod = OVERALL, scoring: dict | None = None
    ) -> dict[str, float]:
        """Scores of every base model, keyed ``{model_kind}[_{i}|_{k}_vs_0]_{scorer}``."""

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


class _ConditionalAverageOutcomeMetaLearner(MetaLearner, ABC):
    """Learners with one outcome model per variant (T, X, DR)."""

    def predict_conditional_average_outcomes(
        self, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL
    ) -> np.ndarray:
        """E[Y(k) | X] for every variant k: shape (n_obs, n_variants, n_outputs).

        In-sample, a row's own variant model predicts it out of fold; the other variants'
        models never saw it and predict it out of sample.
        """
        self._start_predict(X, is_oos, oos_method)
        outcomes = [self._conditional_outcome(X, v, is_oos, oos_method) for v in range(self.n_variants)]
        return np.stack(outcomes, axis=1).reshape(n_rows(X), self.n_variants, -1)

    def _conditional_outcome(self, X: Any, variant: int, is_oos: bool, oos_method: OosMethod = OVERALL) -> np.ndarray:
        """E[Y(variant) | X] for every row of X (all classes for classification)."""
        if is_oos:
            return self.predict_nuisance(X, VARIANT_OUTCOME_MODEL, variant, True, oos_method)
        mask = self._treatment_variants_mask[variant]
        own = self._nuisance_in_sample(X, VARIANT_OUTCOME_MODEL, variant, mask)
        other = self._nuisance_outside(X, VARIANT_OUTCOME_MODEL, variant, ~mask, 0, oos_method)
        combined = np.zeros((n_rows(X), *own.shape[1:]))
        combined[mask], combined[~mask] = own, other
        return combined

    def _outcome_scale(self, prediction: np.ndarray) -> np.ndarray:
        """The outcome a pseudo-outcome works with: the positive class's probability, or y."""
        return prediction[:, 1] if self.is_classification else prediction

    def _evaluate_variant_outcomes(
        self, X: Any, y: Any, w: np.ndarray, is_oos: bool, oos_method: OosMethod, scoring: dict
    ) -> dict[str, float]:
        return _evaluate_model_kind(
            cfes=self._nuisance_models[VARIANT_OUTCOME_MODEL],
            Xs=[take_rows(X, w == v) for v in range(self.n_variants)],
            ys=[y[w == v] for v in range(self.n_variants)],
            scorers=scoring[VARIANT_OUTCOME_MODEL],
            model_kind=VARIANT_OUTCOME_MODEL,
            is_oos=is_oos,
            oos_method=oos_method,
            is_treatment_model=False,
            feature_set=self.feature_set[VARIANT_OUTCOME_MODEL],
        )


def _evaluate_propensity(learner: MetaLearner, X: Any, w: np.ndarray, is_oos: bool, oos_method: OosMethod, scoring: dict) -> dict[str, float]:
    return _evaluate_model_kind(
        cfes=learner._nuisance_models[PROPENSITY_MODEL],
        Xs=[X],
        ys=[w],
        scorers=scoring[PROPENSITY_MODEL],
        model_kind=PROPENSITY_MODEL,
        is_oos=is_oos,
        oos_method=oos_method,
        is_treatment_model=False,
        feature_set=learner.feature_set[PROPENSITY_MODEL],
    )
