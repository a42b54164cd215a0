"""The predict workload: a fitted meta-learner's ``predict`` on a batch of rows, timed call by call.

Untimed (``prepare``): the scenario's data; the learner, fitted once per (scenario,
engine) with the serial fit config (one thread per model) and kept in a cache of
fitted learners next to the data cache (``<data cache>/fitted/``, written atomically
with ``joblib.dump``), so a sweep fits each scenario once, not once per trial; the
batch: ``batch_rows`` rows of the held-out rows (the training rows where there are
none), tiled when more rows are asked than exist; the models' own threads for the
``p-serial-tN`` configs. Timed (``run_once``, one value): ``calls`` predict calls on
the batch, each timed on its own. A value's wall is the whole call batch (what the
statistics compare); its extras hold the figures of the calls: the median and p99
latency of one call and the throughput (rows per second over the value).

The call is the package's out-of-sample ``mean`` prediction, ``predict(X,
is_oos=True, oos_method="mean")``; metalearners_core's gets the config's ``n_jobs``
under its ``predict_split`` setting (and backend, when the config names one).
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import warnings
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

from harness.config import ParallelConfig
from harness.engines import learner_class
from harness.predict_config import PredictConfig, supports_predict
from scenarios import Scenario, learner_kwargs, load_data
from scenarios.weights import weight_fit_params

__all__ = ["PredictScenario", "calls_for", "fitted_cache_path"]

#: Batches up to this many rows are latency batches: many calls, median and p99 matter.
LATENCY_MAX_ROWS = 1_000
#: Calls per value of a latency batch (p99 of 200 calls is the second slowest).
LATENCY_CALLS = 200
#: A throughput batch predicts about this many rows per value, in at least
#: THROUGHPUT_MIN_CALLS calls.
THROUGHPUT_ROWS = 50_000
THROUGHPUT_MIN_CALLS = 3
#: The fit config of the cached learner: one thread per model, no pool.
_FIT_CONFIG = ParallelConfig(1, 1, 1)


def calls_for(batch_rows: int) -> int:
    """Predict calls per value for a batch size: the same for every config and engine,
    so the walls of one (scenario, batch) compare."""
    if batch_rows <= LATENCY_MAX_ROWS:
        return LATENCY_CALLS
    return max(THROUGHPUT_MIN_CALLS, math.ceil(THROUGHPUT_ROWS / batch_rows))


def fitted_cache_path(scenario: Scenario, engine: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the fitted learner of (scenario, engine) is kept (with the engine's version)."""
    from importlib.metadata import version

    from scenarios.cache import default_cache_dir

    package = "metalearners-core" if engine == "core" else engine
    try:
        tag = version(package)
    except Exception:  # noqa: BLE001 -- a source checkout without metadata
        tag = "src"
    root = Path(data_dir) if data_dir is not None else default_cache_dir()
    return root / "fitted" / f"{scenario.id}-{engine}-{tag}.joblib"


def _dump_atomic(value: Any, path: Path) -> None:
    """``joblib.dump`` to a temp file in the folder, then ``os.replace``: readers (other
    trials) see no file or a complete one."""
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    os.close(fd)
    try:
        joblib.dump(value, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def batch_of(X: Any, batch_rows: int) -> Any:
    """The first ``batch_rows`` rows of ``X``, tiled (repeated) when it has fewer."""
    from metalearners_core._utils import n_rows, take_rows

    rows = np.arange(batch_rows) % n_rows(X)
    batch = take_rows(X, rows)
    return batch.reset_index(drop=True) if hasattr(batch, "reset_index") else batch


def set_model_threads(learner: Any, threads: int) -> None:
    """Every fitted base model's ``n_jobs`` (LightGBM and scikit-learn read it when they
    predict), for a serial prediction with ``threads`` threads per model."""
    for models in (*learner._nuisance_models.values(), *learner._treatment_models.values()):
        for cfe in models:
            for model in [*cfe._estimators, cfe._overall_estimator]:
                if model is not None and "n_jobs" in getattr(model, "get_params", dict)():
                    model.set_params(n_jobs=threads)


class PredictScenario:
    """``engine``'s fitted learner predicting a batch of ``batch_rows`` rows under a predict config.

    ``calls``: predict calls per value (default :func:`calls_for`). ``learner_source``
    says after ``prepare`` whether the learner was "fitted" or loaded "cached".
    """

    def __init__(self, engine: str, scenario: dict, config: dict, batch_rows: int, calls: int | None = None,
                 data_dir: str | None = None):
        self.engine = engine
        self.scenario = Scenario.from_dict(scenario)
        self.config = PredictConfig.from_dict(config)
        if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
            raise ValueError(f"batch_rows={batch_rows!r} is not allowed; use an integer >= 1")
        if calls is not None and (isinstance(calls, bool) or not isinstance(calls, int) or calls < 1):
            raise ValueError(f"calls={calls!r} is not allowed; use an integer >= 1")
        self.batch_rows = batch_rows
        self.calls = calls if calls is not None else calls_for(batch_rows)
        self.data_dir = data_dir
        self.learner_source: str | None = None
        self.oversubscription: str | None = None
        self._latencies: list[float] = []

    def prepare(self) -> None:
        if not supports_predict(self.engine, self.config):
            raise ValueError(f"engine {self.engine!r} has no {self.config.id!r} predict config (the package predicts serially)")
        warnings.filterwarnings("ignore")  # library deprecation noise, not results
        data = load_data(self.scenario, cache_dir=self.data_dir)
        self.learner = self._fitted_learner(data)
        X_source = data.X_test if data.X_test is not None and _rows(data.X_test) else data.X
        self.X = batch_of(X_source, self.batch_rows)
        if self.config.model_threads:
            set_model_threads(self.learner, self.config.model_threads)
        self._call = self._predict_call()

    def _fitted_learner(self, data: Any) -> Any:
        import joblib

        path = fitted_cache_path(self.scenario, self.engine, self.data_dir)
        if path.is_file():
            try:
                learner = joblib.load(path)
                self.learner_source = "cached"
                return learner
            except Exception:  # noqa: BLE001 -- damaged, or pickled by other code: fit again
                pass
        y = data.y
        if self.scenario.data is not None and self.scenario.is_classification:
            y = np.asarray(y, dtype=np.int64)
        learner = learner_class(self.engine, self.scenario.learner)(**learner_kwargs(self.scenario, _FIT_CONFIG.model_n_jobs))
        fit_params = weight_fit_params(self.scenario.learner, getattr(data, "weights", None))
        learner.fit(data.X, y, data.w, n_jobs_cross_fitting=1, n_jobs_base_learners=1, fit_params=fit_params)
        _dump_atomic(learner, path)
        self.learner_source = "fitted"
        return learner

    def _predict_call(self) -> Any:
        learner, X, config = self.learner, self.X, self.config
        if self.engine != "core":
            return lambda: learner.predict(X, is_oos=True, oos_method="mean")
        import metalearners_core

        from harness.pools import joblib_backend

        def call() -> Any:
            backend = joblib_backend(config.backend) if config.backend else contextlib.nullcontext()
            with backend, metalearners_core.config_context(predict_split=config.split):
                return learner.predict(X, is_oos=True, oos_method="mean", n_jobs=config.n_jobs)

        return call

    def run_once(self) -> None:
        from metalearners_core import OversubscriptionWarning

        call, latencies = self._call, []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", OversubscriptionWarning)
            for _ in range(self.calls):
                t0 = perf_counter()
                call()
                latencies.append(perf_counter() - t0)
        flagged = [w for w in caught if issubclass(w.category, OversubscriptionWarning)]
        if flagged:
            self.oversubscription = str(flagged[0].message)
        self._latencies = latencies

    def result_extras(self) -> dict[str, Any]:
        walls = np.asarray(self._latencies)
        return {
            "batch_rows": self.batch_rows,
            "calls": self.calls,
            "latency_median_s": float(np.median(walls)),
            "latency_p99_s": float(np.quantile(walls, 0.99)),
            "rows_per_s": float(self.batch_rows * len(walls) / walls.sum()) if walls.sum() > 0 else None,
            "learner_source": self.learner_source,
        }


def _rows(X: Any) -> int:
    from metalearners_core._utils import n_rows

    return n_rows(X)
