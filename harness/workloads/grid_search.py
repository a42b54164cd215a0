"""The grid-search workload: ``MetaLearnerGridSearch(...).fit(X, y, w, X_test, y_test, w_test)`` on a grid scenario.

The core engine runs ``metalearners_core.MetaLearnerGridSearch`` (every grid point in
one task graph, identical base models fitted once), the metalearners engine the
package's ``metalearners.grid_search.MetaLearnerGridSearch``; both get the same grid
(:func:`scenarios.grid.resolve_grid`), data, folds and seed. The config's four
levels: ``n_jobs_grid`` is the search's ``n_jobs``, the model level the thread keyword
in every class's params, ``n_jobs_cross_fitting`` and ``n_jobs_base_learners`` the
learners' ``fit`` keywords the search passes on, the backend joblib's (``auto``: every
level ``"auto"``). Synthetic data has no held-out outcomes, so its rows are split
4:1 into the search's training and test rows (the package's documentation scores
both). One timed fit is the whole search, scoring included, as a user runs it.
"""

from __future__ import annotations

import warnings
from typing import Any

from harness.config import ParallelConfig
from harness.grid_configs import supports_grid
from harness.pools import joblib_backend
from harness.store.schema import task_row
from harness.workloads.scenario import FitScenario
from scenarios import Scenario, load_data
from scenarios.grid import resolve_grid

#: Share of a synthetic scenario's rows the search holds out as its test rows.
TEST_SHARE = 0.2


def _search_class(engine: str) -> tuple[Any, Any]:
    """(MetaLearnerGridSearch, metalearner_factory) of an engine."""
    if engine == "core":
        from metalearners_core import MetaLearnerGridSearch, metalearner_factory
    elif engine == "metalearners":
        from metalearners.grid_search import MetaLearnerGridSearch
        from metalearners.utils import metalearner_factory
    else:
        raise ValueError(f"engine {engine!r} has no grid search; choose core or metalearners")
    return MetaLearnerGridSearch, metalearner_factory


class FitGridSearch:
    """One grid search of ``engine`` over a grid scenario under one config (see the module).

    Untimed: loading the data, resolving the grid, and after each search a summary of
    ``results_`` and (core) the task trace. Timed: building and fitting the search.
    """

    def __init__(self, engine: str, scenario: dict, config: dict, data_dir: str | None = None):
        self.engine = engine
        self.scenario = Scenario.from_dict(scenario)
        self.config = ParallelConfig.from_dict(config)
        self.data_dir = data_dir
        self.search: Any = None
        self.oversubscription: str | None = None
        if self.scenario.grid is None:
            raise ValueError(f"scenario {self.scenario.id} has no grid; the 'scenario' workload fits it")

    def prepare(self) -> None:
        if not supports_grid(self.engine, self.config):
            raise ValueError(f"engine {self.engine!r} has no {self.config.id!r} config for a grid search")
        s = self.scenario
        data = load_data(s, cache_dir=self.data_dir)  # synthetic: a grid scenario has no data file
        cut = len(data.y) - max(1, int(len(data.y) * TEST_SHARE))
        self.train = (data.X[:cut], data.y[:cut], data.w[:cut])
        self.test = (data.X[cut:], data.y[cut:], data.w[cut:])
        self.search_class, factory = _search_class(self.engine)
        self.factory = factory(s.learner)
        self.base_learner_grid, self.param_grid = resolve_grid(
            s.grid, s.learner, s.is_classification, s.seed, self.config.model_n_jobs
        )
        self.metalearner_params = {"is_classification": s.is_classification, "n_variants": s.n_variants, "n_folds": s.n_folds}
        warnings.filterwarnings("ignore")  # library deprecation noise, not results

    run_once = FitScenario.run_once  # one search, its OversubscriptionWarning recorded as a fit's

    def _fit(self) -> None:
        auto = self.config.is_auto
        self.search = self.search_class(
            self.factory,
            self.metalearner_params,
            self.base_learner_grid,
            self.param_grid,
            n_jobs="auto" if auto else self.config.n_jobs_grid,
            random_state=self.scenario.seed,
        )
        levels = {
            "n_jobs_cross_fitting": "auto" if auto else self.config.n_jobs_cross_fitting,
            "n_jobs_base_learners": "auto" if auto else self.config.n_jobs_base_learners,
        }
        levels = {k: v for k, v in levels.items() if v is not None}  # unset: the library's default
        if auto:
            self.search.fit(*self.train, *self.test, **levels)
            return
        with joblib_backend(self.config.backend):
            self.search.fit(*self.train, *self.test, **levels)

    def result_extras(self) -> dict[str, Any]:
        results = self.search.results_
        extras: dict[str, Any] = {"grid": {"grid_size": int(self.search.grid_size_), "sum_fit_time_s": float(results["fit_time"].sum())}}
        test_columns = [c for c in results.columns if c.startswith("test_")]
        if test_columns:  # the first test score of the best grid point: the searches agree on it
            extras["grid"]["best_" + test_columns[0]] = float(results[test_columns[0]].max())
        trace = getattr(self.search, "fit_trace_", None)
        if trace:
            extras["grid"]["base_model_fits"] = len(trace)
            origin = min(r.start for r in trace)
            extras["tasks"] = [task_row(r, origin) for r in trace]
        return extras
