"""The real workload: fit one meta-learner on one scenario's cached data.

Synthetic data has a true CATE, so each fit is scored by its CATE RMSE. A user's
data file has none: its fits get no RMSE (stored as NULL, never 0) and instead the
learner's own out-of-sample ``evaluate`` metrics on the file's held-out rows. A file's
sample weights go to the fits through ``fit_params`` (:mod:`scenarios.weights`).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from harness.config import ParallelConfig
from harness.engines import learner_class, supports
from harness.measure import available_cores
from harness.pools import joblib_backend, local_dask_cluster
from harness.store.schema import task_row
from metalearners_core import OversubscriptionWarning
from scenarios import Scenario, cate_rmse, learner_kwargs, load_data
from scenarios.weights import weight_fit_params


class FitScenario:
    """Fits ``engine``'s learner on a scenario under one parallel config.

    Untimed: loading the cached data, building the constructor arguments, and after
    each fit the out-of-sample CATE RMSE and the task trace. Timed: constructing and
    fitting the learner. A fit's ``OversubscriptionWarning`` (metalearners_core's:
    the config asks for more threads than cores) is kept in :attr:`oversubscription`.
    """

    def __init__(self, engine: str, scenario: dict, config: dict, data_dir: str | None = None):
        self.engine = engine
        self.scenario = Scenario.from_dict(scenario)
        self.config = ParallelConfig.from_dict(config)
        self.data_dir = data_dir
        self.learner: Any = None
        self.oversubscription: str | None = None
        self.cluster: Any = None  # a dask<N> config's local Dask cluster, started untimed in prepare

    def prepare(self) -> None:
        if not supports(self.engine, self.config):
            raise ValueError(f"engine {self.engine!r} has no {self.config.id!r} config")
        self.data = load_data(self.scenario, cache_dir=self.data_dir)
        if self.scenario.data is not None and self.scenario.is_classification:
            self.y = np.asarray(self.data.y, dtype=np.int64)  # checked 0/1 when the file was read
        else:
            self.y = self.data.y
        self.learner_class = learner_class(self.engine, self.scenario.learner)
        self.kwargs = learner_kwargs(self.scenario, self.config.model_n_jobs)
        # The file's sample weights (if any), through the learners' documented fit_params.
        self.fit_params = weight_fit_params(self.scenario.learner, getattr(self.data, "weights", None))
        warnings.filterwarnings("ignore")  # library deprecation noise, not results
        if self.config.dask_workers:  # like a user's running cluster: its start-up is not the fit's
            self.cluster = local_dask_cluster(self.config.dask_workers, available_cores())

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def run_once(self) -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", OversubscriptionWarning)  # the rest stays ignored (prepare)
            self._fit()
        flagged = [w for w in caught if issubclass(w.category, OversubscriptionWarning)]
        if flagged:
            self.oversubscription = str(flagged[0].message)

    def _fit(self) -> None:
        self.learner = self.learner_class(**self.kwargs)
        if self.config.is_auto:  # the library chooses levels, threads and backend
            self.learner.fit(self.data.X, self.y, self.data.w, n_jobs_cross_fitting="auto", n_jobs_base_learners="auto",
                             fit_params=self.fit_params)
            return
        with joblib_backend(self.config.backend):
            self.learner.fit(
                self.data.X,
                self.y,
                self.data.w,
                n_jobs_cross_fitting=self.config.n_jobs_cross_fitting,
                n_jobs_base_learners=self.config.n_jobs_base_learners,
                fit_params=self.fit_params,
            )

    def result_extras(self) -> dict[str, Any]:
        extras: dict[str, Any] = {}
        if self.data.cate_test is not None:
            tau = self.learner.predict(self.data.X_test, is_oos=True)
            extras["cate_rmse"] = cate_rmse(tau, self.data.cate_test)
        elif len(self.data.y_test):
            y_test = np.asarray(self.data.y_test, dtype=np.int64 if self.scenario.is_classification else np.float64)
            scores = self.learner.evaluate(self.data.X_test, y_test, np.asarray(self.data.w_test), is_oos=True)
            extras["evaluate"] = {name: float(value) for name, value in scores.items()}
        trace = getattr(self.learner, "fit_trace_", None)
        if trace:
            origin = min(r.start for r in trace)
            extras["tasks"] = [task_row(r, origin) for r in trace]
        return extras
