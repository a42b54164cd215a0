"""explainer / feature_importances / shap_values, Explainer and FixedBinaryPropensity.

The first half checks core on its own (real LightGBM models, small data); the
``peers`` half fits the metalearners package on the same data, folds and seed and
asserts the same importances, SHAP values, predictions and error messages.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMRegressor
from sklearn.linear_model import LinearRegression

from metalearners_core import metalearner_factory
from metalearners_core.explainer import Explainer
from metalearners_core.utils import FixedBinaryPropensity

from .conftest import learner_kwargs

NO_TREATMENT_MODELS = (
    "The metalearner does not have treatment models; hence X, cate_estimates, "
    "and cate_model_factory need to be defined."
)
PARTIAL_ARGUMENTS = (
    "Either all of [X, cate_estimates, cate_model_factory] are None or all "
    "of them must be defined."
)
CATE_MODEL = {"n_estimators": 10, "num_leaves": 7, "verbose": -1}
EXPLAINED = ["R", "DR"]  # the learners with treatment models of kind "treatment_model"
NOT_EXPLAINED = ["S", "T", "X"]  # the X-learner's are effect models: the package refuses it too


def _fit(library_factory, learner, data, binary=False, n_folds=2, **extra):
    n_variants = int(data.w.max()) + 1
    kwargs = learner_kwargs(learner, binary, n_variants, base="lightgbm", n_folds=n_folds) | extra
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn deprecation noise from the package
        return library_factory(learner)(**kwargs).fit(data.X, data.y, data.w)


@pytest.fixture(scope="module")
def fitted():
    """Core learners fitted once per (learner, n_variants) in this module."""
    cache: dict = {}

    def get(learner, data):
        key = (learner, int(data.w.max()) + 1)
        if key not in cache:
            cache[key] = _fit(metalearner_factory, learner, data)
        return cache[key]

    return get


# -- core on its own ------------------------------------------------------------------


@pytest.mark.parametrize("n_variants", [2, 3])
@pytest.mark.parametrize("learner", EXPLAINED)
def test_explainer_explains_the_overall_treatment_models(data_cache, fitted, learner, n_variants):
    data = data_cache(n_variants=n_variants)
    model = fitted(learner, data)
    overall = [cf._overall_estimator for cf in model._treatment_models["treatment_model"]]
    explainer = model.explainer()
    assert explainer.n_variants == n_variants
    assert explainer.cate_models == overall and all(isinstance(m, LGBMRegressor) for m in overall)

    names = [f"x{i}" for i in range(data.X.shape[1])]
    importances = model.feature_importances(feature_names=names, normalize=True, sort_values=True)
    assert len(importances) == n_variants - 1
    for series, cate_model in zip(importances, overall):
        raw = pd.Series(cate_model.feature_importances_, index=names)
        pd.testing.assert_series_equal(series, (raw / raw.sum()).sort_values(ascending=False))
        assert series.is_monotonic_decreasing and np.isclose(series.sum(), 1.0)
    default = model.feature_importances()
    assert list(default[0].index) == [f"Feature {i}" for i in range(data.X.shape[1])]
    np.testing.assert_array_equal(default[0].to_numpy(), overall[0].feature_importances_)


@pytest.mark.parametrize("learner", EXPLAINED)
def test_shap_values_add_up_to_each_variants_cate_model(data_cache, fitted, learner):
    shap = pytest.importorskip("shap")
    data = data_cache(n_variants=3)
    model = fitted(learner, data)
    X = data.X[:50]
    values = model.shap_values(X, shap.TreeExplainer)
    assert len(values) == 2
    for variant, cate_model in enumerate(model.explainer().cate_models):
        assert values[variant].shape == X.shape
        expected = shap.TreeExplainer(model=cate_model).expected_value
        np.testing.assert_allclose(values[variant].sum(axis=1) + expected, cate_model.predict(X), atol=1e-6)


@pytest.mark.parametrize("learner", NOT_EXPLAINED)
def test_learners_without_treatment_models_need_estimates(data_cache, fitted, learner):
    data = data_cache(n_variants=3)
    model = fitted(learner, data)
    with pytest.raises(ValueError, match=f"^{re.escape(NO_TREATMENT_MODELS)}$"):
        model.explainer()
    with pytest.raises(ValueError, match="does not have treatment models"):
        model.feature_importances()

    estimates = model.predict(data.X, is_oos=False)
    explainer = model.explainer(X=data.X, cate_estimates=estimates, cate_model_factory=LGBMRegressor, cate_model_params=CATE_MODEL)
    assert explainer.n_variants == 3
    for variant, cate_model in enumerate(explainer.cate_models):
        own = LGBMRegressor(**CATE_MODEL).fit(data.X, estimates[:, variant, 0])
        np.testing.assert_array_equal(cate_model.predict(data.X), own.predict(data.X))
    importances = model.feature_importances(
        X=data.X, cate_estimates=estimates, cate_model_factory=LGBMRegressor, cate_model_params=CATE_MODEL
    )
    np.testing.assert_array_equal(importances[1].to_numpy(), explainer.cate_models[1].feature_importances_)


def test_from_estimates_takes_the_positive_class_of_a_binary_outcome(data_cache):
    data = data_cache(binary=True)
    model = _fit(metalearner_factory, "T", data, binary=True)
    estimates = model.predict(data.X, is_oos=False)
    assert estimates.shape[2] == 2
    explainer = Explainer.from_estimates(data.X, estimates, LinearRegression)
    np.testing.assert_allclose(explainer.cate_models[0].predict(data.X),
                               LinearRegression().fit(data.X, estimates[:, 0, 1]).predict(data.X))


@pytest.mark.parametrize("arguments", [{"X": "X"}, {"cate_estimates": "tau"}, {"X": "X", "cate_model_factory": LGBMRegressor}])
def test_explainer_takes_all_or_none_of_its_arguments(data_cache, fitted, arguments):
    data = data_cache()
    model = fitted("DR", data)
    values = {"X": data.X, "tau": model.predict(data.X, is_oos=False)}
    arguments = {k: values.get(v, v) if isinstance(v, str) else v for k, v in arguments.items()}
    with pytest.raises(ValueError) as error:
        model.explainer(**arguments)
    assert str(error.value) == PARTIAL_ARGUMENTS


def test_from_estimates_refuses_bad_estimates():
    X = np.zeros((4, 2))
    good = np.zeros((4, 1, 1))
    cases = [
        (X[:3], good, "X and cate_estimates should contain the same number of observations and not be empty."),
        (X[:0], good[:0], "X and cate_estimates should contain the same number of observations and not be empty."),
        (X, np.full((4, 1, 1), np.nan), "cate_estimates can not contain any NaN or inf."),
        (X, np.full((4, 1, 1), np.inf), "cate_estimates can not contain any NaN or inf."),
        (X, np.zeros((4, 1)), "Output needs to be 3-dimensional but is 2-dimensional."),
        (X, np.zeros((4, 1, 3)), "This function requires a regression or a classification with binary outcome task."),
    ]
    for X_case, estimates, message in cases:
        with pytest.raises(ValueError) as error:
            Explainer.from_estimates(X_case, estimates, LinearRegression)
        assert str(error.value) == message


def test_feature_importances_need_models_that_have_them():
    X, y = np.arange(8.0).reshape(4, 2), np.arange(4.0)
    explainer = Explainer([LGBMRegressor(**CATE_MODEL, min_child_samples=1).fit(X, y), LinearRegression().fit(X, y)])
    with pytest.raises(ValueError) as error:
        explainer.feature_importances()
    assert str(error.value) == (
        "Model used for treatment variant 2 has no attribute feature_importances_. "
        "You need to use a model which computes them, e.g. LGBMRegressor."
    )


def test_shap_values_without_shap_say_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "shap", None)  # what Python does when shap is absent
    explainer = Explainer([LinearRegression().fit(np.eye(3), np.arange(3.0))])
    with pytest.raises(ImportError, match=r"pip install shap .*metalearners-core\[explain\]"):
        explainer.shap_values(np.eye(3), shap_explainer_factory=object)


def test_fixed_binary_propensity():
    model = FixedBinaryPropensity(0.3).fit(np.zeros((5, 2)), np.array([0, 1, 1, 0, 1]))
    np.testing.assert_array_equal(model.classes_, [0, 1])
    np.testing.assert_allclose(model.predict_proba(np.zeros((3, 2))), [[0.7, 0.3]] * 3)
    np.testing.assert_array_equal(model.predict(np.zeros((3, 2))), [0, 0, 0])
    assert FixedBinaryPropensity(0.6).predict(pd.DataFrame({"a": [1, 2]})).tolist() == [1, 1]
    for score in (-0.1, 1.5):
        with pytest.raises(ValueError) as error:
            FixedBinaryPropensity(score)
        assert str(error.value) == f"Expected a propensity score between 0 and 1 but got {score}."
    with pytest.raises(ValueError) as error:
        FixedBinaryPropensity(0.5).fit(np.zeros((3, 1)), np.array([0, 1, 2]))
    assert str(error.value) == "FixedBinaryPropensityModel only supports binary outcomes but 3 were provided ."


# -- the same as the metalearners package ---------------------------------------------


@pytest.fixture(scope="module")
def peer():
    """The package's modules (the peers tests skip without it, except in CI)."""
    if not os.environ.get("REQUIRE_PEERS"):
        pytest.importorskip("metalearners")
        pytest.importorskip("shap")
    from metalearners import explainer, utils

    return utils, explainer


def _peer_fit(peer, learner, data, **extra):
    utils, _ = peer
    return _fit(utils.metalearner_factory, learner, data, **extra)


def _assert_same_series(ours, theirs):
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        pd.testing.assert_series_equal(a, b)


@pytest.mark.peers
@pytest.mark.parametrize("n_variants", [2, 3])
@pytest.mark.parametrize("learner", EXPLAINED)
def test_same_importances_and_shap_values_as_metalearners(data_cache, fitted, peer, learner, n_variants):
    import shap

    data = data_cache(n_variants=n_variants)
    ours, theirs = fitted(learner, data), _peer_fit(peer, learner, data)
    # Same data, folds and seed: the same fitted models, hence the same explanations.
    np.testing.assert_allclose(ours.predict(data.X, is_oos=False), theirs.predict(data.X, is_oos=False), rtol=1e-9)
    names = [f"x{i}" for i in range(data.X.shape[1])]
    for options in [{}, {"normalize": True}, {"feature_names": names, "sort_values": True}]:
        _assert_same_series(ours.feature_importances(**options), theirs.feature_importances(**options))
    X = data.X[:60]
    for a, b in zip(ours.shap_values(X, shap.TreeExplainer), theirs.shap_values(X, shap.TreeExplainer)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)

    # Core's Explainer on the package's fitted models explains them as the package does.
    _, peer_explainer = peer
    models = [cf._overall_estimator for cf in theirs._treatment_models["treatment_model"]]
    _assert_same_series(Explainer(models).feature_importances(normalize=True),
                        peer_explainer.Explainer(models).feature_importances(normalize=True))
    for a, b in zip(Explainer(models).shap_values(X, shap.TreeExplainer, {"feature_perturbation": "tree_path_dependent"}),
                    theirs.shap_values(X, shap.TreeExplainer, {"feature_perturbation": "tree_path_dependent"})):
        np.testing.assert_array_equal(a, b)


@pytest.mark.peers
@pytest.mark.parametrize("learner", ["S", "T", "X", "R", "DR"])
def test_same_explanations_from_estimates_as_metalearners(data_cache, fitted, peer, learner):
    import shap

    data = data_cache(n_variants=3)
    ours, theirs = fitted(learner, data), _peer_fit(peer, learner, data)
    estimates = ours.predict(data.X, is_oos=False)
    from_estimates = dict(cate_estimates=estimates, cate_model_factory=LGBMRegressor, cate_model_params=CATE_MODEL)
    _assert_same_series(ours.feature_importances(X=data.X, sort_values=True, **from_estimates),
                        theirs.feature_importances(X=data.X, sort_values=True, **from_estimates))
    X = data.X[:40]
    shap_ours = ours.shap_values(X, shap.TreeExplainer, **from_estimates | {"cate_estimates": estimates[:40]})
    shap_theirs = theirs.shap_values(X, shap.TreeExplainer, **from_estimates | {"cate_estimates": estimates[:40]})
    for a, b in zip(shap_ours, shap_theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.peers
@pytest.mark.parametrize("learner", NOT_EXPLAINED)
def test_same_refusal_as_metalearners(data_cache, fitted, peer, learner):
    data = data_cache(n_variants=3)
    ours, theirs = fitted(learner, data), _peer_fit(peer, learner, data)
    with pytest.raises(ValueError) as mine:
        ours.explainer()
    with pytest.raises(ValueError) as package:
        theirs.explainer()
    assert str(mine.value) == str(package.value)
    with pytest.raises(ValueError) as mine:
        ours.explainer(X=data.X)
    with pytest.raises(ValueError) as package:
        theirs.explainer(X=data.X)
    assert str(mine.value) == str(package.value)


@pytest.mark.peers
def test_same_error_messages_as_metalearners(peer):
    utils, peer_explainer = peer
    X = np.zeros((4, 2))
    calls = [
        lambda E: E.from_estimates(X[:3], np.zeros((4, 1, 1)), LinearRegression),
        lambda E: E.from_estimates(X, np.full((4, 1, 1), np.nan), LinearRegression),
        lambda E: E.from_estimates(X, np.zeros((4, 2)), LinearRegression),
        lambda E: E.from_estimates(X, np.zeros((4, 1, 3)), LinearRegression),
        lambda E: E([LinearRegression().fit(X, np.arange(4.0))]).feature_importances(),
    ]
    for call in calls:
        with pytest.raises(ValueError) as mine:
            call(Explainer)
        with pytest.raises(ValueError) as package:
            call(peer_explainer.Explainer)
        assert str(mine.value) == str(package.value)
    for make in [lambda F: F(1.2), lambda F: F(0.5).fit(X[:3], np.array([0, 1, 2]))]:
        with pytest.raises(ValueError) as mine:
            make(FixedBinaryPropensity)
        with pytest.raises(ValueError) as package:
            make(utils.FixedBinaryPropensity)
        assert str(mine.value) == str(package.value)


@pytest.mark.peers
@pytest.mark.parametrize("binary", [False, True])
def test_fixed_propensity_in_a_dr_fit_gives_the_package_predictions(data_cache, peer, binary):
    utils, _ = peer
    data = data_cache(binary=binary)

    def propensity(factory):
        return dict(propensity_model_factory=factory, propensity_model_params={"propensity_score": 0.4})

    ours = _fit(metalearner_factory, "DR", data, binary=binary, **propensity(FixedBinaryPropensity))
    theirs = _peer_fit(peer, "DR", data, binary=binary, **propensity(utils.FixedBinaryPropensity))
    propensities = ours._nuisance_models["propensity_model"][0].predict_proba(data.X, is_oos=False)
    np.testing.assert_allclose(propensities, np.tile([0.6, 0.4], (len(data.X), 1)))
    for is_oos in (False, True):
        np.testing.assert_allclose(ours.predict(data.X, is_oos=is_oos), theirs.predict(data.X, is_oos=is_oos), rtol=1e-9)


def test_the_library_imports_without_shap():
    code = (
        "import sys; sys.modules['shap'] = None\n"  # as if shap were not installed
        "import metalearners_core, metalearners_core.explainer, metalearners_core.utils\n"
        "print(metalearners_core.DRLearner.shap_values.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "shap_values"


@pytest.mark.peers
def test_same_signatures_as_metalearners(peer):
    from metalearners.metalearner import MetaLearner as PeerMetaLearner

    from metalearners_core import MetaLearner

    _, peer_explainer = peer

    def parameters(function):
        return [(p.name, p.default, p.kind) for p in inspect.signature(function).parameters.values()]

    for name in ["explainer", "feature_importances", "shap_values"]:
        assert parameters(getattr(MetaLearner, name)) == parameters(getattr(PeerMetaLearner, name)), name
    for name in ["__init__", "from_estimates", "feature_importances", "shap_values"]:
        assert parameters(getattr(Explainer, name)) == parameters(getattr(peer_explainer.Explainer, name)), name
    assert parameters(FixedBinaryPropensity.__init__) == parameters(peer[0].FixedBinaryPropensity.__init__)
