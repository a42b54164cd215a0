"""Base models as the user runs them: import paths, model_params per kind, the
thread keyword found or given, and threadpoolctl for estimators without one."""

from __future__ import annotations

import pytest
from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
from sklearn.linear_model import Ridge

from harness.workloads.scenario import FitScenario
from scenarios import Scenario, learner_kwargs
from scenarios.models import ThreadLimited, resolve_models

THREADS = {"model_n_jobs": 2, "n_jobs_cross_fitting": 1, "n_jobs_base_learners": 1, "backend": "threading"}


def fitted_models(learner):
    """Every fitted base model of a core learner: fold models and overall models."""
    out = []
    for group in (learner._nuisance_models, learner._treatment_models):
        for models in group.values():
            for cross_fit in models:
                out += [*cross_fit._estimators, cross_fit._overall_estimator]
    return [m for m in out if m is not None]


def test_user_estimator_and_params_reach_every_base_model(tmp_path):
    scenario = Scenario(
        learner="DR", n_rows=300, n_variants=3, n_folds=2, n_features=3,
        base_model="sklearn.ensemble:ExtraTreesRegressor", model_params={"max_depth": 3, "n_estimators": 7},
        propensity_model={"model": "sklearn.ensemble:ExtraTreesClassifier", "model_params": {"n_estimators": 5, "max_depth": 3}},
    )
    workload = FitScenario("core", scenario.to_dict(), THREADS, data_dir=str(tmp_path))
    workload.prepare()
    workload.run_once()
    models = fitted_models(workload.learner)
    assert len(models) == (3 + 1 + 2) * 3  # outcome x3, propensity, treatment x2; 2 folds + overall each
    expected = {"variant_outcome_model": (ExtraTreesRegressor, 7), "propensity_model": (ExtraTreesClassifier, 5)}
    for kind, models_of_kind in workload.learner._nuisance_models.items():
        cls, n_estimators = expected[kind]
        for m in [e for cf in models_of_kind for e in (*cf._estimators, cf._overall_estimator)]:
            assert type(m) is cls and m.n_estimators == n_estimators
    for models_of_kind in workload.learner._treatment_models.values():
        for m in [e for cf in models_of_kind for e in (*cf._estimators, cf._overall_estimator)]:
            assert type(m) is ExtraTreesRegressor and m.n_estimators == 7
    assert {m.max_depth for m in models} == {3} and {m.n_jobs for m in models} == {2}
    trace = workload.learner.fit_trace_
    assert len(trace) == len(models) and {t.model_n_jobs for t in trace} == {2}  # explicit in the task trace


def test_registry_name_is_a_named_default_with_user_params():
    scenario = Scenario(learner="T", n_rows=300, n_variants=2, n_folds=2, base_model="lightgbm",
                        model_params={"n_estimators": 500, "num_leaves": 63})
    params = learner_kwargs(scenario, 3)["nuisance_model_params"]
    assert params["n_estimators"] == 500 and params["num_leaves"] == 63 and params["n_jobs"] == 3
    assert params["learning_rate"] == 0.1  # the registry's other defaults stay


def test_thread_keyword_given_or_found():
    scenario = Scenario(learner="T", n_rows=300, n_variants=2, n_folds=2,
                        base_model="sklearn.ensemble:RandomForestRegressor")
    assert resolve_models(scenario)["nuisance"].thread_param == "n_jobs"
    named = scenario.replace(nuisance_model={"model": "lightgbm.sklearn:LGBMRegressor", "threads_param": "num_threads"})
    assert learner_kwargs(named, 2)["nuisance_model_params"]["num_threads"] == 2


def test_estimator_without_thread_keyword_runs_under_threadpoolctl(tmp_path):
    scenario = Scenario(learner="T", n_rows=300, n_variants=2, n_folds=2, base_model="sklearn.linear_model:Ridge",
                        model_params={"alpha": 2.0})
    kwargs = learner_kwargs(scenario, 1)
    assert issubclass(kwargs["nuisance_model_factory"], ThreadLimited)
    assert kwargs["nuisance_model_params"] == {"estimator": "sklearn.linear_model._ridge:Ridge", "n_threads": 1, "params": {"random_state": 0, "alpha": 2.0}}
    workload = FitScenario("core", scenario.to_dict(), {**THREADS, "model_n_jobs": 1}, data_dir=str(tmp_path))
    workload.prepare()
    workload.run_once()
    model = workload.learner._nuisance_models["variant_outcome_model"][0]._overall_estimator
    assert isinstance(model.fitted_, Ridge) and model.fitted_.alpha == 2.0


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"base_model": "nosuch.module:Model"}, "model 'nosuch.module:Model' cannot be imported"),
        ({"model_params": {"n_trees": 5}}, "unknown model parameter 'n_trees' for RandomForestRegressor"),
        ({"nuisance_model": {"model": "sklearn.linear_model:Ridge", "threads_param": "n_jobs"}}, "threads_param 'n_jobs' is not a parameter of Ridge"),
    ],
)
def test_bad_models_name_what_is_allowed(changes, message):
    scenario = Scenario(learner="T", n_rows=300, n_variants=2, n_folds=2, base_model="random_forest").replace(**changes)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        resolve_models(scenario)


def test_lightgbm_takes_its_documented_parameters_and_aliases_only():
    scenario = Scenario(learner="T", n_rows=300, n_variants=2, n_folds=2, base_model="lightgbm",
                        model_params={"min_data_in_leaf": 5, "bagging_fraction": 0.9, "num_iterations": 7, "subsample": 0.8})
    assert resolve_models(scenario)["nuisance"].base_params["min_data_in_leaf"] == 5  # LightGBM's names and aliases
    with pytest.raises(ValueError, match=r"unknown model parameter 'num_leafs' for LGBMRegressor \(did you mean 'num_leaves'\?\)"):
        resolve_models(scenario.replace(model_params={"num_leafs": 7}))
    by_path = scenario.replace(nuisance_model={"model": "lightgbm:LGBMRegressor", "model_params": {"learning_rat": 0.1}})
    with pytest.raises(ValueError, match=r"'learning_rat' for LGBMRegressor \(did you mean 'learning_rate'\?\); allowed: .*Parameters.html"):
        resolve_models(by_path)
    with pytest.raises(ValueError, match=r"'zzz' for LGBMRegressor; allowed: its constructor's parameters or LightGBM's"):
        resolve_models(scenario.replace(model_params={"zzz": 1}))  # nothing close: no suggestion


def test_without_lightgbms_parameter_list_its_params_are_not_checked(monkeypatch):
    from scenarios import models

    monkeypatch.setattr(models, "_lightgbm_parameters", lambda: None)  # a LightGBM without the list
    models.allowed_params.cache_clear()
    try:
        scenario = Scenario(learner="T", n_rows=300, n_variants=2, n_folds=2, base_model="lightgbm",
                            model_params={"num_leafs": 7})
        assert resolve_models(scenario)["nuisance"].base_params["num_leafs"] == 7  # LightGBM itself warns
    finally:
        models.allowed_params.cache_clear()
