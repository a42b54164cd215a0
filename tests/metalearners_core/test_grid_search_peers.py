"""MetaLearnerGridSearch side by side with metalearners.grid_search (the `peers` extra).

The same grid on the same data and seed: the same rows in the same order, the same
index and columns (core adds ``shared_fit_time``), and the same scores, since every
grid point's learner is fitted on the package's folds.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

import metalearners_core

from .conftest import make_data

if os.environ.get("REQUIRE_PEERS"):
    import metalearners  # noqa: F401  (CI must run this module, never skip it)
else:
    pytest.importorskip("metalearners")

pytestmark = pytest.mark.peers

LGBM = {"n_estimators": [3, 6], "verbose": [-1]}
GRIDS = {
    "DR": (
        {"variant_outcome_model": [LinearRegression, LGBMRegressor], "propensity_model": [LogisticRegression, LGBMClassifier],
         "treatment_model": [LGBMRegressor]},
        {"variant_outcome_model": {"LGBMRegressor": LGBM}, "propensity_model": {"LGBMClassifier": {"n_estimators": [4], "verbose": [-1]}},
         "treatment_model": {"LGBMRegressor": LGBM}},
    ),
    "X": (
        {"variant_outcome_model": [LGBMRegressor], "propensity_model": [LogisticRegression],
         "control_effect_model": [LinearRegression, LGBMRegressor], "treatment_effect_model": [LGBMRegressor]},
        {"variant_outcome_model": {"LGBMRegressor": LGBM}, "control_effect_model": {"LGBMRegressor": LGBM},
         "treatment_effect_model": {"LGBMRegressor": {"n_estimators": [3], "verbose": [-1]}}},
    ),
    "R": (
        {"outcome_model": [LinearRegression, LGBMRegressor], "propensity_model": [LogisticRegression], "treatment_model": [LGBMRegressor]},
        {"outcome_model": {"LGBMRegressor": LGBM}, "treatment_model": {"LGBMRegressor": LGBM}},
    ),
    "T": ({"variant_outcome_model": [LinearRegression, LGBMRegressor]}, {"variant_outcome_model": {"LGBMRegressor": LGBM}}),
}  # fmt: skip


@pytest.mark.parametrize("learner", list(GRIDS))
def test_results_are_the_packages(learner):
    from metalearners.grid_search import MetaLearnerGridSearch as PackageGridSearch
    from metalearners.utils import metalearner_factory as package_factory

    train, test = make_data(800, 5, 3, binary=False, seed=11), make_data(300, 5, 3, binary=False, seed=12)
    data = (train.X, train.y, train.w, test.X, test.y, test.w)
    base_learner_grid, param_grid = GRIDS[learner]
    params = {"is_classification": False, "n_variants": 3, "n_folds": 3}
    ours = metalearners_core.MetaLearnerGridSearch(
        metalearners_core.metalearner_factory(learner), params, base_learner_grid, param_grid, random_state=5
    ).fit(*data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn deprecation noise from the package
        theirs = PackageGridSearch(package_factory(learner), params, base_learner_grid, param_grid, random_state=5)
        theirs.fit(*data)  # the package's fit returns None

    assert ours.grid_size_ == theirs.grid_size_ == len(ours.results_) == len(theirs.results_)
    assert ours.results_.index.names == theirs.results_.index.names
    pd.testing.assert_index_equal(ours.results_.index, theirs.results_.index)
    package_columns = list(theirs.results_.columns)
    assert list(ours.results_.columns) == [package_columns[0], "shared_fit_time", *package_columns[1:]]
    scores = [c for c in package_columns if c.startswith(("train_", "test_"))]
    assert scores
    np.testing.assert_allclose(ours.results_[scores].to_numpy(), theirs.results_[scores].to_numpy(), rtol=1e-6, atol=1e-9)
