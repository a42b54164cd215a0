"""MetaLearnerGridSearch: the package's results_ layout, one task graph, identical fits once,
and every grid point's learner the one fitting it alone gives."""

from __future__ import annotations

import contextlib
from types import GeneratorType

import joblib
import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

from metalearners_core import (
    DRLearner,
    MetaLearnerGridSearch,
    RLearner,
    SLearner,
    TLearner,
    XLearner,
    config_context,
)

N_FOLDS = 2
LGBM = {"verbose": [-1]}

# learner -> (factory, base_learner_grid, param_grid, grid size,
#             distinct nuisance jobs fitted, distinct treatment jobs fitted) with 2 variants
GRIDS = {
    "S": (
        SLearner,
        {"base_model": [LinearRegression, LGBMRegressor]},
        {"base_model": {"LGBMRegressor": {"n_estimators": [3, 5], **LGBM}}},
        3, 3, 0,
    ),
    "T": (
        TLearner,
        {"variant_outcome_model": [LinearRegression, LGBMRegressor]},
        {"variant_outcome_model": {"LGBMRegressor": {"n_estimators": [3, 5], "learning_rate": [0.1, 0.3], **LGBM}}},
        5, 10, 0,
    ),
    "X": (  # effect models need only the outcome models: the treatment-effect model is shared too
        XLearner,
        {
            "variant_outcome_model": [LGBMRegressor],
            "propensity_model": [LogisticRegression, LGBMClassifier],
            "control_effect_model": [LinearRegression, LGBMRegressor],
            "treatment_effect_model": [LGBMRegressor],
        },
        {
            "variant_outcome_model": {"LGBMRegressor": {"n_estimators": [4], **LGBM}},
            "propensity_model": {"LGBMClassifier": {"n_estimators": [3], **LGBM}},
            "control_effect_model": {"LGBMRegressor": {"n_estimators": [3, 5], **LGBM}},
            "treatment_effect_model": {"LGBMRegressor": {"n_estimators": [3], **LGBM}},
        },
        6, 2 + 2, 3 + 1,
    ),
    "R": (
        RLearner,
        {
            "outcome_model": [LinearRegression, LGBMRegressor],
            "propensity_model": [LogisticRegression, LGBMClassifier],
            "treatment_model": [LGBMRegressor],
        },
        {
            "outcome_model": {"LGBMRegressor": {"n_estimators": [4], **LGBM}},
            "propensity_model": {"LGBMClassifier": {"n_estimators": [3], **LGBM}},
            "treatment_model": {"LGBMRegressor": {"n_estimators": [3, 5], **LGBM}},
        },
        8, 2 + 2, 8,
    ),
    "DR": (
        DRLearner,
        {
            "variant_outcome_model": [LinearRegression, LGBMRegressor],
            "propensity_model": [LogisticRegression, LGBMClassifier],
            "treatment_model": [LinearRegression, LGBMRegressor],
        },
        {
            "variant_outcome_model": {"LGBMRegressor": {"n_estimators": [3, 5], **LGBM}},
            "propensity_model": {"LGBMClassifier": {"n_estimators": [3], **LGBM}},
            "treatment_model": {"LGBMRegressor": {"n_estimators": [3], **LGBM}},
        },
        12, 3 * 2 + 2, 12,
    ),
}
SCORES = lambda df: df[[c for c in df.columns if c.startswith(("train_", "test_"))]]  # noqa: E731


@pytest.fixture(scope="module")
def data(data_cache):
    train, test = data_cache(n=600, n_variants=2, seed=1), data_cache(n=200, n_variants=2, seed=2)
    return train.X, train.y, train.w, test.X, test.y, test.w


def _search(learner: str, **kwargs) -> MetaLearnerGridSearch:
    factory, base_learner_grid, param_grid, *_ = GRIDS[learner]
    params = {"is_classification": False, "n_variants": 2, "n_folds": N_FOLDS}
    return MetaLearnerGridSearch(factory, params, base_learner_grid, param_grid, random_state=3, **kwargs)


@pytest.fixture(scope="module")
def searched(data):
    """Every learner's grid, searched serially once (the tests below read it)."""
    return {learner: _search(learner).fit(*data) for learner in GRIDS}


@pytest.mark.parametrize("learner", list(GRIDS))
def test_results_have_the_packages_layout(searched, learner):
    gs, grid_size = searched[learner], GRIDS[learner][3]
    assert gs.grid_size_ == grid_size == len(gs.results_) == len(gs.raw_results_)
    assert gs.results_.index.names[0] == "metalearner"
    assert set(gs.results_.index.get_level_values("metalearner")) == {GRIDS[learner][0].__name__}
    for kind in GRIDS[learner][1]:
        assert kind in gs.results_.index.names
    assert list(gs.results_.columns[:3]) == ["fit_time", "shared_fit_time", "score_time"]
    train = {c.removeprefix("train_") for c in gs.results_.columns if c.startswith("train_")}
    test = {c.removeprefix("test_") for c in gs.results_.columns if c.startswith("test_")}
    assert train == test and train
    assert not SCORES(gs.results_).isna().any().any()


@pytest.mark.parametrize("learner", list(GRIDS))
def test_identical_models_are_fitted_once_for_the_whole_grid(searched, learner):
    gs = searched[learner]
    _, _, _, grid_size, nuisance_jobs, treatment_jobs = GRIDS[learner]
    tasks_per_job = N_FOLDS + 1  # the folds and the overall model
    ran = pd.Series([r.stage for r in gs.fit_trace_]).value_counts()
    assert ran.get("nuisance", 0) == nuisance_jobs * tasks_per_job
    assert ran.get("treatment", 0) == treatment_jobs * tasks_per_job
    # every learner still holds all its models: what it asked for, some fitted for others
    for result in gs.raw_results_:
        asked = {id(r) for r in result.metalearner.fit_trace_}
        models = result.metalearner._nuisance_models | result.metalearner._treatment_models
        assert len(asked) == sum(len(m) for m in models.values()) * tasks_per_job
    shared = gs.results_["shared_fit_time"]
    assert (shared <= gs.results_["fit_time"]).all()
    asked_in_all = sum(len({id(r) for r in res.metalearner.fit_trace_}) for res in gs.raw_results_)
    assert (shared > 0).any() == (asked_in_all > len(gs.fit_trace_))


@pytest.mark.parametrize("learner", list(GRIDS))
def test_every_grid_points_learner_is_the_one_fitted_alone(searched, data, learner):
    X, y, w, X_test, y_test, w_test = data
    for result in searched[learner].raw_results_:
        shared = result.metalearner
        with config_context(share_lightgbm_bins=False):  # no bins or models shared with anything
            alone = type(shared)(**shared.init_args).fit(X, y, w)
        for X_, is_oos in ((X, False), (X_test, True)):
            np.testing.assert_allclose(shared.predict(X_, is_oos=is_oos), alone.predict(X_, is_oos=is_oos), rtol=1e-9, atol=1e-12)
        assert result.train_scores == pytest.approx(alone.evaluate(X, y, w, is_oos=False), rel=1e-9)
        assert result.test_scores == pytest.approx(alone.evaluate(X_test, y_test, w_test, is_oos=True), rel=1e-9)


@pytest.mark.parametrize(
    "learner,backend,levels",
    [
        ("DR", "threading", {"n_jobs": 2}),
        ("DR", "threading", {"n_jobs": 2, "n_jobs_cross_fitting": 2, "n_jobs_base_learners": 2}),
        ("DR", "loky", {"n_jobs": 2, "n_jobs_cross_fitting": 2}),
        ("X", None, {"n_jobs": "auto"}),
        ("R", None, {"n_jobs": 2, "n_jobs_base_learners": "auto"}),
        ("T", "threading", {"n_jobs": -1, "n_jobs_cross_fitting": 2}),
    ],
)
def test_parallel_search_gives_the_serial_scores(searched, data, learner, backend, levels):
    levels = dict(levels)
    grid_level = {"n_jobs": levels.pop("n_jobs")}
    # explicit levels past the cores would warn (OversubscriptionWarning): not this test's subject
    backend_context = joblib.parallel_config(backend=backend) if backend else contextlib.nullcontext()
    with config_context(oversubscription="allow"), backend_context:
        gs = _search(learner, **grid_level).fit(*data, **levels)
    pd.testing.assert_frame_equal(SCORES(gs.results_), SCORES(searched[learner].results_), rtol=1e-9)
    assert len(gs.fit_trace_) == len(searched[learner].fit_trace_)  # the same sharing
    assert gs.fit_plan_.workers > 1 or joblib.cpu_count() == 1


def test_fit_times_count_each_learners_fits_and_their_shared_part(searched):
    gs = searched["DR"]
    for result, (_, row) in zip(gs.raw_results_, gs.results_.iterrows()):
        records = {id(r): r for r in result.metalearner.fit_trace_}.values()
        assert row["fit_time"] == pytest.approx(sum(r.duration for r in records))
        assert 0 < row["shared_fit_time"] < row["fit_time"]  # DR: nuisance shared, treatment own


def test_grid_level_caps_grid_points_in_flight(data):
    with joblib.parallel_config(backend="threading"):
        gs = _search("DR", n_jobs=2).fit(*data, n_jobs_cross_fitting=1, n_jobs_base_learners=1)
    plan = gs.fit_plan_
    assert (plan.graph_workers, plan.stage_workers, plan.fold_workers, plan.workers) == (2, 1, 1, 2)
    assert len({(r.pid, r.thread) for r in gs.fit_trace_}) <= 2


@pytest.mark.parametrize(
    "store_raw_results,store_results,raw_type,results_type",
    [(True, True, list, pd.DataFrame), (True, False, list, type(None)), (False, True, type(None), pd.DataFrame),
     (False, False, GeneratorType, type(None))],
)  # fmt: skip
def test_what_is_stored(data, store_raw_results, store_results, raw_type, results_type):
    gs = _search("S", store_raw_results=store_raw_results, store_results=store_results).fit(*data)
    assert isinstance(gs.raw_results_, raw_type) and isinstance(gs.results_, results_type)
    if raw_type is GeneratorType:
        assert len(list(gs.raw_results_)) == gs.grid_size_ == 3


def test_prefitted_nuisance_models_are_reused_not_searched(data):
    X, y, w, X_test, y_test, w_test = data
    tl = TLearner(False, 2, LGBMRegressor, nuisance_model_params={"verbose": -1, "n_estimators": 2}, n_folds=2).fit(X, y, w)
    gs = MetaLearnerGridSearch(
        DRLearner,
        {"is_classification": False, "n_variants": 2, "n_folds": 3,
         "fitted_nuisance_models": {"variant_outcome_model": tl._nuisance_models["variant_outcome_model"]}},
        {"propensity_model": [LGBMClassifier, LogisticRegression], "treatment_model": [LGBMRegressor]},
        {"treatment_model": {"LGBMRegressor": {"n_estimators": [1, 2], **LGBM}},
         "propensity_model": {"LGBMClassifier": {"n_estimators": [1, 2, 3], **LGBM}}},
        random_state=1,
    ).fit(X, y, w, X_test, y_test, w_test)  # fmt: skip
    assert len(gs.results_) == 8 and len(gs.results_.index.names) == 7
    assert all(r.metalearner._prefitted_nuisance_models == {"variant_outcome_model"} for r in gs.raw_results_)
    assert {r.model_kind for r in gs.fit_trace_} == {"propensity_model", "treatment_model"}


def _bad(**changes):
    factory, base_learner_grid, param_grid, *_ = GRIDS["DR"]
    arguments = {
        "metalearner_factory": factory,
        "metalearner_params": {"is_classification": False, "n_variants": 2},
        "base_learner_grid": base_learner_grid,
        "param_grid": param_grid,
    }
    return MetaLearnerGridSearch(**(arguments | changes))


DR_MODELS = {"variant_outcome_model": [LinearRegression], "propensity_model": [LogisticRegression], "treatment_model": [LinearRegression]}


@pytest.mark.parametrize(
    "changes,error,match",
    [
        ({"base_learner_grid": DR_MODELS | {"outcome_model": [LinearRegression]}}, ValueError,
         r"base_learner_grid keys don't match the expected model names.*Unknown: outcome_model\."),
        ({"base_learner_grid": {"variant_outcome_model": [LinearRegression], "treatment_model": [LinearRegression]}},
         ValueError, r"don't match.*Missing: propensity_model\."),
        ({"base_learner_grid": DR_MODELS | {"treatment_model": []}}, ValueError,
         r"base_learner_grid\['treatment_model'\] is empty"),
        ({"base_learner_grid": DR_MODELS | {"treatment_model": LinearRegression}}, TypeError,
         r"base_learner_grid\['treatment_model'\] must be a list of model classes"),
        ({"base_learner_grid": DR_MODELS, "param_grid": {"propensity_model": {"LGBMClassifier": {"n_estimators": [3]}}}},
         ValueError, r"param_grid\['propensity_model'\] has parameters for 'LGBMClassifier', which is not in "
         r"base_learner_grid\['propensity_model'\] \(LogisticRegression\)"),
        ({"base_learner_grid": DR_MODELS, "param_grid": {"outcome_model": {}}}, ValueError,
         r"param_grid has parameters for the model kind 'outcome_model', which is not in base_learner_grid"),
        ({"param_grid": {"treatment_model": {"LGBMRegressor": {"n_estimators": 3}}}}, TypeError,
         r"param_grid\['treatment_model'\]\['LGBMRegressor'\]: Parameter grid for parameter 'n_estimators'"),
        ({"param_grid": {"treatment_model": {"LGBMRegressor": {"n_estimators": []}}}}, ValueError,
         r"param_grid\['treatment_model'\]\['LGBMRegressor'\]: .*non-empty"),
        ({"metalearner_factory": LinearRegression}, TypeError, r"metalearner_factory must be a meta-learner class"),
    ],
)  # fmt: skip
def test_bad_grids_are_one_line_errors_when_built(changes, error, match):
    with pytest.raises(error, match=match) as raised:
        _bad(**changes)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "search,fit_kwargs,error,match",
    [
        ({"metalearner_params": {"is_classification": False, "n_variants": 2, "random_state": 1}}, {}, ValueError,
         r"should not be specified in metalearner_params"),
        ({}, {"n_jobs_crossfitting": 2}, TypeError, r"unexpected keyword argument 'n_jobs_crossfitting'"),
        ({"n_jobs": 0}, {}, ValueError, r"n_jobs=0 has no meaning"),
        ({}, {"n_jobs_base_learners": "all"}, ValueError, r"n_jobs_base_learners must be None, 'auto'"),
        ({}, {"oos_method": "mode"}, ValueError, r"oos_method mode not supported"),
    ],
)  # fmt: skip
def test_bad_fit_arguments_fail_before_anything_is_fitted(data, search, fit_kwargs, error, match):
    gs = _bad(**search)
    with pytest.raises(error, match=match) as raised:
        gs.fit(*data, **fit_kwargs)
    assert "\n" not in str(raised.value)
    assert not hasattr(gs, "fit_trace_")
