"""Every learner takes numpy, pandas, polars and scipy.sparse inputs, with the same answer.

As in ``metalearners`` 0.13: X is a numpy array, a pandas or polars DataFrame or a CSR
matrix; y and w numpy arrays or pandas/polars Series. polars frames reach the base
models as polars frames and sparse matrices as sparse matrices, also in worker
processes (probe estimators record what their ``fit`` receives).
"""

from __future__ import annotations

import os

import joblib
import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.sparse
from lightgbm import LGBMRegressor
from scipy.sparse import csr_matrix

from metalearners_core import CrossFitEstimator, metalearner_factory
from metalearners_core._execution import tasks

from ._input_probe import ProbeClassifier, ProbeRegressor
from .conftest import LEARNERS, learner_kwargs

KINDS = ["numpy", "pandas", "polars", "csr"]


def as_kind(kind: str, X: np.ndarray, y: np.ndarray, w: np.ndarray):
    if kind == "pandas":
        return pd.DataFrame(X), pd.Series(y), pd.Series(w)
    if kind == "polars":
        return pl.DataFrame(X), pl.Series(y), pl.Series(w)
    if kind == "csr":
        return csr_matrix(X), y, w
    return X, y, w


def assert_same(actual, expected, base: str) -> None:
    # LightGBM bins the same values the same way whatever the container: bit-equal.
    # Linear models solve through different BLAS/sparse paths: equal to rounding.
    if base == "lightgbm":
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12)


def _outputs(model, X, y, w) -> dict:
    outputs = {
        "in_sample": model.predict(X, is_oos=False),
        "oos": model.predict(X, is_oos=True),
        "oos_mean": model.predict(X, is_oos=True, oos_method="mean"),
    }
    if hasattr(model, "predict_conditional_average_outcomes"):
        outputs["outcomes"] = model.predict_conditional_average_outcomes(X, is_oos=False)
    outputs |= {f"evaluate {k}": v for k, v in model.evaluate(X, y, w, is_oos=False).items()}
    return outputs


@pytest.mark.parametrize("base", ["lightgbm", "linear"])
@pytest.mark.parametrize("learner", LEARNERS)
def test_every_input_kind_gives_the_numpy_answer(data_cache, learner, base):
    data = data_cache(n=300, n_variants=3)
    expected = None
    for kind in KINDS:
        X, y, w = as_kind(kind, data.X, data.y, data.w)
        model = metalearner_factory(learner)(**learner_kwargs(learner, False, 3, base=base))
        model.fit(X, y, w)
        outputs = _outputs(model, X, y, w)
        if expected is None:
            expected = outputs
            continue
        assert outputs.keys() == expected.keys(), kind
        for name, value in outputs.items():
            assert_same(value, expected[name], base)


@pytest.mark.parametrize("backend", ["threading", "loky"])
@pytest.mark.parametrize("learner", LEARNERS)
def test_every_input_kind_gives_the_serial_answer_in_parallel(data_cache, learner, backend, monkeypatch):
    # Every input goes through the shared-file path to loky workers, however small.
    monkeypatch.setattr(tasks, "_MEMMAP_BYTES", 1)
    data = data_cache(n=300, n_variants=3)
    serial = metalearner_factory(learner)(**learner_kwargs(learner, False, 3, base="lightgbm"))
    serial.fit(data.X, data.y, data.w)
    expected_oos, expected_in_sample = serial.predict(data.X, is_oos=True), serial.predict(data.X, is_oos=False)
    for kind in KINDS:
        X, y, w = as_kind(kind, data.X, data.y, data.w)
        model = metalearner_factory(learner)(**learner_kwargs(learner, False, 3, base="lightgbm"))
        with joblib.parallel_config(backend=backend):
            model.fit(X, y, w, n_jobs_cross_fitting=2, n_jobs_base_learners=2)
        # LightGBM's thread count differs from the serial fit's: sums in another order
        # (the tolerance of test_parallel).
        np.testing.assert_allclose(model.predict(X, is_oos=True), expected_oos, rtol=1e-9, atol=1e-12, err_msg=kind)
        np.testing.assert_allclose(model.predict(X, is_oos=False), expected_in_sample, rtol=1e-9, atol=1e-12, err_msg=kind)


def _fitted_estimators(model) -> list:
    estimators = []
    for models in [*model._nuisance_models.values(), *model._treatment_models.values()]:
        for cross_fit in models:
            estimators += [*cross_fit._estimators, cross_fit._overall_estimator]
    return estimators


def _probe_kwargs(learner: str, binary: bool) -> dict:
    kwargs = dict(
        is_classification=binary, n_variants=2, n_folds=2, random_state=0,
        nuisance_model_factory=ProbeClassifier if binary else ProbeRegressor,
    )
    if learner in ("X", "R", "DR"):
        kwargs |= dict(propensity_model_factory=ProbeClassifier, treatment_model_factory=ProbeRegressor)
    return kwargs


@pytest.mark.parametrize("backend", ["sequential", "threading", "loky"])
@pytest.mark.parametrize("learner", LEARNERS)
def test_a_sparse_x_reaches_every_base_model_sparse(data_cache, learner, backend, monkeypatch):
    monkeypatch.setattr(tasks, "_MEMMAP_BYTES", 1)  # sparse inputs go to loky workers as shared files
    data = data_cache(n=200, n_variants=2, binary=learner != "R")
    model = metalearner_factory(learner)(**_probe_kwargs(learner, binary=learner != "R"))
    X = csr_matrix(data.X)
    with joblib.parallel_config(backend=backend):
        model.fit(X, data.y, data.w, n_jobs_cross_fitting=2, n_jobs_base_learners=2)
    model.predict(X, is_oos=True)
    model.predict(X, is_oos=False)
    seen = [t for estimator in _fitted_estimators(model) for t in estimator.fit_input_types_]
    seen += [t for estimator in _fitted_estimators(model) for t in getattr(estimator, "predict_input_types_", [])]
    assert seen and all(scipy.sparse.issparse(t((1, 1))) for t in seen), seen
    if backend == "loky":
        assert any(record.pid != os.getpid() for record in model.fit_trace_)


def test_polars_feature_sets_select_by_name_and_position(data_cache):
    data = data_cache(n=300, n_variants=2)
    feature_set = {"variant_outcome_model": [0, 2]}
    X_pl = pl.DataFrame(data.X)
    by_name = {"variant_outcome_model": [X_pl.columns[0], X_pl.columns[2]]}
    answers = []
    for X, features in [(data.X, feature_set), (X_pl, feature_set), (X_pl, by_name)]:
        model = metalearner_factory("T")(**learner_kwargs("T", False, 2, base="lightgbm"), feature_set=features)
        model.fit(X, data.y, data.w)
        assert {m._overall_estimator.n_features_ for m in model._nuisance_models["variant_outcome_model"]} == {2}
        answers.append(model.predict(X, is_oos=True))
    np.testing.assert_array_equal(answers[1], answers[0])
    np.testing.assert_array_equal(answers[2], answers[0])


def test_polars_frames_reach_the_base_models_as_polars(data_cache):
    data = data_cache(n=200, n_variants=2)
    model = metalearner_factory("DR")(**_probe_kwargs("DR", binary=False))
    model.fit(pl.DataFrame(data.X), pl.Series(data.y), pl.Series(data.w))
    assert {t for e in _fitted_estimators(model) for t in e.fit_input_types_} == {pl.DataFrame}


def test_cross_fit_estimator_and_single_model_fits_take_polars(data_cache):
    data = data_cache(n=300, n_variants=2)
    X_pl, y_pl = pl.DataFrame(data.X), pl.Series(data.y)
    params = {"n_estimators": 10, "verbose": -1}
    on_numpy = CrossFitEstimator(3, LGBMRegressor, params, random_state=1).fit(data.X, data.y)
    on_polars = CrossFitEstimator(3, LGBMRegressor, params, random_state=1).fit(X_pl, y_pl)
    for is_oos in (False, True):
        np.testing.assert_array_equal(on_polars.predict(X_pl, is_oos, "overall"), on_numpy.predict(data.X, is_oos, "overall"))
    model = metalearner_factory("T")(**learner_kwargs("T", False, 2, base="lightgbm"))
    model.fit(X_pl, y_pl, pl.Series(data.w))
    reference = metalearner_factory("T")(**learner_kwargs("T", False, 2, base="lightgbm"))
    reference.fit(data.X, data.y, data.w)
    for learner, X, y in [(model, X_pl, y_pl), (reference, data.X, data.y)]:
        learner.fit_nuisance(X, y, "variant_outcome_model", 1)
    np.testing.assert_array_equal(model.predict(X_pl, is_oos=True), reference.predict(data.X, is_oos=True))


def test_explainers_on_polars_match_numpy(data_cache):
    data = data_cache(n=300, n_variants=2)
    X_pl = pl.DataFrame(data.X)
    results = []
    for X, y, w in [(data.X, data.y, data.w), (X_pl, pl.Series(data.y), pl.Series(data.w))]:
        model = metalearner_factory("DR")(**learner_kwargs("DR", False, 2, base="lightgbm"))
        model.fit(X, y, w)
        cate = model.predict(X, is_oos=False)
        own = model.feature_importances(normalize=True)
        fitted = model.feature_importances(X=X, cate_estimates=cate, cate_model_factory=LGBMRegressor, cate_model_params={"verbose": -1})
        explainer = model.explainer(X=X, cate_estimates=cate, cate_model_factory=LGBMRegressor, cate_model_params={"verbose": -1})
        results.append((own, fitted, [m.predict(X) for m in explainer.cate_models]))
    for numpy_result, polars_result in zip(*results):
        for a, b in zip(numpy_result, polars_result):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_shap_values_take_polars(data_cache):
    shap = pytest.importorskip("shap")
    data = data_cache(n=200, n_variants=2)
    model = metalearner_factory("R")(**learner_kwargs("R", False, 2, base="lightgbm"))
    model.fit(pl.DataFrame(data.X), pl.Series(data.y), pl.Series(data.w))
    on_polars = model.shap_values(pl.DataFrame(data.X), shap.TreeExplainer)
    on_numpy = model.shap_values(data.X, shap.TreeExplainer)
    np.testing.assert_array_equal(on_polars[0], on_numpy[0])


@pytest.mark.parametrize("dtype", [pl.Categorical, pl.String])
def test_polars_columns_no_base_model_takes_fail_clearly(data_cache, dtype):
    # LightGBM aborts the whole process on a polars Categorical column: refuse it first.
    data = data_cache(n=100, n_variants=2)
    X = pl.DataFrame(data.X).with_columns(pl.Series("kind", ["a", "b"] * 50).cast(dtype))
    model = metalearner_factory("T")(**learner_kwargs("T", False, 2, base="lightgbm"))
    with pytest.raises(ValueError, match="'kind' \\(dtype"):
        model.fit(X, data.y, data.w)
