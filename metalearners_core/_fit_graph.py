"""How a meta-learner's models become the task graph of one fit, and what the fit leaves behind.

:class:`_FitGraphMixin` is the part of :class:`MetaLearner` that builds a
:class:`CrossFitJob` per model (its feature set, fit params, folds, and the
predictions its models make in the workers for the second stage), runs the jobs
and deferred jobs through :func:`run_fit_graph`, and keeps the fitted models, the
fit trace and the worker-made predictions, which the learners then read through
``_nuisance_in_sample`` and ``_nuisance_outside`` instead of predicting again. It
works on the learner's own attributes (``_nuisance_models``, ``feature_set``,
``n_folds``...), set by ``MetaLearner.__init__``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.model_selection import KFold

from metalearners_core._execution import (
    CrossFitJob, Deferred, FitPredictions, FittedCrossFit, LearnerGraph, ModelKey, Plan, run_fit_graph,
)
from metalearners_core._model_kinds import NUISANCE, TREATMENT
from metalearners_core._utils import select_columns, take_rows, validate_n_jobs
from metalearners_core._validation import validate_features
from metalearners_core.cross_fit_estimator import OVERALL, OosMethod, SplitIndices

if TYPE_CHECKING:
    from metalearners_core.metalearner import MetaLearner


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


class _FitGraphMixin:
    """Builds, runs and keeps the cross-fit jobs of a :class:`MetaLearner` (see the module)."""

    def _qualified_fit_params(self, fit_params: dict | None) -> dict[str, dict[str, dict]]:
        return _parse_fit_params(
            fit_params, self.nuisance_model_specifications(), self.treatment_model_specifications()
        )

    def _split(self, X: Any) -> SplitIndices:
        """Shared folds for synchronized cross-fitting."""
        folds = set(self.n_folds.values())
        if len(folds) != 1:
            raise ValueError(
                "When using synchronization of cross-fitting, all provided n_folds values must be "
                f"equal. Got {self.n_folds}; or pass synchronize_cross_fitting=False."
            )
        (n_folds,) = folds
        if n_folds < 2:
            raise ValueError(
                "Need at least two folds to use synchronization. Got n_folds=1; or pass "
                "synchronize_cross_fitting=False."
            )
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
        try:
            self.fit_plan_: Plan = run_fit_graph(
                [job for job in jobs if job is not None],
                deferred,
                n_jobs_cross_fitting,
                n_jobs_base_learners,
                on_fitted=self._keep_fitted,
                fitted=self._fitted_keys(fitted_stage),
            )
        finally:
            self._end_fit()

    def _fit_graph_of(
        self, X: Any, y: Any, w: Any, fit_params: dict | None, synchronize: bool, fit_rows: dict | None = None
    ) -> LearnerGraph:
        """The task graph of a full ``fit``, not yet run (a grid search runs many as one).

        ``fit_rows``: a dict of variant rows shared with other learners fitted on the
        same data (see :meth:`_rows_of_variant`), so that their jobs train on the very
        same matrices: identical jobs are recognised at once and LightGBM bins shared.
        """
        y_np, w_np = self._start_fit(X, y, w)
        if fit_rows is not None:
            self._fit_rows = fit_rows
        qualified = self._qualified_fit_params(fit_params)
        jobs = self._nuisance_jobs(X, y_np, w_np, qualified[NUISANCE], synchronize)
        # One pool for both stages: a treatment model starts once the models it needs are fitted.
        deferred = self._treatment_plan(X, y_np, w_np, qualified[TREATMENT])
        return LearnerGraph([job for job in jobs if job is not None], deferred, self._fitted_keys())

    def _fitted_keys(self, fitted_stage: bool = False) -> list[ModelKey]:
        """The models a fit need not train: pre-fitted ones (and, with ``fitted_stage``, all nuisance models)."""
        ready = set(self._prefitted_nuisance_models) | (set(self._nuisance_models) if fitted_stage else set())
        return [(kind, i) for kind in ready for i in range(len(self._nuisance_models[kind]))]

    def _keep_fitted(self, job: CrossFitJob, result: FittedCrossFit) -> None:
        """Keep a fitted job's models, its trace and the predictions made in its workers."""
        models = self._nuisance_models if job.stage == NUISANCE else self._treatment_models
        model = models[job.model_kind][job.model_ord].clone().adopt(job, result)
        models[job.model_kind][job.model_ord] = model
        self.fit_trace_.extend(result.records)
        if job.predictions is not None:
            folds = result.fold_predictions
            in_sample = None if folds is None else model.in_sample_from(folds, job.predictions.method)
            self._fit_predictions[job.key] = (in_sample, result.outside_predictions)

    def _end_fit(self) -> None:
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
        validate_features(X, [self.feature_set[model_kind]])
        self._fit_graph([self._nuisance_job(X, y, model_kind, model_ord, fit_params, cv)], [], n_jobs_cross_fitting, 1)
        return self

    def fit_treatment(
        self, X: Any, y: Any, model_kind: str, model_ord: int, fit_params: dict | None = None,
        n_jobs_cross_fitting: int | None = None, cv: SplitIndices | None = None,
    ) -> MetaLearner:
        """Fit one treatment model on its own target ``y``."""
        validate_features(X, [self.feature_set[model_kind]])
        self._fit_graph([self._treatment_job(X, y, model_kind, model_ord, fit_params, cv)], [], n_jobs_cross_fitting, 1)
        return self
