"""The three levels are real knobs that never change the answer."""

from __future__ import annotations

import itertools
import os
import threading

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from metalearners_core import metalearner_factory

from .conftest import LEARNERS, learner_kwargs

LEVELS = list(itertools.product([None, 1, 2], [1, 2], [1, 2]))  # model n_jobs, folds, stage


def _fit(data, learner, model_n_jobs, n_jobs_cross_fitting, n_jobs_base_learners, backend):
    extra = {} if model_n_jobs is None else {"n_jobs": model_n_jobs}
    model = metalearner_factory(learner)(**learner_kwargs(learner, False, 3, base="lightgbm", **extra))
    with joblib.parallel_config(backend=backend):
        model.fit(
            data.X, data.y, data.w,
            n_jobs_cross_fitting=n_jobs_cross_fitting,
            n_jobs_base_learners=n_jobs_base_learners,
        )
    return model


@pytest.mark.parametrize("learner", LEARNERS)
@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_every_level_combination_gives_the_serial_answer(data_cache, learner, backend):
    data = data_cache(n=600, n_variants=3)
    serial = _fit(data, learner, 1, 1, 1, "sequential")
    expected_oos = serial.predict(data.X, is_oos=True)
    expected_in_sample = serial.predict(data.X, is_oos=False)
    for levels in LEVELS:
        model = _fit(data, learner, *levels, backend)
        np.testing.assert_allclose(model.predict(data.X, is_oos=True), expected_oos, rtol=1e-9, atol=1e-12, err_msg=str(levels))
        np.testing.assert_allclose(model.predict(data.X, is_oos=False), expected_in_sample, rtol=1e-9, atol=1e-12, err_msg=str(levels))


def test_model_threads_are_always_explicit(data_cache):
    data = data_cache(n=600, n_variants=3)
    cores = joblib.cpu_count()
    serial = _fit(data, "T", None, 1, 1, "loky")
    assert {r.model_n_jobs for r in serial.fit_trace_} == {cores}
    nested = _fit(data, "T", None, 2, 2, "loky")
    assert {r.model_n_jobs for r in nested.fit_trace_} == {max(1, cores // 4)}
    chosen = _fit(data, "T", 3, 2, 2, "loky")
    assert {r.model_n_jobs for r in chosen.fit_trace_} == {3}
    # threadpoolctl's view from inside the worker is recorded too.
    assert all(r.openmp_threads is not None for r in nested.fit_trace_)


@pytest.mark.parametrize("backend,cross_fitting,base_learners", [("loky", 2, 1), ("loky", 1, 2), ("threading", 2, 2)])
def test_parallel_fits_run_off_the_calling_thread(data_cache, backend, cross_fitting, base_learners):
    data = data_cache(n=600, n_variants=3)
    model = _fit(data, "T", None, cross_fitting, base_learners, backend)
    if backend == "loky":
        assert all(r.pid != os.getpid() for r in model.fit_trace_)
    else:
        import threading

        assert all(r.thread != threading.get_ident() for r in model.fit_trace_)


def test_parallel_config_n_jobs_is_honoured_when_levels_are_none(data_cache):
    data = data_cache(n=600, n_variants=3)
    with joblib.parallel_config(backend="threading", n_jobs=2):
        model = metalearner_factory("T")(**learner_kwargs("T", False, 3, base="lightgbm")).fit(data.X, data.y, data.w)
    import threading

    assert all(r.thread != threading.get_ident() for r in model.fit_trace_)


@pytest.mark.parametrize("learner", LEARNERS)
def test_auto_gives_the_serial_answer(data_cache, learner):
    data = data_cache(n=600, n_variants=3)
    serial = _fit(data, learner, 1, 1, 1, "sequential")
    model = metalearner_factory(learner)(**learner_kwargs(learner, False, 3, base="lightgbm"))
    model.fit(data.X, data.y, data.w, n_jobs_cross_fitting="auto", n_jobs_base_learners="auto")
    np.testing.assert_allclose(model.predict(data.X, is_oos=True), serial.predict(data.X, is_oos=True), rtol=1e-9, atol=1e-12)


def test_auto_splits_the_cores_from_the_task_graph(data_cache):
    data = data_cache(n=600, n_variants=3)
    cores = joblib.cpu_count()
    model = metalearner_factory("T")(**learner_kwargs("T", False, 3, base="lightgbm", n_folds=3))
    model.fit(data.X, data.y, data.w, n_jobs_cross_fitting="auto")
    plan = model.fit_plan_
    # 3 outcome models x (3 folds + overall) = 12 first-stage fits: a worker per core,
    # and no cap per level below the pool's size.
    assert plan.workers == min(cores, 12) and plan.fold_workers == min(4, plan.workers)
    assert plan.stage_workers == min(3, plan.workers)
    assert plan.model_threads == max(1, cores // plan.workers)
    assert {r.model_n_jobs for r in model.fit_trace_} == {plan.model_threads}
    # LightGBM releases the GIL: threads, no copies (unless serial on one core).
    assert plan.backend == ("threads" if plan.workers > 1 else "sequential")


@pytest.mark.skipif(joblib.cpu_count() < 2, reason="a pool of one worker runs one model at a time")
def test_auto_lets_a_free_worker_start_another_model(data_cache):
    # Largest fits first: the two overall models start together on two workers. A
    # pool split as 2 fold workers x 1 stage worker would start the first model's
    # fold instead, and at each model's last fold a worker would wait idle.
    data = data_cache(n=2000, n_variants=2)
    model = metalearner_factory("T")(**learner_kwargs("T", False, 2, base="lightgbm"))
    model.fit(data.X, data.y, data.w, n_jobs_cross_fitting="auto", n_jobs_base_learners="auto")
    first, second = sorted(model.fit_trace_, key=lambda r: r.start)[:2]
    assert (first.fold, second.fold) == (None, None)
    assert {first.model_ord, second.model_ord} == {0, 1}


def test_auto_keeps_an_explicit_backend_and_uses_processes_for_gil_holding_models(data_cache):
    from sklearn.neighbors import KNeighborsRegressor

    data = data_cache(n=600)
    with joblib.parallel_config(backend="loky"):
        model = metalearner_factory("T")(**learner_kwargs("T", False, 2, base="lightgbm")).fit(
            data.X, data.y, data.w, n_jobs_base_learners="auto"
        )
    assert model.fit_plan_.backend in ("processes", "sequential")
    knn = metalearner_factory("T")(is_classification=False, n_variants=2, nuisance_model_factory=KNeighborsRegressor, n_folds=2)
    knn.fit(data.X, data.y, data.w, n_jobs_cross_fitting="auto")
    assert knn.fit_plan_.backend in ("processes", "sequential")


def test_stage_level_caps_models_in_flight(data_cache):
    data = data_cache(n=2000, n_variants=3)
    model = _fit(data, "T", 1, 1, 2, "threading")
    # At no time do more than 2 models run, nor 2 fits of one model (fold level 1).
    events = sorted([(r.start, 1, r) for r in model.fit_trace_] + [(r.end, -1, r) for r in model.fit_trace_], key=lambda e: (e[0], e[1]))
    running: dict = {}
    for _, delta, r in events:
        running[r.model_ord] = running.get(r.model_ord, 0) + delta
        assert all(v <= 1 for v in running.values())
        assert sum(1 for v in running.values() if v > 0) <= 2


_PREDICTING_THREADS: list[int] = []


class _RecordingRegressor(LinearRegression):
    def predict(self, X):
        _PREDICTING_THREADS.append(threading.get_ident())
        return super().predict(X)


class _RecordingClassifier(LogisticRegression):
    def predict_proba(self, X):
        _PREDICTING_THREADS.append(threading.get_ident())
        return super().predict_proba(X)


@pytest.mark.parametrize("learner", ["X", "R", "DR"])
def test_second_stage_inputs_are_predicted_in_the_workers(data_cache, learner):
    # The pseudo-outcomes' nuisance predictions are made right after each fit, in the
    # worker: none in the calling thread, where they would leave every core idle.
    data = data_cache(n=600, n_variants=3)
    kwargs = learner_kwargs(learner, False, 3) | {"nuisance_model_factory": _RecordingRegressor}
    if learner != "X":
        kwargs |= {"propensity_model_factory": _RecordingClassifier}
    model = metalearner_factory(learner)(**kwargs)
    _PREDICTING_THREADS.clear()
    with joblib.parallel_config(backend="threading"):
        model.fit(data.X, data.y, data.w, n_jobs_cross_fitting=2)
    assert _PREDICTING_THREADS and threading.get_ident() not in _PREDICTING_THREADS
    # Nothing of this survives the fit: later in-sample predictions are computed afresh.
    assert model._fit_predictions == {}
    _PREDICTING_THREADS.clear()
    model.fit_all_nuisance(data.X, data.y, data.w, n_jobs_cross_fitting=2)
    assert _PREDICTING_THREADS == []  # without a second stage, nothing is predicted
