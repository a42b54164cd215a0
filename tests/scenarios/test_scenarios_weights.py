"""Sample weights from a data file: stored with the data, their own scenario id, and given
to exactly the base models fitted on every training row, in both engines, as a direct
LightGBM fit with the same sample_weight gets them."""

from __future__ import annotations

import numpy as np
import pytest

from harness.workloads.scenario import FitScenario
from scenarios import files as files_module
from scenarios import learner_kwargs, load_data
from scenarios.files import file_scenario
from scenarios.weights import UNWEIGHTED, WEIGHTED, weight_fit_params, weights_note

from .events import events_frame

SERIAL = {"model_n_jobs": 1, "n_jobs_cross_fitting": 1, "n_jobs_base_learners": 1, "backend": "loky"}
FEATURES = ["age", "visits", "city"]


@pytest.fixture(autouse=True)
def _fresh_memo():
    files_module._PREPARED.clear()
    yield
    files_module._PREPARED.clear()


@pytest.fixture
def weighted_file(tmp_path):
    frame = events_frame(400)
    rng = np.random.default_rng(1)
    frame["wt"] = np.where(rng.random(len(frame)) < 0.2, 0.0, rng.uniform(0.2, 4.0, len(frame)))
    path = tmp_path / "events.parquet"
    frame.to_parquet(path, index=False)
    return path


def scenario_on(path, cache, learner="DR", **data):
    return file_scenario(
        {"learner": learner, "n_folds": 2, "base_model": "lightgbm_small",
         "data": {"path": str(path), "outcome": "y", "treatment": "arm", "features": FEATURES, **data}},
        cache_dir=cache,
    )


def fitted(engine, scenario, cache):
    workload = FitScenario(engine, scenario.to_dict(), SERIAL, data_dir=str(cache))
    workload.prepare()
    workload.run_once()
    return workload


def predictions(estimator, X, kind):
    return estimator.predict_proba(X) if kind == "propensity_model" else estimator.predict(X)


def test_weights_are_stored_with_the_data_and_name_their_own_workload(weighted_file, tmp_path):
    cache = tmp_path / "cache"
    weighted, plain = scenario_on(weighted_file, cache, weights="wt"), scenario_on(weighted_file, cache)
    assert weighted.id != plain.id and "-weighted-" in weighted.id and "-weighted-" not in plain.id
    assert weighted.data.key != plain.data.key and "weights" not in plain.data.to_dict()  # old ids unchanged
    table = load_data(weighted, cache_dir=cache)
    assert isinstance(table.weights, np.memmap) and len(table.weights) == len(table.y)
    assert len(table.weights_test) == len(table.y_test) and "wt" not in table.X.columns  # not a feature
    assert load_data(plain, cache_dir=cache).weights is None
    # every other column: the weights are left out of the features as well
    default_features = file_scenario(
        {"learner": "DR", "n_folds": 2, "base_model": "lightgbm_small",
         "data": {"path": str(weighted_file), "outcome": "y", "treatment": "arm", "weights": "wt"}},
        cache_dir=cache,
    )
    assert "wt" not in load_data(default_features, cache_dir=cache).X.columns


@pytest.mark.parametrize("engine", ["core", "metalearners"])
@pytest.mark.parametrize("learner, kind", [("DR", "propensity_model"), ("R", "outcome_model")])
def test_weighted_models_equal_a_direct_lightgbm_fit_with_the_weights(weighted_file, tmp_path, engine, learner, kind):
    cache = tmp_path / "cache"
    scenario = scenario_on(weighted_file, cache, learner=learner, weights="wt")
    weighted = fitted(engine, scenario, cache)
    plain = fitted(engine, scenario_on(weighted_file, cache, learner=learner), cache)
    table = load_data(scenario, cache_dir=cache)
    X, sample_weight = table.X, np.asarray(table.weights)
    labels = np.asarray(table.w) if kind == "propensity_model" else np.asarray(table.y)
    model_kind = "propensity" if kind == "propensity_model" else "nuisance"
    kwargs = learner_kwargs(scenario, 1)
    factory, params = kwargs[f"{model_kind}_model_factory"], kwargs[f"{model_kind}_model_params"]
    cross_fit = weighted.learner._nuisance_models[kind][0]
    for fold, (estimator, test_rows) in enumerate(zip(cross_fit._estimators, cross_fit._test_indices)):
        train = np.setdiff1d(np.arange(len(labels)), test_rows)
        direct = factory(**params).fit(X.iloc[train], labels[train], sample_weight=sample_weight[train])
        np.testing.assert_allclose(predictions(estimator, X, kind), predictions(direct, X, kind), rtol=1e-12)
        unweighted = plain.learner._nuisance_models[kind][0]._estimators[fold]
        assert not np.allclose(predictions(estimator, X, kind), predictions(unweighted, X, kind))


@pytest.mark.parametrize("engine", ["core", "metalearners"])
def test_per_variant_models_are_not_weighted_as_the_note_says(weighted_file, tmp_path, engine):
    cache = tmp_path / "cache"
    weighted = fitted(engine, scenario_on(weighted_file, cache, weights="wt"), cache)
    plain = fitted(engine, scenario_on(weighted_file, cache), cache)
    X = load_data(weighted.scenario, cache_dir=cache).X
    for v in range(3):
        a = weighted.learner._nuisance_models["variant_outcome_model"][v]._estimators[0]
        b = plain.learner._nuisance_models["variant_outcome_model"][v]._estimators[0]
        np.testing.assert_array_equal(a.predict(X), b.predict(X))
    note = weights_note("DR", "wt")
    assert "propensity_model, treatment_model" in note and "not its variant_outcome_model" in note


def test_fit_params_cover_every_model_kind_of_each_learner():
    from metalearners_core import DRLearner, RLearner, SLearner, TLearner, XLearner

    for name, cls in {"S": SLearner, "T": TLearner, "X": XLearner, "R": RLearner, "DR": DRLearner}.items():
        kinds = {*cls.nuisance_model_specifications(), *cls.treatment_model_specifications()}
        named = {k for ks in WEIGHTED[name].values() for k in ks} | set(UNWEIGHTED[name])
        assert named == kinds, name  # each kind either weighted or said why not
        params = weight_fit_params(name, np.ones(3))
        assert set(params["nuisance"]) <= set(cls.nuisance_model_specifications())
        assert set(params["treatment"]) <= set(cls.treatment_model_specifications())
    assert weight_fit_params("DR", None) is None


def test_weights_that_reach_no_model_or_an_estimator_without_sample_weight_are_refused(weighted_file, tmp_path):
    with pytest.raises(ValueError, match="weights 'wt' reach no base model of the T-learner"):
        scenario_on(weighted_file, tmp_path / "cache", learner="T", weights="wt")
    with pytest.raises(ValueError, match=r"KNeighborsRegressor \(base_model\) takes no sample_weight"):
        file_scenario(
            {"learner": "S", "n_folds": 2, "base_model": "sklearn.neighbors:KNeighborsRegressor",
             "data": {"path": str(weighted_file), "outcome": "y", "treatment": "arm",
                      "features": ["age", "visits"], "weights": "wt"}},
            cache_dir=tmp_path / "cache",
        )
