"""The public API behaves like metalearners 0.13's: a user can switch by changing an import."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.linear_model import LinearRegression

import metalearners_core
from metalearners_core import CrossFitEstimator, metalearner_factory, simplify_output

from .conftest import learner_kwargs


def _frame(data, categorical: bool = False) -> pd.DataFrame:
    df = pd.DataFrame(data.X[:, :3], columns=["age", "weight", "height"])
    df["outcomes"], df["treatment"] = data.y, data.w
    if categorical:
        df["region"] = pd.Categorical(np.array(["north", "south", "east"])[np.arange(len(df)) % 3])
    return df


@pytest.mark.parametrize("name", ["RLearner", "DRLearner"])
def test_readme_example_runs_unchanged(data_cache, name):
    # metalearners' README example with only the import changed.
    df = _frame(data_cache(n=600))
    Learner = getattr(metalearners_core, name)
    learner = Learner(
        nuisance_model_factory=LGBMRegressor,
        propensity_model_factory=LGBMClassifier,
        treatment_model_factory=LGBMRegressor,
        is_classification=False,
        n_variants=2,
        nuisance_model_params={"verbose": -1},
        propensity_model_params={"verbose": -1},
        treatment_model_params={"verbose": -1},
    )
    features = ["age", "weight", "height"]
    learner.fit(df[features], df["outcomes"], df["treatment"])
    cate_estimates = learner.predict(df[features], is_oos=False)
    assert cate_estimates.shape == (600, 1, 1)


@pytest.mark.parametrize("learner", ["S", "T", "DR"])
def test_pandas_with_categorical_column(data_cache, learner):
    df = _frame(data_cache(n=600), categorical=True)
    features = ["age", "weight", "height", "region"]
    model = metalearner_factory(learner)(**learner_kwargs(learner, False, 2, base="lightgbm"))
    model.fit(df[features], df["outcomes"], df["treatment"])
    assert model.predict(df[features], is_oos=True).shape == (600, 1, 1)


def test_s_learner_lightgbm_sees_the_treatment(data_cache):
    # LightGBM takes the treatment as a categorical column; it must carry the variants.
    data = data_cache(n=3000)
    model = metalearner_factory("S")(**learner_kwargs("S", False, 2, base="lightgbm", n_estimators=50))
    model.fit(data.X, data.y, data.w)
    estimate = model.predict(data.X, is_oos=True)[:, 0, 0]
    assert abs(estimate.mean() - data.cate.mean()) < 0.15
    assert np.corrcoef(estimate, data.cate[:, 0])[0, 1] > 0.5


def test_feature_set_per_model(data_cache):
    data = data_cache(n=600)
    kwargs = learner_kwargs("DR", False, 2) | {
        "feature_set": {"variant_outcome_model": None, "propensity_model": [], "treatment_model": [0]}
    }
    model = metalearner_factory("DR")(**kwargs).fit(data.X, data.y, data.w)
    assert model._nuisance_models["propensity_model"][0]._overall_estimator.n_features_in_ == 1
    assert model._treatment_models["treatment_model"][0]._overall_estimator.n_features_in_ == 1
    assert model.predict(data.X, is_oos=True).shape == (600, 1, 1)


def test_fit_params_shared_and_qualified(data_cache):
    data = data_cache(n=600)
    weights = np.linspace(0.5, 1.5, 600)
    shared = metalearner_factory("T")(**learner_kwargs("T", False, 2))
    shared.fit(data.X, data.y, data.w, fit_params={"sample_weight": None})
    qualified = metalearner_factory("R")(**learner_kwargs("R", False, 2))
    qualified.fit(data.X, data.y, data.w, fit_params={"nuisance": {"outcome_model": {"sample_weight": weights}}})
    unweighted = metalearner_factory("R")(**learner_kwargs("R", False, 2)).fit(data.X, data.y, data.w)
    assert not np.allclose(qualified.predict(data.X, is_oos=True), unweighted.predict(data.X, is_oos=True))
    with pytest.raises(ValueError, match="The parameter sample_weight has been defined to be passed to the R-Learner.s treatment model"):
        metalearner_factory("R")(**learner_kwargs("R", False, 2)).fit(
            data.X, data.y, data.w, fit_params={"treatment": {"treatment_model": {"sample_weight": weights}}}
        )


def test_reuse_fitted_nuisance_models(data_cache):
    data = data_cache(n=600)
    t = metalearner_factory("T")(**learner_kwargs("T", False, 2)).fit(data.X, data.y, data.w)
    kwargs = learner_kwargs("DR", False, 2) | {
        "fitted_nuisance_models": {"variant_outcome_model": t._nuisance_models["variant_outcome_model"]}
    }
    dr = metalearner_factory("DR")(**kwargs).fit(data.X, data.y, data.w)
    # Only the propensity and treatment models were trained.
    assert {r.model_kind for r in dr.fit_trace_} == {"propensity_model", "treatment_model"}
    np.testing.assert_array_equal(
        dr.predict_nuisance(data.X, "variant_outcome_model", 1, is_oos=True),
        t.predict_nuisance(data.X, "variant_outcome_model", 1, is_oos=True),
    )


def test_init_args_rebuild_an_equivalent_learner(data_cache):
    data = data_cache(n=600)
    a = metalearner_factory("X")(**learner_kwargs("X", False, 2)).fit(data.X, data.y, data.w)
    b = type(a)(**a.init_args).fit(data.X, data.y, data.w)
    np.testing.assert_array_equal(a.predict(data.X, is_oos=True), b.predict(data.X, is_oos=True))


def test_cross_fit_estimator_standalone(data_cache):
    data = data_cache(n=600)
    cfe = CrossFitEstimator(n_folds=4, estimator_factory=LinearRegression, random_state=0)
    cfe.fit(data.X, data.y, n_jobs_cross_fitting=2)
    in_sample = cfe.predict(data.X, is_oos=False)
    assert in_sample.shape == (600,)
    for method in ["overall", "mean", "median"]:
        assert cfe.predict(data.X, is_oos=True, oos_method=method).shape == (600,)
    # Held-out predictions differ from the overall model's (no leakage).
    assert not np.allclose(in_sample, cfe.predict(data.X, is_oos=True, oos_method="overall"))
    assert 0 < cfe.score(data.X, data.y, is_oos=False) < 1


@pytest.mark.parametrize(
    "shape,expected",
    [((5, 1, 1), (5,)), ((5, 1, 2), (5,)), ((5, 1, 3), (5, 3)), ((5, 2, 1), (5, 2)), ((5, 2, 2), (5, 2)), ((5, 2, 3), (5, 2, 3))],
)
def test_simplify_output(shape, expected):
    assert simplify_output(np.zeros(shape)).shape == expected
