"""MetaLearnerGridSearch: every grid point of a meta-learner in one task graph, each distinct base model fitted once.

The API is ``metalearners.grid_search`` 0.13's: the constructor, ``fit`` (its extra
keywords go to each learner's ``fit``), ``results_`` (one row per grid point,
indexed by the learner and each model kind's class and parameters, then
``fit_time``, ``score_time`` and the ``train_*`` / ``test_*`` scores of each
learner's ``evaluate``), ``raw_results_`` (a list of :class:`GSResult`, a generator
when nothing is stored) and ``grid_size_``.

What differs is how it runs. The package fits grid point after grid point (``n_jobs``
of them at once, each a full fit with its own pools) and refits every base model at
every grid point that uses it. Here each grid point's learner builds the task graph
of its fit, and the union runs as ONE graph in one pool (:mod:`._execution.grid`):
``n_jobs`` is a fourth level, a cap on the grid points in flight like
``n_jobs_cross_fitting`` and ``n_jobs_base_learners`` (``"auto"`` at any level lets
the scheduler split the cores), and a base model with the same factory,
parameters, data, folds (seed), fit params and predictions is fitted once and
shared by every grid point that uses it: their learners hold the same fitted
estimators, and each learner is the one fitting that grid point alone gives.
LightGBM's binned data is shared across grid points as within one fit.

Times: a grid point's ``fit_time`` is the time of the base-model fits its learner
consists of (the sum of their task durations: what fitting it alone, serially,
costs), fits shared with other grid points counted in full; ``shared_fit_time``
(a column the package lacks) is the part of it spent in fits shared with other
grid points, each run once for all of them. The search's fits, each once, are in
``fit_trace_``; its wall time is not split over grid points. ``score_time`` is the
grid point's ``evaluate`` calls, as in the package (after the fit, several grid
points at once on up to the pool's workers in threads: predictions release the GIL).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sklearn.model_selection import ParameterGrid

from metalearners_core._execution import CrossFitJob, FittedCrossFit, Plan, TaskRecord, map_in_threads, run_learner_graphs
from metalearners_core._grid_validation import (
    models_to_fit,
    validate_fit_keywords,
    validate_grids,
    validate_metalearner_params,
)
from metalearners_core._model_kinds import PROPENSITY_MODEL
from metalearners_core.cross_fit_estimator import OVERALL, OosMethod, validate_oos_method
from metalearners_core.metalearner import MetaLearner


@dataclass(frozen=True)
class GSResult:
    """The result of one grid point (the package's, plus ``shared_fit_time``)."""

    metalearner: MetaLearner
    train_scores: dict
    test_scores: dict | None
    fit_time: float
    score_time: float
    shared_fit_time: float = 0.0


class MetaLearnerGridSearch:
    """Exhaustive search over base models and their parameters for a meta-learner.

    As ``metalearners.grid_search.MetaLearnerGridSearch``: ``metalearner_params`` are
    the learner's other arguments (``n_variants``, ``is_classification``, ``n_folds``,
    pre-fitted models...; ``random_state`` is this class's own argument);
    ``base_learner_grid`` maps every model kind to fit to a list of model classes, and
    ``param_grid`` maps a model kind to ``{class name: {parameter: [values]}}``
    (classes without an entry use their defaults). ``n_jobs`` caps the grid points in
    flight in the one pool (see the module); ``verbose > 0`` prints one line on the
    search when it is done. ``store_raw_results`` and ``store_results`` choose what
    is kept, as in the package: with both ``False``, ``raw_results_`` is a generator
    (the search runs at its first item, then each grid point is scored as it is
    yielded).
    """

    def __init__(
        self,
        metalearner_factory: type[MetaLearner],
        metalearner_params: Mapping[str, Any],
        base_learner_grid: Mapping[str, Sequence[type]],
        param_grid: Mapping[str, Mapping[str, Mapping[str, Sequence]]],
        scoring: Mapping | None = None,
        n_jobs: int | str | None = None,
        random_state: int | None = None,
        verbose: int = 0,
        store_raw_results: bool = True,
        store_results: bool = True,
    ):
        self.metalearner_factory = metalearner_factory
        self.metalearner_params = metalearner_params
        self.scoring = scoring
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.store_raw_results = store_raw_results
        self.store_results = store_results
        self.models_to_fit, self.fitted_models = models_to_fit(metalearner_factory, metalearner_params)
        validate_grids(base_learner_grid, param_grid, self.models_to_fit)
        self.base_learner_grid = base_learner_grid
        self.param_grid = param_grid

    def _grid_points(self) -> list[dict[str, Any]]:
        """Each grid point's learner arguments, in the package's order."""
        nuisance_kinds = set(self.metalearner_factory.nuisance_model_specifications()) - {PROPENSITY_MODEL}
        nuisance_kinds &= self.models_to_fit
        treatment_kinds = set(self.metalearner_factory.treatment_model_specifications())
        param_grid = self.param_grid or {}
        points = []
        for base_learners in ParameterGrid(dict(self.base_learner_grid)):
            per_kind = {
                kind: list(ParameterGrid(param_grid.get(kind, {}).get(base_learners[kind].__name__, {})))
                for kind in self.models_to_fit
            }
            for params in ParameterGrid(per_kind):
                points.append(
                    dict(self.metalearner_params)
                    | {
                        "nuisance_model_factory": {kind: base_learners[kind] for kind in nuisance_kinds},
                        "treatment_model_factory": {kind: base_learners[kind] for kind in treatment_kinds},
                        "propensity_model_factory": base_learners.get(PROPENSITY_MODEL),
                        "nuisance_model_params": {kind: params[kind] for kind in nuisance_kinds},
                        "treatment_model_params": {kind: params[kind] for kind in treatment_kinds},
                        "propensity_model_params": params.get(PROPENSITY_MODEL),
                        "random_state": self.random_state,
                    }
                )
        return points

    def fit(
        self,
        X: Any,
        y: Any,
        w: Any,
        X_test: Any = None,
        y_test: Any = None,
        w_test: Any = None,
        oos_method: OosMethod = OVERALL,
        **kwargs: Any,
    ) -> MetaLearnerGridSearch:
        """Fit every grid point (one task graph), then score each with ``evaluate``.

        ``X_test``, ``y_test`` and ``w_test``: when all are given, every learner is also
        scored on them (out of sample, with ``oos_method``). ``kwargs`` are the
        learners' ``fit`` keywords: ``n_jobs_cross_fitting`` and
        ``n_jobs_base_learners`` are the levels of the one pool, ``fit_params`` and
        ``synchronize_cross_fitting`` go to every learner.
        """
        validate_fit_keywords(kwargs, self.n_jobs)
        validate_oos_method(oos_method)
        validate_metalearner_params(self.metalearner_params)
        points = self._grid_points()
        self.grid_size_ = len(points)
        self.raw_results_: list[GSResult] | Generator[GSResult, None, None] | None = None
        self.results_: pd.DataFrame | None = None
        test = (X_test, y_test, w_test) if all(v is not None for v in (X_test, y_test, w_test)) else None
        if not self.store_raw_results and not self.store_results:
            self.raw_results_ = self._results(points, X, y, w, test, oos_method, kwargs, lazy=True)
            return self
        results = list(self._results(points, X, y, w, test, oos_method, kwargs))
        if self.store_raw_results:
            self.raw_results_ = results
        if self.store_results:
            self.results_ = _format_results(results)
        return self

    def _results(
        self, points: list[dict], X: Any, y: Any, w: Any, test: tuple | None, oos_method: OosMethod, kwargs: dict,
        lazy: bool = False,
    ) -> Generator[GSResult, None, None]:
        """Fit all grid points as one graph, then yield each scored (nothing runs before the
        first item). ``lazy``: each scored as it is asked for, else all on the pool's threads."""
        learners = [self.metalearner_factory(**params) for params in points]
        start = time.perf_counter()
        self._fit_all(learners, X, y, w, kwargs)
        self._report(learners, time.perf_counter() - start)
        fitted = list(zip(learners, _fit_times(learners)))
        del learners

        def scored(item: tuple) -> GSResult:
            learner, (fit_time, shared) = item
            start = time.perf_counter()
            train_scores = learner.evaluate(X=X, y=y, w=w, is_oos=False, scoring=self.scoring)
            test_scores = None
            if test is not None:
                X_test, y_test, w_test = test
                test_scores = learner.evaluate(
                    X=X_test, y=y_test, w=w_test, is_oos=True, oos_method=oos_method, scoring=self.scoring
                )
            return GSResult(learner, train_scores, test_scores, fit_time, time.perf_counter() - start, shared)

        if lazy:
            while fitted:  # handed out one by one: the generator keeps no learner it has yielded
                yield scored(fitted.pop(0))
            return
        plan = self.fit_plan_
        yield from map_in_threads(scored, fitted, 1 if plan.backend == "sequential" else plan.workers)

    def _fit_all(self, learners: list[MetaLearner], X: Any, y: Any, w: Any, kwargs: dict) -> None:
        """Every learner's fit graph, run as one; the learners keep their models."""
        fit_rows: dict = {}  # the variant rows of X, taken once for all learners
        try:
            graphs = [
                learner._fit_graph_of(
                    X, y, w, kwargs.get("fit_params"), kwargs.get("synchronize_cross_fitting", True), fit_rows
                )
                for learner in learners
            ]

            def keep(job: CrossFitJob, result: FittedCrossFit) -> None:
                learners[job.graph]._keep_fitted(job, result)

            self.fit_plan_: Plan = run_learner_graphs(
                graphs,
                keep,
                self.n_jobs,
                kwargs.get("n_jobs_cross_fitting"),
                kwargs.get("n_jobs_base_learners"),
            )
        finally:
            for learner in learners:
                learner._end_fit()
        for learner in learners:
            learner.fit_plan_ = self.fit_plan_
        self.fit_trace_: list[TaskRecord] = sorted(
            {id(r): r for learner in learners for r in learner.fit_trace_}.values(), key=lambda r: r.start
        )

    def _report(self, learners: list[MetaLearner], wall: float) -> None:
        if not self.verbose:
            return
        asked = sum(len({id(r) for r in learner.fit_trace_}) for learner in learners)
        print(
            f"MetaLearnerGridSearch: {len(learners)} grid points fitted in {wall:.2f} s: "
            f"{len(self.fit_trace_)} base-model fits run for {asked} asked "
            f"({self.fit_plan_.workers} workers, {self.fit_plan_.backend}).",
            file=sys.stderr,
        )


def _fit_times(learners: list[MetaLearner]) -> list[tuple[float, float]]:
    """Per learner: seconds of its base-model fits, and the part shared with other learners."""
    own = [{id(r): r for r in learner.fit_trace_} for learner in learners]
    users = Counter(key for records in own for key in records)
    return [
        (
            sum(r.duration for r in records.values()),
            sum(r.duration for key, r in records.items() if users[key] > 1),
        )
        for records in own
    ]


def _format_results(results: Iterator[GSResult] | list[GSResult]) -> pd.DataFrame:
    """The package's results table: one row per grid point, indexed by learner and models."""
    rows = []
    nuisance_kinds: list[str] = []
    treatment_kinds: list[str] = []
    for result in results:
        learner = result.metalearner
        row: dict[str, Any] = {"metalearner": type(learner).__name__}
        nuisance_kinds = sorted(set(learner.nuisance_model_specifications()) - learner._prefitted_nuisance_models)
        treatment_kinds = sorted(learner.treatment_model_specifications())
        for kinds, factories, params in (
            (nuisance_kinds, learner.nuisance_model_factory, learner.nuisance_model_params),
            (treatment_kinds, learner.treatment_model_factory, learner.treatment_model_params),
        ):
            for kind in kinds:
                row[kind] = factories[kind].__name__
                for param, value in params[kind].items():
                    row[f"{kind}_{param}"] = value
        row["fit_time"] = result.fit_time
        row["shared_fit_time"] = result.shared_fit_time
        row["score_time"] = result.score_time
        row |= {f"train_{name}": value for name, value in result.train_scores.items()}
        if result.test_scores is not None:
            row |= {f"test_{name}": value for name, value in result.test_scores.items()}
        rows.append(row)
    df = pd.DataFrame(rows)
    sorted_columns = sorted(df.columns)
    index_columns = ["metalearner"]
    for kind in [*nuisance_kinds, *treatment_kinds]:
        index_columns += [c for c in sorted_columns if c.startswith(kind)]
    return df.set_index(index_columns)
