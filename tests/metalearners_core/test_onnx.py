"""The experimental ONNX export, used as the metalearners 0.13 docs and tests use it.

Fit a learner, convert the base models ``_necessary_onnx_models()`` names with
onnxmltools/skl2onnx, combine them with ``_build_onnx``, run the result with
onnxruntime: it must predict what ``predict(X, is_oos=True, oos_method="overall")``
predicts, within the package's own tolerance (atol 5e-4). The validation errors carry
the package's messages.
"""

from __future__ import annotations

import os
import re
import sys
from functools import partial

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

from metalearners_core import SLearner, TLearner, metalearner_factory
from metalearners_core.metalearner import PROPENSITY_MODEL, TREATMENT_MODEL, VARIANT_OUTCOME_MODEL
from metalearners_core.xlearner import CONTROL_EFFECT_MODEL, TREATMENT_EFFECT_MODEL

from .conftest import learner_kwargs, make_data

_ONNX_STACK = ["onnx", "onnxruntime", "onnxmltools", "skl2onnx", "spox"]
if os.environ.get("REQUIRE_ONNX"):
    for _module in _ONNX_STACK:  # CI installs the onnx extra: this module must run, never skip
        __import__(_module)
else:
    for _module in _ONNX_STACK:
        pytest.importorskip(_module)

import onnxruntime as rt  # noqa: E402
from onnxmltools import convert_lightgbm  # noqa: E402
from onnxmltools.convert.common.data_types import FloatTensorType  # noqa: E402
from skl2onnx import convert_sklearn  # noqa: E402
from skl2onnx.common.data_types import FloatTensorType as SklearnFloatTensorType  # noqa: E402

ATOL = 5e-4  # the package's tests' tolerance
N_ROWS, N_FEATURES, N_VARIANTS = 300, 5, 3
LIGHTGBM = {"n_estimators": 5, "num_leaves": 7, "verbose": -1, "n_jobs": 1}  # one thread: tiny fits
EXPERIMENTAL = "_build_onnx is an experimental feature. Use it at your own risk!"


def convert(model, n_features: int, input_name: str = "X"):
    """The package docs' conversion: onnxmltools for LightGBM, skl2onnx otherwise;
    classifiers without zipmap so that their probabilities are a tensor."""
    is_classifier = hasattr(model, "predict_proba")
    if isinstance(model, (LGBMClassifier, LGBMRegressor)):
        converter = partial(convert_lightgbm, zipmap=False) if is_classifier else convert_lightgbm
        tensor_type = FloatTensorType
    else:
        converter = partial(convert_sklearn, options={"zipmap": False}) if is_classifier else convert_sklearn
        tensor_type = SklearnFloatTensorType
    return converter(model, initial_types=[(input_name, tensor_type([None, n_features]))])


def convert_all(learner, n_features: int) -> dict:
    return {
        kind: [convert(model, n_features) for model in models]
        for kind, models in learner._necessary_onnx_models().items()
    }


def run_onnx(onnx_model, X: np.ndarray, output_name: str = "tau") -> np.ndarray:
    session = rt.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    (prediction,) = session.run([output_name], {"X": X.astype(np.float32)})
    return prediction


def build(learner, models, **kwargs):
    with pytest.warns(UserWarning, match=re.escape(EXPERIMENTAL)):
        return learner._build_onnx(models, **kwargs)


@pytest.fixture(scope="module", params=[False, True], ids=["regression", "binary"])
def data(request):
    return make_data(N_ROWS, N_FEATURES, N_VARIANTS, binary=request.param, seed=3)


def fitted(learner: str, data, **kwargs):
    binary = data.y.dtype.kind == "i"
    ml = metalearner_factory(learner)(**(learner_kwargs(learner, binary, N_VARIANTS, "lightgbm", 2, **LIGHTGBM) | kwargs))
    return ml.fit(data.X, data.y, data.w)


@pytest.mark.parametrize("learner", ["T", "X", "R", "DR"])
def test_onnx_model_predicts_what_the_learner_predicts(learner, data):
    ml = fitted(learner, data)
    onnx_model = build(ml, convert_all(ml, N_FEATURES))
    expected = ml.predict(data.X, is_oos=True, oos_method="overall")
    prediction = run_onnx(onnx_model, data.X)
    assert prediction.shape == expected.shape == (N_ROWS, N_VARIANTS - 1, 2 if ml.is_classification else 1)
    np.testing.assert_allclose(prediction, expected, atol=ATOL)


@pytest.mark.parametrize("learner", ["T", "DR"])
def test_lightgbm_with_categorical_columns(learner):
    """As the package's tests: LightGBM takes pandas categoricals, ONNX their codes."""
    data = make_data(N_ROWS, N_FEATURES, N_VARIANTS, binary=False, seed=4)
    rng = np.random.default_rng(4)
    X = pd.DataFrame(data.X, columns=[f"x{i}" for i in range(N_FEATURES)])
    X["c0"] = pd.Series(rng.integers(10, 13, N_ROWS), dtype="category")  # codes do not start at 0
    X["c1"] = pd.Series(rng.choice([-5, 4, -10, -32], N_ROWS), dtype="category")  # nor are consecutive
    y = data.y + 3.0 * ((X["c1"] == -10) & (data.w == 1)).to_numpy()  # an effect the trees must split on
    # LightGBM makes no categorical split on fewer than min_data_per_group (100) rows a category.
    kwargs = learner_kwargs(learner, False, N_VARIANTS, "lightgbm", 2, **LIGHTGBM, min_data_per_group=5)
    ml = metalearner_factory(learner)(**kwargs).fit(X, y, data.w)
    onnx_X = X.astype({"c0": int, "c1": int}).to_numpy(np.float32)
    onnx_X[:, -2] = X["c0"].cat.codes
    onnx_X[:, -1] = X["c1"].cat.codes
    prediction = run_onnx(build(ml, convert_all(ml, N_FEATURES + 2)), onnx_X)
    np.testing.assert_allclose(prediction, ml.predict(X, True, "overall"), atol=ATOL)


@pytest.mark.parametrize(
    "learner, binary, kwargs",
    [
        ("T", True, dict(nuisance_model_factory=LogisticRegression, nuisance_model_params={})),
        ("T", False, dict(nuisance_model_factory=LinearRegression, nuisance_model_params={})),
        ("X", False, dict(propensity_model_factory=LogisticRegression, propensity_model_params={})),
        ("DR", True, dict(treatment_model_factory=LinearRegression, treatment_model_params={})),
    ],
    ids=["T-logistic", "T-linear", "X-logistic-propensity", "DR-linear-effects"],
)
def test_scikit_learn_base_models(learner, binary, kwargs):
    data = make_data(N_ROWS, N_FEATURES, N_VARIANTS, binary=binary, seed=5)
    ml = metalearner_factory(learner)(**(learner_kwargs(learner, binary, N_VARIANTS, "lightgbm", 2, **LIGHTGBM) | kwargs))
    ml.fit(data.X, data.y, data.w)
    prediction = run_onnx(build(ml, convert_all(ml, N_FEATURES)), data.X)
    np.testing.assert_allclose(prediction, ml.predict(data.X, True, "overall"), atol=ATOL)


def test_output_name_names_the_single_output():
    ml = fitted("DR", make_data(N_ROWS, N_FEATURES, N_VARIANTS, binary=False, seed=6))
    onnx_model = build(ml, convert_all(ml, N_FEATURES), output_name="cate")
    assert [output.name for output in onnx_model.graph.output] == ["cate"]
    assert [tensor.name for tensor in onnx_model.graph.input] == ["X"]


@pytest.mark.parametrize(
    "learner, kinds",
    [
        ("T", {VARIANT_OUTCOME_MODEL: N_VARIANTS}),
        ("X", {PROPENSITY_MODEL: 1, CONTROL_EFFECT_MODEL: N_VARIANTS - 1, TREATMENT_EFFECT_MODEL: N_VARIANTS - 1}),
        ("R", {TREATMENT_MODEL: N_VARIANTS - 1}),
        ("DR", {TREATMENT_MODEL: N_VARIANTS - 1}),
    ],
)
def test_necessary_onnx_models_are_the_overall_models(learner, kinds, data):
    ml = fitted(learner, data)
    necessary = ml._necessary_onnx_models()
    assert {kind: len(models) for kind, models in necessary.items()} == kinds
    for kind, models in necessary.items():
        stage = ml._nuisance_models if kind in ml._nuisance_models else ml._treatment_models
        assert all(model is cfe._overall_estimator for model, cfe in zip(models, stage[kind]))


def test_an_unfitted_learner_has_no_overall_models():
    ml = metalearner_factory("DR")(**learner_kwargs("DR", False, N_VARIANTS, "lightgbm", 2))
    with pytest.raises(ValueError, match=re.escape("To use this functionality the overall models need to be fitted.")):
        ml._necessary_onnx_models()


# -- validation: the package's checks and messages ------------------------------------


@pytest.fixture(scope="module")
def tlearner_and_models():
    ml = fitted("T", make_data(N_ROWS, N_FEATURES, N_VARIANTS, binary=True, seed=8))
    return ml, convert_all(ml, N_FEATURES)


def test_models_must_have_exactly_the_necessary_keys(tlearner_and_models):
    ml, models = tlearner_and_models
    message = "necessary_model ({'variant_outcome_model'}) should equal to keys present in models dictionary."
    for wrong in ({}, models | {"propensity_model": models[VARIANT_OUTCOME_MODEL][:1]}):
        with pytest.warns(UserWarning, match=re.escape(EXPERIMENTAL)):
            with pytest.raises(ValueError, match=re.escape(message)):
                ml._build_onnx(wrong)


def test_models_must_match_the_cardinality(tlearner_and_models):
    ml, models = tlearner_and_models
    too_few = {VARIANT_OUTCOME_MODEL: models[VARIANT_OUTCOME_MODEL][:-1]}
    with pytest.warns(UserWarning, match=re.escape(EXPERIMENTAL)):
        with pytest.raises(ValueError, match="^variant_outcome_model cardinality does not match the expected cardinality.$"):
            ml._build_onnx(too_few)


def test_models_must_share_one_input(tlearner_and_models):
    ml, models = tlearner_and_models
    outcome_models = ml._necessary_onnx_models()[VARIANT_OUTCOME_MODEL]
    renamed = [*models[VARIANT_OUTCOME_MODEL][:-1], convert(outcome_models[-1], N_FEATURES, input_name="features")]
    message = "Some ONNX model has a different input, check that all models have the same input format."
    with pytest.warns(UserWarning, match=re.escape(EXPERIMENTAL)):
        with pytest.raises(ValueError, match=re.escape(message)):
            ml._build_onnx({VARIANT_OUTCOME_MODEL: renamed})


def test_a_predict_model_must_have_one_output():
    data = make_data(N_ROWS, N_FEATURES, N_VARIANTS, binary=False, seed=9)
    ml = fitted("DR", data)
    classifier = LGBMClassifier(**LIGHTGBM).fit(data.X, data.w)  # label and probabilities
    models = convert_all(ml, N_FEATURES)
    models[TREATMENT_MODEL][1] = convert(classifier, N_FEATURES)
    message = "ONNX treatment_model with index 1 has 2 outputs and should have only one."
    with pytest.warns(UserWarning, match=re.escape(EXPERIMENTAL)):
        with pytest.raises(ValueError, match=re.escape(message)):
            ml._build_onnx(models)


def test_a_predict_proba_model_must_have_a_probabilities_output():
    data = make_data(N_ROWS, N_FEATURES, N_VARIANTS, binary=False, seed=10)
    ml = fitted("X", data)
    models = convert_all(ml, N_FEATURES)
    models[PROPENSITY_MODEL] = [convert(LGBMRegressor(**LIGHTGBM).fit(data.X, data.w), N_FEATURES)]
    message = (
        "ONNX propensity_model model with index 0 needs to have an output with name in "
        "['probabilities', 'output_probability']."
    )
    with pytest.warns(UserWarning, match=re.escape(EXPERIMENTAL)):
        with pytest.raises(ValueError, match=re.escape(message)):
            ml._build_onnx(models)


def test_feature_set_must_be_none():
    data = make_data(N_ROWS, N_FEATURES, N_VARIANTS, binary=False, seed=11)
    ml = fitted("DR", data, feature_set={TREATMENT_MODEL: [0, 1], PROPENSITY_MODEL: None, VARIANT_OUTCOME_MODEL: None})
    message = (
        "ONNX conversion can only be used if all base models have `None` as feature set "
        "(and therefore use all the features)."
    )
    with pytest.warns(UserWarning, match=re.escape(EXPERIMENTAL)):
        with pytest.raises(ValueError, match=re.escape(message)):
            ml._build_onnx(convert_all(ml, 2))


def test_the_slearner_does_not_export():
    data = make_data(N_ROWS, N_FEATURES, N_VARIANTS, binary=False, seed=12)
    ml = SLearner(is_classification=False, n_variants=N_VARIANTS, nuisance_model_factory=LinearRegression, n_folds=2).fit(data.X, data.y, data.w)
    message = "The SLearner does not implement this method. Please refer to comment in the tutorial."
    with pytest.raises(ValueError, match=re.escape(message)):
        SLearner._necessary_onnx_models()
    with pytest.raises(ValueError, match=re.escape(message)):
        ml._build_onnx({})


def test_a_missing_spox_names_the_extra(monkeypatch, tlearner_and_models):
    ml, models = tlearner_and_models
    monkeypatch.setitem(sys.modules, "spox", None)  # makes `import spox` fail, as when not installed
    with pytest.warns(UserWarning, match=re.escape(EXPERIMENTAL)):
        with pytest.raises(ImportError, match=re.escape("spox is not installed. Please install spox to use this feature.")) as error:
            ml._build_onnx(models)
    assert "metalearners-core[onnx]" in str(error.value)


def test_tlearner_multiclass():
    """The T-learner supports more than two classes: the CATE has one column per class."""
    rng = np.random.default_rng(14)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    y = rng.integers(0, 3, N_ROWS)
    w = rng.integers(0, 2, N_ROWS)
    ml = TLearner(is_classification=True, n_variants=2, nuisance_model_factory=LGBMClassifier, nuisance_model_params=LIGHTGBM, n_folds=2).fit(X, y, w)
    prediction = run_onnx(build(ml, convert_all(ml, N_FEATURES)), X)
    assert prediction.shape == (N_ROWS, 1, 3)
    np.testing.assert_allclose(prediction, ml.predict(X, True, "overall"), atol=ATOL)



@pytest.mark.peers
@pytest.mark.parametrize("learner", ["T", "X", "R", "DR"])
def test_the_graph_is_the_packages(learner, data):
    """The package's own ``_build_onnx``, run on core's fitted learner (it reads only
    attributes core has), builds the very same graph from the same converted models."""
    if not os.environ.get("REQUIRE_PEERS"):
        pytest.importorskip("metalearners")
    import importlib

    module = importlib.import_module(f"metalearners.{learner.lower()}learner")
    package_build_onnx = getattr(module, f"{learner}Learner")._build_onnx
    ml = fitted(learner, data)
    models = convert_all(ml, N_FEATURES)
    with pytest.warns(UserWarning, match=re.escape(EXPERIMENTAL)):
        package_graph = package_build_onnx(ml, models).graph
    assert build(ml, models).graph == package_graph
