"""LightGBM models on the same rows share binned data within a fit, and stay the same models."""

from __future__ import annotations

import collections
import threading

import joblib
import numpy as np
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.linear_model import LinearRegression

from metalearners_core import metalearner_factory
from metalearners_core._lightgbm_bins import BinsOfFit, binned_once

from .conftest import learner_kwargs

PARAMS = {"n_estimators": 5, "num_leaves": 7, "verbosity": -1, "deterministic": True, "force_col_wise": True, "n_jobs": 1}


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(500, 6))
    X[:, 2] = np.round(X[:, 2])  # a feature with few distinct values bins differently
    return X, X[:, 0] + rng.normal(size=500), (rng.random(500) < 0.4).astype(int), rng.random(500) + 0.5


def _dump(model) -> str:
    return model.booster_.model_to_string()


def _fit_in(bins, key, factory, X, y, **fit_params):
    with binned_once(bins, key, factory) as binning:
        model = factory(**PARAMS).fit(X, y, **fit_params)
    return model, binning.how


def test_models_on_the_same_rows_copy_the_first_ones_bins_and_equal_fresh_fits(rows):
    X, y, w, weights = rows
    bins = BinsOfFit()
    fits = [
        (LGBMRegressor, y, {"sample_weight": weights}),  # the first builds: with weights
        (LGBMClassifier, w, {}),  # a copy must not inherit them
        (LGBMRegressor, y, {}),
        (LGBMRegressor, -y, {"sample_weight": weights[::-1].copy()}),
    ]
    for i, (factory, target, fit_params) in enumerate(fits):
        shared, how = _fit_in(bins, "rows", factory, X, target, **fit_params)
        fresh = factory(**PARAMS).fit(X, target, **fit_params)
        assert how == ("built" if i == 0 else "copied")
        assert _dump(shared) == _dump(fresh)
        np.testing.assert_array_equal(shared.predict(X), fresh.predict(X))


def test_other_rows_or_binning_parameters_build_their_own(rows):
    X, y, _, _ = rows
    bins = BinsOfFit()
    assert _fit_in(bins, "all", LGBMRegressor, X, y)[1] == "built"
    assert _fit_in(bins, "half", LGBMRegressor, X[:250], y[:250])[1] == "built"
    with binned_once(bins, "all", LGBMRegressor) as binning:
        coarse = LGBMRegressor(**PARAMS, max_bin=15).fit(X, y)
    assert binning.how == "built"
    assert _dump(coarse) == _dump(LGBMRegressor(**PARAMS, max_bin=15).fit(X, y))
    # threads are a training parameter: the bins are shared across thread counts
    with binned_once(bins, "all", LGBMRegressor) as binning:
        LGBMRegressor(**{**PARAMS, "n_jobs": 2}).fit(X, y)
    assert binning.how == "copied"


def test_only_lightgbm_inside_a_fit_is_touched(rows):
    X, y, _, _ = rows
    with binned_once(BinsOfFit(), "rows", LinearRegression) as binning:
        LinearRegression().fit(X, y)
    assert binning.how is None
    with binned_once(None, "rows", LGBMRegressor) as binning:  # worker processes: no sharing
        LGBMRegressor(**PARAMS).fit(X, y)
    assert binning.how is None
    # Outside binned_once LightGBM builds as always, even after the switch was installed.
    first = _fit_in(BinsOfFit(), "rows", LGBMRegressor, X, y)[0]
    assert _dump(LGBMRegressor(**PARAMS).fit(X, y)) == _dump(first)


def test_threads_needing_the_same_bins_wait_for_one_build(rows):
    X, y, w, _ = rows
    bins, results = BinsOfFit(), []

    def fit(factory, target):
        results.append((factory, target, *_fit_in(bins, "rows", factory, X, target)))

    threads = [threading.Thread(target=fit, args=(f, t)) for f, t in [(LGBMRegressor, y), (LGBMClassifier, w)] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert collections.Counter(how for *_, how in results) == {"built": 1, "copied": 5}
    for factory, target, model, _ in results:
        assert _dump(model) == _dump(factory(**PARAMS).fit(X, target))


@pytest.mark.parametrize(
    "learner,built,copied",
    [
        ("DR", 12, 4),  # the treatment model trains on the propensity model's rows and folds
        ("R", 4, 8),  # one treatment variant: all three models on the same rows and folds
        ("X", 12, 8),  # each effect model on its outcome model's rows and folds
    ],
)
def test_a_fit_shares_bins_where_models_train_on_the_same_rows(data_cache, learner, built, copied):
    data = data_cache(n=600, n_variants=2)

    def fit(backend):
        model = metalearner_factory(learner)(**learner_kwargs(learner, False, 2, base="lightgbm", n_jobs=1))
        with joblib.parallel_config(backend=backend):
            return model.fit(data.X, data.y, data.w, n_jobs_cross_fitting=2, n_jobs_base_learners=2)

    threads, processes = fit("threading"), fit("loky")
    # 3 folds + the overall model per model; which model builds first is up to the threads
    assert collections.Counter(r.bins for r in threads.fit_trace_) == {"built": built, "copied": copied}
    assert all(r.bins is None for r in processes.fit_trace_)  # each worker process bins its own
    for is_oos in (True, False):
        np.testing.assert_array_equal(threads.predict(data.X, is_oos=is_oos), processes.predict(data.X, is_oos=is_oos))


def test_bins_no_later_fit_needs_are_dropped(rows):
    X, y, _, _ = rows
    bins = BinsOfFit()
    _fit_in(bins, ("X", "fold 0"), LGBMRegressor, X, y)
    _fit_in(bins, ("X", "fold 1"), LGBMRegressor, X[:300], y[:300])
    bins.keep_only(lambda rows_key: rows_key == ("X", "fold 1"))
    assert _fit_in(bins, ("X", "fold 0"), LGBMRegressor, X, y)[1] == "built"  # dropped: binned again
    assert _fit_in(bins, ("X", "fold 1"), LGBMRegressor, X[:300], y[:300])[1] == "copied"


def test_models_differing_only_in_how_trees_grow_share_bins_and_equal_fresh_fits(rows):
    # What grid searches vary: iterations, learning rate, leaves, depth, regularisation.
    X, y, _, _ = rows
    bins = BinsOfFit()
    growth = [{}, {"n_estimators": 9}, {"learning_rate": 0.3}, {"num_leaves": 3, "max_depth": 2},
              {"reg_alpha": 0.5, "reg_lambda": 1.0, "min_split_gain": 0.01}]  # fmt: skip
    for i, extra in enumerate(growth):
        with binned_once(bins, "rows", LGBMRegressor) as binning:
            shared = LGBMRegressor(**{**PARAMS, **extra}).fit(X, y)
        assert binning.how == ("built" if i == 0 else "copied"), extra
        assert _dump(shared) == _dump(LGBMRegressor(**{**PARAMS, **extra}).fit(X, y)), extra
    # min_child_samples changes which features LightGBM keeps (feature_pre_filter): own bins
    with binned_once(bins, "rows", LGBMRegressor) as binning:
        LGBMRegressor(**PARAMS, min_child_samples=60).fit(X, y)
    assert binning.how == "built"
