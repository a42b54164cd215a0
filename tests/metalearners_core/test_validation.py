"""Bad input fails early with a ValueError that names the problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metalearners_core import CrossFitEstimator, metalearner_factory

from .conftest import learner_kwargs


@pytest.fixture
def fitted(data_cache):
    data = data_cache()
    return data, metalearner_factory("T")(**learner_kwargs("T", False, 2)).fit(data.X, data.y, data.w)


def _fit(data, X=None, y=None, w=None, learner="T", n_variants=2, binary=False, **fit_kwargs):
    model = metalearner_factory(learner)(**learner_kwargs(learner, binary, n_variants))
    return model.fit(data.X if X is None else X, data.y if y is None else y, data.w if w is None else w, **fit_kwargs)


def test_treatment_outside_range(data_cache):
    data = data_cache()
    w = data.w.copy()
    w[0] = 5
    with pytest.raises(ValueError, match=r"Treatment values \[5\] are outside 0..1"):
        _fit(data, w=w)


def test_variant_without_rows(data_cache):
    data = data_cache(n_variants=3)
    w = np.where(data.w == 2, 1, data.w)
    with pytest.raises(ValueError, match=r"variant\(s\) \[2\] have no rows"):
        _fit(data, w=w, n_variants=3)


def test_nan_in_outcome(data_cache):
    data = data_cache()
    y = data.y.copy()
    y[3] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        _fit(data, y=y)


def test_nan_in_treatment(data_cache):
    data = data_cache()
    w = data.w.astype(float)
    w[3] = np.nan
    with pytest.raises(ValueError, match="w contains NaN"):
        _fit(data, w=w)


def test_length_mismatch(data_cache):
    data = data_cache()
    with pytest.raises(ValueError, match=r"same length; got 400, 399 and 400"):
        _fit(data, y=data.y[:-1])


@pytest.mark.parametrize("n_folds", [0, -2])
def test_non_positive_n_folds(n_folds):
    # The package's messages (metalearners 0.13), then what is allowed.
    with pytest.raises(ValueError, match=f"variant_outcome_model n_folds was expected to be strictly positive but was {n_folds}. It must be an integer >= 1"):
        metalearner_factory("T")(**learner_kwargs("T", False, 2, n_folds=n_folds))
    with pytest.raises(ValueError, match=f"n_folds needs to be a strictly positive integer but is {n_folds}"):
        CrossFitEstimator(n_folds=n_folds, estimator_factory=object)


def test_fractional_n_folds():
    with pytest.raises(ValueError, match="variant_outcome_model n_folds must be an integer >= 1, got 1.5"):
        metalearner_factory("T")(**learner_kwargs("T", False, 2, n_folds=1.5))
    with pytest.raises(ValueError, match="n_folds must be an integer >= 1, got 1.5"):
        CrossFitEstimator(n_folds=1.5, estimator_factory=object)


@pytest.mark.parametrize("keyword", ["n_jobs_cross_fitting", "n_jobs_base_learners"])
def test_zero_jobs(data_cache, keyword):
    with pytest.raises(ValueError, match=f"{keyword}=0 has no meaning"):
        _fit(data_cache(), **{keyword: 0})


@pytest.mark.parametrize("learner", ["X", "R", "DR"])
def test_multiclass_outcome_rejected(data_cache, learner):
    data = data_cache()
    y = np.arange(len(data.y)) % 3
    with pytest.raises(ValueError, match=f"{learner}Learner does not support multiclass classification. Yet we found 3 classes."):
        _fit(data, y=y, learner=learner, binary=True)


def test_multiclass_outcome_accepted_by_t_learner(data_cache):
    data = data_cache()
    y = np.arange(len(data.y)) % 3
    model = _fit(data, y=y, binary=True)
    assert model.predict(data.X, is_oos=True).shape == (len(y), 1, 3)


def test_in_sample_predict_needs_training_rows(fitted):
    data, model = fitted
    with pytest.raises(ValueError, match="Training data included 400 observations while prediction data includes 10 observations"):
        model.predict(data.X[:10], is_oos=False)


def test_unknown_oos_method(fitted):
    data, model = fitted
    with pytest.raises(ValueError, match="oos_method average not supported. Supported values are"):
        model.predict(data.X, is_oos=True, oos_method="average")


def test_predict_before_fit(data_cache):
    model = metalearner_factory("DR")(**learner_kwargs("DR", False, 2))
    with pytest.raises(ValueError, match="not fitted yet"):
        model.predict(data_cache().X, is_oos=True)


def test_unknown_learner_prefix():
    with pytest.raises(ValueError, match=r"No MetaLearner implementation found for prefix Q. Choose one of \['S', 'T', 'X', 'R', 'DR'\]"):
        metalearner_factory("Q")


def test_regressor_as_propensity_model():
    from sklearn.linear_model import LinearRegression

    kwargs = learner_kwargs("DR", False, 2) | {"propensity_model_factory": LinearRegression}
    with pytest.raises(ValueError, match="propensity_model is supposed to be used with the predict method 'predict_proba' but it is not a classifier. LinearRegression is a regressor"):
        metalearner_factory("DR")(**kwargs)


def _frame_with(data, **columns) -> pd.DataFrame:
    frame = pd.DataFrame(data.X, columns=[f"x{i}" for i in range(data.X.shape[1])])
    return frame.assign(**columns)


def test_string_column_is_named_with_what_is_allowed(data_cache):
    # Without the check, LightGBM's own error says "pandas dtypes must be int, float or bool".
    data = data_cache()
    X = _frame_with(data, city=np.where(data.w == 1, "Berlin", "Paris"))
    model = metalearner_factory("T")(**learner_kwargs("T", False, 2, base="lightgbm"))
    with pytest.raises(ValueError) as caught:
        model.fit(X, data.y, data.w)
    message = str(caught.value)
    assert "X has columns the base models cannot take: 'city' (dtype " in message
    assert "numeric or bool columns, or pandas 'category' columns" in message
    assert ".astype('category')" in message


def test_string_column_as_category_fits_and_predict_checks_columns_too(data_cache):
    data = data_cache()
    city = np.where(data.w == 1, "Berlin", "Paris")
    model = metalearner_factory("T")(**learner_kwargs("T", False, 2, base="lightgbm"))
    model.fit(_frame_with(data, city=pd.Categorical(city)), data.y, data.w)
    with pytest.raises(ValueError, match=r"'city' \(dtype "):
        model.predict(_frame_with(data, city=city), is_oos=True)
    with pytest.raises(ValueError, match=r"'city' \(dtype "):
        model.evaluate(_frame_with(data, city=city), data.y, data.w, is_oos=True)


def test_unused_string_column_is_allowed(data_cache):
    data = data_cache()
    X = _frame_with(data, row_id=[f"row-{i}" for i in range(len(data.y))])
    features = [f"x{i}" for i in range(data.X.shape[1])]
    kwargs = learner_kwargs("T", False, 2, base="lightgbm") | {"feature_set": features}
    model = metalearner_factory("T")(**kwargs).fit(X, data.y, data.w)
    assert model.predict(X, is_oos=True).shape == (len(data.y), 1, 1)


def test_strings_in_a_numpy_object_array_name_the_column(data_cache):
    data = data_cache()
    X = np.concatenate([data.X.astype(object), np.full((len(data.y), 1), "a", dtype=object)], axis=1)
    with pytest.raises(ValueError, match=r"column 4 \(dtype object holding string values\).*Convert X to numbers"):
        _fit(data, X=X)
