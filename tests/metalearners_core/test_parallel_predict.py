"""Parallel prediction: n_jobs on predict, predict_conditional_average_outcomes and evaluate gives the serial answer exactly."""

from __future__ import annotations

import warnings

import joblib
import numpy as np
import pytest
from lightgbm import LGBMRegressor
from sklearn.ensemble import RandomForestRegressor
from sklearn.neighbors import KNeighborsRegressor

from metalearners_core import OversubscriptionWarning, TLearner, config_context, metalearner_factory, set_config
from metalearners_core._execution import PredictItem, plan_predictions, pools_started
from metalearners_core._execution.predict import AUTO_MIN_WORK, MIN_CHUNK_ROWS, _with_threads

from .conftest import LEARNERS, learner_kwargs

# (is_oos, oos_method): out of sample with every method, and in sample (where the
# rows a model did not train on are predicted out of sample with the method).
MODES = [(True, "overall"), (True, "mean"), (True, "median"), (False, "overall"), (False, "mean"), (False, "median")]
# (joblib backend, predict_split)
SPLITS = [("threading", "both"), ("threading", "rows"), ("threading", "models"), ("loky", "both"), ("loky", "rows")]
WITH_PROPENSITY = {"X", "R", "DR"}


@pytest.fixture(scope="module")
def fitted(data_cache):
    data = data_cache(n=600, n_variants=3)
    learners = {
        name: metalearner_factory(name)(**learner_kwargs(name, False, 3, base="lightgbm")).fit(data.X, data.y, data.w)
        for name in LEARNERS
    }
    return data, learners


def _parallel(call, backend: str, split: str, n_jobs=2):
    with joblib.parallel_config(backend=backend), config_context(predict_split=split):
        return call(n_jobs)


def _result_or_error(call):
    try:
        return "ok", call()
    except ValueError as error:
        return "error", str(error)


@pytest.mark.parametrize("learner", LEARNERS)
@pytest.mark.parametrize("is_oos,oos_method", MODES)
@pytest.mark.parametrize("backend,split", SPLITS)
def test_predict_in_parallel_is_the_serial_prediction(fitted, learner, is_oos, oos_method, backend, split):
    data, learners = fitted
    model = learners[learner]
    expected = model.predict(data.X, is_oos=is_oos, oos_method=oos_method)
    before = pools_started()
    actual = _parallel(lambda n_jobs: model.predict(data.X, is_oos, oos_method, n_jobs=n_jobs), backend, split)
    assert pools_started() == before + 1  # it really ran on a pool
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("learner", ["S", "T", "X", "DR"])
@pytest.mark.parametrize("is_oos,oos_method", MODES)
@pytest.mark.parametrize("backend,split", [("threading", "rows"), ("threading", "models"), ("loky", "both")])
def test_conditional_average_outcomes_in_parallel_are_the_serial_ones(fitted, learner, is_oos, oos_method, backend, split):
    data, learners = fitted
    model = learners[learner]
    expected = model.predict_conditional_average_outcomes(data.X, is_oos=is_oos, oos_method=oos_method)
    actual = _parallel(
        lambda n_jobs: model.predict_conditional_average_outcomes(data.X, is_oos, oos_method, n_jobs=n_jobs), backend, split
    )
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("learner", LEARNERS)
@pytest.mark.parametrize("is_oos,oos_method", MODES)
@pytest.mark.parametrize("backend,split", [("threading", "rows"), ("threading", "models"), ("loky", "both")])
def test_evaluate_in_parallel_is_the_serial_evaluation(fitted, learner, is_oos, oos_method, backend, split):
    data, learners = fitted
    model = learners[learner]
    expected = _result_or_error(lambda: model.evaluate(data.X, data.y, data.w, is_oos, oos_method))
    actual = _result_or_error(
        lambda: _parallel(lambda n_jobs: model.evaluate(data.X, data.y, data.w, is_oos, oos_method, n_jobs=n_jobs), backend, split)
    )
    # Only the propensity's out-of-sample median (of class probabilities) is refused, in both.
    assert expected[0] == ("error" if is_oos and oos_method == "median" and learner in WITH_PROPENSITY else "ok")
    assert actual == expected


@pytest.mark.parametrize("learner", ["T", "DR"])
@pytest.mark.parametrize("is_oos,oos_method", MODES)
def test_binary_outcomes_in_parallel_are_the_serial_ones(data_cache, learner, is_oos, oos_method):
    data = data_cache(n=600, n_variants=2, binary=True)
    model = metalearner_factory(learner)(**learner_kwargs(learner, True, 2, base="lightgbm")).fit(data.X, data.y, data.w)
    for call in (
        lambda n_jobs: model.predict(data.X, is_oos, oos_method, n_jobs=n_jobs),
        lambda n_jobs: model.predict_conditional_average_outcomes(data.X, is_oos, oos_method, n_jobs=n_jobs),
        lambda n_jobs: model.evaluate(data.X, data.y, data.w, is_oos, oos_method, n_jobs=n_jobs),
    ):
        expected = _result_or_error(lambda: call(None))
        actual = _result_or_error(lambda: _parallel(call, "threading", "rows"))
        if expected[0] == "ok" and isinstance(expected[1], np.ndarray):
            assert actual[0] == "ok"
            np.testing.assert_array_equal(actual[1], expected[1])
        else:
            assert actual == expected


@pytest.mark.parametrize("is_oos", [True, False])
def test_rows_cut_into_balanced_chunks_give_the_serial_prediction(data_cache, is_oos):
    # 2 treatment models x 3 folds x 5000 rows: "both" cuts every model's rows in two.
    data = data_cache(n=5000, n_variants=3)
    model = metalearner_factory("DR")(**learner_kwargs("DR", False, 3, base="lightgbm")).fit(data.X, data.y, data.w)
    items = [PredictItem(LGBMRegressor(), "predict", data.X) for _ in range(6)]
    with joblib.parallel_config(backend="threading"):
        assert plan_predictions(items, 2, "both").chunks == (2,) * 6
    expected = model.predict(data.X, is_oos, "mean")
    np.testing.assert_array_equal(_parallel(lambda n_jobs: model.predict(data.X, is_oos, "mean", n_jobs=n_jobs), "threading", "both"), expected)


def test_scikit_learn_forests_predict_in_threads_with_the_serial_answer(data_cache):
    data = data_cache(n=600, n_variants=3)
    # One thread per forest: with more, scikit-learn sums the trees in thread order, and
    # even the serial prediction's last bits vary from call to call.
    model = TLearner(
        nuisance_model_factory=RandomForestRegressor,
        nuisance_model_params={"n_estimators": 10, "random_state": 0, "n_jobs": 1},
        is_classification=False, n_variants=3, n_folds=3,
    ).fit(data.X, data.y, data.w)
    expected = model.predict(data.X, is_oos=True, oos_method="mean")
    with config_context(predict_split="rows"):
        np.testing.assert_array_equal(model.predict(data.X, True, "mean", n_jobs=2), expected)


def test_model_threads_are_set_on_a_copy_or_at_predict_time():
    forest = RandomForestRegressor(n_jobs=3)
    copy, kwargs, openmp = _with_threads(forest, 1, "threads")
    assert (copy.n_jobs, forest.n_jobs, kwargs, openmp) == (1, 3, {}, None)
    lightgbm = LGBMRegressor(n_jobs=3)
    same, kwargs, openmp = _with_threads(lightgbm, 1, "threads")
    assert same is lightgbm and kwargs == {"num_threads": 1} and lightgbm.n_jobs == 3
    # Models without a thread keyword: OpenMP limited in the worker thread (processes: by their env).
    assert _with_threads(object(), 1, "threads")[2] == 1 and _with_threads(object(), 1, "processes")[2] is None


def test_models_holding_the_gil_predict_in_processes_by_default(data_cache):
    data = data_cache(n=600, n_variants=2)
    model = TLearner(
        nuisance_model_factory=KNeighborsRegressor, is_classification=False, n_variants=2, n_folds=3,
    ).fit(data.X, data.y, data.w)
    items = [PredictItem(model._nuisance_models["variant_outcome_model"][0]._overall_estimator, "predict", data.X)] * 2
    assert plan_predictions(items, 2, "models").backend == "processes"
    expected = model.predict(data.X, is_oos=True, oos_method="median")
    with config_context(predict_split="models"):
        np.testing.assert_array_equal(model.predict(data.X, True, "median", n_jobs=2), expected)


@pytest.mark.parametrize("is_oos,oos_method", [(True, "overall"), (True, "mean"), (False, "overall")])
def test_cross_fit_estimator_predicts_in_parallel_with_the_serial_answer(fitted, is_oos, oos_method):
    data, learners = fitted
    propensity = learners["DR"]._nuisance_models["propensity_model"][0]
    # (a mean of classes is refused: only probabilities then)
    for method in ("predict_proba",) if oos_method == "mean" else ("predict", "predict_proba"):
        expected = getattr(propensity, method)(data.X, is_oos, oos_method)
        with config_context(predict_split="rows"):
            np.testing.assert_array_equal(getattr(propensity, method)(data.X, is_oos, oos_method, n_jobs=2), expected)


# -- "auto" -------------------------------------------------------------------------------


def test_auto_predicts_one_row_serially_without_a_pool(fitted):
    data, learners = fitted
    one_row = data.X[:1]
    for name, model in learners.items():
        before = pools_started()
        actual = model.predict(one_row, is_oos=True, oos_method="mean", n_jobs="auto")
        assert pools_started() == before, name
        np.testing.assert_array_equal(actual, model.predict(one_row, is_oos=True, oos_method="mean"))
    # An explicit n_jobs does start one (the count is real).
    before = pools_started()
    learners["T"].predict(one_row, is_oos=True, oos_method="mean", n_jobs=2)
    assert pools_started() == before + 1


def test_auto_uses_a_pool_for_a_large_batch(fitted):
    data, learners = fitted
    # T: 3 variants x 3 folds = 9 models, each on every row.
    X = np.tile(data.X, (-(-AUTO_MIN_WORK // (9 * len(data.X))), 1))
    assert 9 * len(X) >= AUTO_MIN_WORK
    before = pools_started()
    actual = learners["T"].predict(X, is_oos=True, oos_method="mean", n_jobs="auto")
    assert pools_started() == before + (joblib.cpu_count() > 1)
    np.testing.assert_array_equal(actual, learners["T"].predict(X, is_oos=True, oos_method="mean"))


def test_auto_plans_from_batch_size_and_model_count():
    model = LGBMRegressor()
    small = [PredictItem(model, "predict", np.zeros((1, 3)))] * 10
    # in the calling thread, with one thread per model (None: the models' own)
    assert (plan_predictions(small, "auto").backend, plan_predictions(small, "auto").model_threads) == ("sequential", 1)
    assert (plan_predictions(small, None).backend, plan_predictions(small, None).model_threads) == ("sequential", None)
    large = [PredictItem(model, "predict", np.zeros((AUTO_MIN_WORK, 3)))] * 2
    plan = plan_predictions(large, "auto")
    cores = joblib.cpu_count()
    assert plan.workers == min(cores, 2 * AUTO_MIN_WORK) and plan.backend == ("threads" if cores > 1 else "sequential")
    if cores > 1:
        assert plan.model_threads == max(1, cores // plan.workers)


# -- the split and the threads ---------------------------------------------------------------


def test_the_split_decides_the_row_chunks():
    model = LGBMRegressor()
    items = [PredictItem(model, "predict", np.zeros((10 * MIN_CHUNK_ROWS, 3)))] * 3
    with joblib.parallel_config(backend="threading"):
        assert plan_predictions(items, 2, "models").chunks == (1, 1, 1)
        assert plan_predictions(items, 2, "rows").chunks == (2, 2, 2)
        # "both": pieces of at most 30 chunks' rows / (2 workers x 4), rounded up per item
        assert plan_predictions(items, 2, "both").chunks == (3, 3, 3)
        assert plan_predictions(items, 2, "both").model_threads == max(1, joblib.cpu_count() // 2)
        # more workers than models with "models": the extra ones would idle
        assert plan_predictions(items[:1], 2, "models").backend == "sequential"


def test_explicit_n_jobs_beyond_the_cores_meets_the_oversubscription_policy(fitted):
    data, learners = fitted
    cores = joblib.cpu_count()
    with joblib.parallel_config(backend="threading"):
        with pytest.warns(OversubscriptionWarning, match=f"{cores + 1} prediction workers"):
            learners["T"].predict(data.X, True, "mean", n_jobs=cores + 1)
        items = [PredictItem(LGBMRegressor(), "predict", data.X)] * 9
        with config_context(oversubscription="limit"):
            assert plan_predictions(items, cores + 1, "models").workers == cores
        with config_context(oversubscription="allow"), warnings.catch_warnings():
            warnings.simplefilter("error")
            assert plan_predictions(items, cores + 1, "models").workers == cores + 1


def test_every_core_is_n_jobs_minus_one(fitted):
    data, learners = fitted
    expected = learners["DR"].predict(data.X, is_oos=True, oos_method="mean")
    np.testing.assert_array_equal(learners["DR"].predict(data.X, True, "mean", n_jobs=-1), expected)


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("n_jobs,message", [
    (0, "n_jobs=0 has no meaning"),
    ("fast", "n_jobs must be None, 'auto' or a non-zero integer, got 'fast'"),
    (1.5, "n_jobs must be None, 'auto' or a non-zero integer, got 1.5"),
    (True, "n_jobs must be None, 'auto' or a non-zero integer, got True"),
])
def test_bad_n_jobs_is_one_clear_error(fitted, n_jobs, message):
    data, learners = fitted
    for name, model in learners.items():
        with pytest.raises(ValueError, match=message):
            model.predict(data.X, is_oos=True, n_jobs=n_jobs)
        with pytest.raises(ValueError, match=message):
            model.evaluate(data.X, data.y, data.w, is_oos=True, n_jobs=n_jobs)
    with pytest.raises(ValueError, match=message):
        learners["T"].predict_conditional_average_outcomes(data.X, is_oos=True, n_jobs=n_jobs)


def test_unknown_oos_method_and_in_sample_rows_of_another_length_are_clear_errors(fitted):
    data, learners = fitted
    for model in learners.values():
        with pytest.raises(ValueError, match="oos_method fastest not supported"):
            model.predict(data.X, is_oos=True, oos_method="fastest", n_jobs=2)
        with pytest.raises(ValueError, match="Training data included 600 observations while prediction data includes 599"):
            model.predict(data.X[:-1], is_oos=False, n_jobs="auto")


def test_unknown_split_is_a_clear_error():
    with pytest.raises(ValueError, match="predict_split='columns' is not allowed; choose one of 'both', 'rows', 'models'"):
        set_config(predict_split="columns")
    with pytest.raises(ValueError, match="predict_split='columns' is not allowed"):
        plan_predictions([], 2, "columns")
