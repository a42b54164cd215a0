"""call_model: a LightGBM model's booster called directly gives its wrapper's predictions bit
for bit, is really taken where it may be, and is skipped (the wrapper decides) elsewhere."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from lightgbm.sklearn import LGBMNotFittedError

from metalearners_core._execution.model_calls import _direct_lightgbm, call_model

RNG = np.random.default_rng(0)
X = RNG.standard_normal((300, 4))
Y_REG = X[:, 0] + RNG.standard_normal(300)
Y_BIN = (X[:, 1] > 0).astype(int)
Y_MULTI = np.digitize(X[:, 2], [-0.5, 0.5])


def _fitted(kind: str, **params):
    base = {"n_estimators": 8, "verbose": -1, **params}
    if kind == "regressor":
        return LGBMRegressor(**base).fit(X, Y_REG), "predict"
    return LGBMClassifier(**base).fit(X, Y_BIN if kind == "binary" else Y_MULTI), "predict_proba"


@pytest.mark.parametrize("kind", ["regressor", "binary", "multiclass"])
@pytest.mark.parametrize("params", [{}, {"n_jobs": 1}, {"num_threads": 2}, {"nthread": 1, "n_jobs": 2}])
@pytest.mark.parametrize("layout", ["C", "F", "float32", "one row"])
def test_the_booster_called_directly_gives_the_wrappers_predictions(kind, params, layout):
    model, method = _fitted(kind, **params)
    rows = {"C": X, "F": np.asfortranarray(X), "float32": X.astype(np.float32), "one row": X[:1]}[layout]
    assert _direct_lightgbm(model, method, rows, {}) is not None  # the shortcut is taken
    np.testing.assert_array_equal(call_model(model, method, rows), getattr(model, method)(rows))
    for threads in (1, 2):
        direct = call_model(model, method, rows, num_threads=threads)
        np.testing.assert_array_equal(direct, getattr(model, method)(rows, num_threads=threads))


def test_the_thread_count_is_the_wrappers():
    model, method = _fitted("regressor", n_jobs=1)
    assert _direct_lightgbm(model, method, X, {})[2] == 1
    assert _direct_lightgbm(model, method, X, {"num_threads": 2})[2] == 2
    model.set_params(n_jobs=2)  # a new n_jobs after fitting is seen
    assert _direct_lightgbm(model, method, X, {})[2] == 2
    model, method = _fitted("regressor", num_threads=2, n_jobs=1)  # num_threads wins over its aliases
    assert _direct_lightgbm(model, method, X, {})[2] == 2


def test_a_refitted_model_is_read_again():
    model, method = _fitted("regressor")
    call_model(model, method, X)
    model.fit(X, -Y_REG)
    np.testing.assert_array_equal(call_model(model, method, X), model.predict(X))


class _MyRegressor(LGBMRegressor):
    pass


@pytest.mark.parametrize("case", ["dataframe", "feature names", "int matrix", "other width", "labels", "subclass",
                                  "custom objective", "other keyword", "one column vector"])
def test_elsewhere_the_wrapper_decides(case):
    model, method = _fitted("binary" if case == "labels" else "regressor")
    rows, kwargs = X, {}
    if case == "dataframe":
        rows = pd.DataFrame(X)
    elif case == "feature names":
        model = LGBMRegressor(n_estimators=8, verbose=-1).fit(pd.DataFrame(X, columns=list("abcd")), Y_REG)
    elif case == "int matrix":
        rows = np.round(X).astype(int)
    elif case == "other width":
        rows = X[:, :3]
    elif case == "labels":
        method = "predict"
    elif case == "subclass":
        model = _MyRegressor(n_estimators=8, verbose=-1).fit(X, Y_REG)
    elif case == "custom objective":
        model = LGBMRegressor(n_estimators=8, verbose=-1, objective=lambda y, p: (p - y, np.ones_like(y))).fit(X, Y_REG)
    elif case == "other keyword":
        kwargs = {"raw_score": True}
    elif case == "one column vector":
        rows = X[:, 0]
    # A model fitted with feature names: skipped where the wrapper warns on a NumPy matrix
    # (LightGBM >= 4.6 has feature_names_in_); older wrappers neither warn nor differ.
    if case != "feature names" or getattr(model, "feature_names_in_", None) is not None:
        assert _direct_lightgbm(model, method, rows, kwargs) is None
    if case in ("other width", "one column vector"):
        with pytest.raises(ValueError):
            call_model(model, method, rows, **kwargs)
        return
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = call_model(model, method, rows, **kwargs)
    with warnings.catch_warnings(record=True) as expected_warnings:
        warnings.simplefilter("always")
        expected = getattr(model, method)(rows, **kwargs)
    np.testing.assert_array_equal(got, expected)
    assert [str(w.message) for w in seen] == [str(w.message) for w in expected_warnings]


def test_an_unfitted_model_raises_the_wrappers_error():
    with pytest.raises(LGBMNotFittedError):
        call_model(LGBMRegressor(), "predict", X)
