"""Fits on a real Dask cluster (a LocalCluster of two worker processes): the serial answer, inputs
scattered once per fit, the worker of every task in the trace, lost workers and failing tasks, and
the library without dask installed."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from metalearners_core import SLearner, TLearner, metalearner_factory

from ._dask_probe import MisbehavingRegressor
from .conftest import LEARNERS, learner_kwargs

distributed = pytest.importorskip("distributed")
SchedulerPlugin = pytest.importorskip("distributed.diagnostics.plugin").SchedulerPlugin

_PREFIX = "metalearners_core-"  # the keys of the fit's tasks on the cluster


class _TaskInputs(SchedulerPlugin):
    """The scheduler's own view: for each fit task it starts, the keys it depends on.

    (Not who holds them: broadcast replicas may be trimmed by Dask's active memory manager
    between the stages; a worker that needs one again fetches it once.)"""

    name = "metalearners-core-task-inputs"

    def __init__(self, scheduler) -> None:
        self.scheduler = scheduler
        self.inputs: dict[str, frozenset] = {}  # task key -> its dependencies' keys

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if finish == "processing" and str(key).startswith(_PREFIX):
            ts = self.scheduler.tasks[key]
            self.inputs[key] = frozenset(dep.key for dep in ts.dependencies)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    ) as local, distributed.Client(local) as client:
        yield local, client


@pytest.fixture()
def client(cluster):
    local, client = cluster
    client.wait_for_workers(2, timeout=120)  # a test that killed a worker: its nanny restarts it
    return client


@pytest.fixture()
def task_inputs(cluster):
    local, _ = cluster
    plugin = _TaskInputs(local.scheduler)
    local.scheduler.add_plugin(plugin)
    yield plugin
    local.scheduler.remove_plugin(name=plugin.name)


def _fit(learner, data, backend, n_folds=2, **fit_kwargs):
    model = metalearner_factory(learner)(**learner_kwargs(learner, False, 3, base="lightgbm", n_folds=n_folds))
    with joblib.parallel_config(backend=backend):
        model.fit(data.X, data.y, data.w, **fit_kwargs)
    return model


@pytest.mark.parametrize("learner", LEARNERS)
def test_a_fit_on_the_cluster_gives_the_serial_answer(client, data_cache, learner):
    data = data_cache(n=300, n_variants=3)
    serial = _fit(learner, data, "sequential")
    on_cluster = _fit(learner, data, "dask", n_jobs_cross_fitting=2, n_jobs_base_learners=2)
    assert on_cluster.fit_plan_.backend == "dask"
    for is_oos in (True, False):
        np.testing.assert_allclose(
            on_cluster.predict(data.X, is_oos=is_oos), serial.predict(data.X, is_oos=is_oos), rtol=1e-9, atol=1e-12
        )


def test_the_trace_names_the_worker_of_every_task_and_its_threads(client, data_cache):
    data = data_cache(n=300, n_variants=3)
    model = _fit("DR", data, "dask", n_folds=4)
    workers = set(client.scheduler_info()["workers"])
    assert model.fit_plan_.fold_workers == 2  # None under joblib's dask backend: the cluster's 2 threads (not 1)
    assert model.fit_trace_ and all(r.worker in workers for r in model.fit_trace_)
    # Each worker has one thread: every base model was given exactly one, whatever this machine's cores.
    assert {r.model_n_jobs for r in model.fit_trace_} == {1}
    assert all(r.worker is None for r in _fit("DR", data, "sequential").fit_trace_)


@pytest.mark.parametrize(
    "nthreads,slots,expected",
    [(1, 4, 1), (8, 1, 8), (8, 2, 4), (8, 3, 2), (4, 8, 1)],  # a worker runs at most nthreads tasks at once
)
def test_a_task_gets_its_workers_threads_shared_by_the_tasks_it_runs_at_once(nthreads, slots, expected):
    from metalearners_core._execution.on_dask import worker_threads

    assert worker_threads(nthreads, slots) == expected


@pytest.mark.parametrize("learner", ["T", "DR"])
def test_inputs_are_scattered_once_per_fit_not_once_per_task(client, data_cache, task_inputs, learner):
    data = data_cache(n=300, n_variants=3)
    scattered_per_fit = {}
    for n_folds in (2, 4):
        task_inputs.inputs.clear()
        model = _fit(learner, data, "dask", n_folds=n_folds, n_jobs_cross_fitting=2, n_jobs_base_learners=2)
        tasks = dict(task_inputs.inputs)
        assert len(tasks) == len(model.fit_trace_)
        assert all(tasks.values()), "every task reads its data from scattered inputs"
        scattered_per_fit[n_folds] = len(frozenset().union(*tasks.values()))
    # Twice the folds: more tasks, the same inputs sent (X, y, the second stage's).
    assert scattered_per_fit[2] == scattered_per_fit[4]
    assert scattered_per_fit[4] < len(tasks)


def test_weights_reach_every_fold_fit_on_the_cluster(client, data_cache):
    # Scattered whole once, sliced to each fold's rows on the worker (S: its model fits on every row).
    data = data_cache(n=300, n_variants=2)
    weights = np.random.default_rng(1).uniform(0.1, 5.0, len(data.y))
    kwargs = learner_kwargs("S", False, 2, base="linear", n_folds=2)  # its CATE: the treatment coefficient
    fitted = {}
    for backend, fit_params in [("sequential", {"sample_weight": weights}), ("dask", {"sample_weight": weights}), ("dask", None)]:
        model = SLearner(**kwargs)
        with joblib.parallel_config(backend=backend):
            model.fit(data.X, data.y, data.w, fit_params=fit_params, n_jobs_cross_fitting=2)
        fitted[(backend, fit_params is not None)] = model.predict(data.X, is_oos=True)
    np.testing.assert_allclose(fitted[("dask", True)], fitted[("sequential", True)], rtol=1e-9, atol=1e-12)
    assert not np.allclose(fitted[("dask", True)], fitted[("dask", False)]), "the weights changed nothing"


def test_a_grid_search_on_the_cluster_gives_the_serial_scores(client, data_cache):
    from lightgbm import LGBMRegressor
    from sklearn.linear_model import LogisticRegression

    from metalearners_core import DRLearner, MetaLearnerGridSearch

    train, test = data_cache(n=300, n_variants=2, seed=1), data_cache(n=100, n_variants=2, seed=2)
    results = []
    for backend in ("sequential", "dask"):
        search = MetaLearnerGridSearch(
            DRLearner, {"is_classification": False, "n_variants": 2, "n_folds": 2},
            {"variant_outcome_model": [LinearRegression], "propensity_model": [LogisticRegression],
             "treatment_model": [LinearRegression, LGBMRegressor]},
            {"treatment_model": {"LGBMRegressor": {"n_estimators": [3, 5], "verbose": [-1]}}},
            random_state=3, n_jobs=2,
        )
        with joblib.parallel_config(backend=backend):
            search.fit(train.X, train.y, train.w, test.X, test.y, test.w)
        results.append(search.results_[[c for c in search.results_.columns if c.startswith(("train_", "test_"))]])
        workers = {r.worker for r in search.fit_trace_}
    pd.testing.assert_frame_equal(results[1], results[0], rtol=1e-9)
    assert None not in workers


def _misbehaving_t_learner(**params) -> TLearner:
    return TLearner(
        nuisance_model_factory=MisbehavingRegressor, nuisance_model_params=params,
        is_classification=False, n_variants=2, n_folds=2, random_state=0,
    )


def _linear_reference(data) -> np.ndarray:
    reference = TLearner(nuisance_model_factory=LinearRegression, is_classification=False, n_variants=2, n_folds=2, random_state=0)
    return reference.fit(data.X, data.y, data.w).predict(data.X, is_oos=True)


def test_a_worker_killed_mid_fit_has_its_task_rerun_elsewhere(client, data_cache, tmp_path):
    data = data_cache(n=300, n_variants=2)
    model = _misbehaving_t_learner(marker=str(tmp_path / "killed"), how="kill")
    with joblib.parallel_config(backend="dask"):
        model.fit(data.X, data.y, data.w, n_jobs_cross_fitting=2, n_jobs_base_learners=2)
    assert (tmp_path / "killed").exists(), "a worker was killed"
    np.testing.assert_allclose(model.predict(data.X, is_oos=True), _linear_reference(data), rtol=1e-9, atol=1e-12)


def test_a_task_that_fails_once_is_retried(client, data_cache, tmp_path):
    data = data_cache(n=300, n_variants=2)
    model = _misbehaving_t_learner(marker=str(tmp_path / "raised"), how="raise")
    with joblib.parallel_config(backend="dask"):
        model.fit(data.X, data.y, data.w, n_jobs_cross_fitting=2)
    assert (tmp_path / "raised").exists()
    np.testing.assert_allclose(model.predict(data.X, is_oos=True), _linear_reference(data), rtol=1e-9, atol=1e-12)


def test_a_task_that_keeps_failing_fails_the_fit_with_its_own_error(client, data_cache):
    data = data_cache(n=300, n_variants=2)
    with joblib.parallel_config(backend="dask"), pytest.raises(OSError, match="fails on purpose"):
        _misbehaving_t_learner(how="raise", always=True).fit(data.X, data.y, data.w)


def test_a_task_that_kills_every_worker_it_runs_on_fails_the_fit_with_one_clear_error(cluster, client, data_cache):
    from metalearners_core._execution.on_dask import DaskFitError

    local, _ = cluster
    data = data_cache(n=300, n_variants=2)
    allowed, local.scheduler.allowed_failures = local.scheduler.allowed_failures, 0  # give up after one lost worker
    try:
        with joblib.parallel_config(backend="dask"), pytest.raises(DaskFitError, match="could not be completed on the Dask cluster"):
            _misbehaving_t_learner(how="kill", always=True).fit(
                data.X, data.y, data.w, n_jobs_cross_fitting=1, n_jobs_base_learners=1
            )
    finally:
        local.scheduler.allowed_failures = allowed


def test_the_library_works_without_dask_and_says_how_to_get_it():
    script = textwrap.dedent(
        """
        import sys
        sys.modules["dask"] = sys.modules["distributed"] = None  # as if not installed
        import joblib, numpy as np
        from sklearn.linear_model import LinearRegression
        from metalearners_core import TLearner
        X = np.random.default_rng(0).normal(size=(100, 3)); w = np.arange(100) % 2; y = X[:, 0] + w
        for backend in ("sequential", "threading"):
            with joblib.parallel_config(backend=backend):
                TLearner(nuisance_model_factory=LinearRegression, is_classification=False, n_variants=2, n_folds=2).fit(
                    X, y, w, n_jobs_cross_fitting=2)
        try:
            import metalearners_core._execution.on_dask
        except ImportError as error:
            print("HINT:", error)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "HINT: Fitting on a Dask cluster needs dask.distributed: pip install 'metalearners-core[dask]'" in done.stdout
