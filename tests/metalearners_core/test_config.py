"""The caller's scikit-learn config reaches every base model's fit on every backend;
the library's own settings (set_config / config_context) and the LightGBM guard."""

from __future__ import annotations

import os
import warnings

import joblib
import numpy as np
import pytest
import sklearn

import metalearners_core
from metalearners_core import DRLearner, config_context, get_config, set_config
from metalearners_core import _lightgbm_bins

from ._config_probe import EXPECTED_WORKING_MEMORY, ProbeClassifier, ProbeRegressor
from .conftest import learner_kwargs


def _data(n: int = 300):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    w = rng.integers(0, 2, n)
    return X, X[:, 0] + w * X[:, 1] + rng.normal(size=n), w


def _probe_learner() -> DRLearner:
    return DRLearner(
        nuisance_model_factory=ProbeRegressor,
        propensity_model_factory=ProbeClassifier,
        treatment_model_factory=ProbeRegressor,
        is_classification=False,
        n_variants=2,
        n_folds=2,
    )


@pytest.mark.parametrize(
    "backend, levels",
    [("sequential", (1, 1)), ("threading", (2, 2)), ("loky", (2, 2)), (None, ("auto", "auto"))],
)
def test_the_callers_sklearn_config_reaches_every_base_model(backend, levels):
    X, y, w = _data()
    folds, stage = levels
    backend_context = joblib.parallel_config(backend=backend) if backend else warnings.catch_warnings()
    with backend_context:
        with pytest.raises(RuntimeError, match="working_memory"):  # control: the probe does check
            _probe_learner().fit(X, y, w, n_jobs_cross_fitting=folds, n_jobs_base_learners=stage)
        with sklearn.config_context(working_memory=EXPECTED_WORKING_MEMORY):
            learner = _probe_learner().fit(X, y, w, n_jobs_cross_fitting=folds, n_jobs_base_learners=stage)
    # every fit ran and passed the probe: 3 nuisance models + 1 treatment model, 2 folds + overall each
    assert len(learner.fit_trace_) == 12
    if backend == "loky":
        assert os.getpid() not in {r.pid for r in learner.fit_trace_}  # they ran in worker processes


def test_set_config_validates_and_config_context_restores():
    assert get_config() == {"share_lightgbm_bins": True, "oversubscription": "warn", "predict_split": "both"}
    with pytest.raises(ValueError, match="unknown setting 'share_bins'"):
        set_config(share_bins=False)
    with pytest.raises(TypeError, match="share_lightgbm_bins='no'"):
        set_config(share_lightgbm_bins="no")
    with config_context(share_lightgbm_bins=False):
        assert get_config()["share_lightgbm_bins"] is False
    assert get_config()["share_lightgbm_bins"] is True
    assert metalearners_core.set_config is set_config


def _lightgbm_dr(data):
    return DRLearner(**learner_kwargs("DR", False, 2, base="lightgbm"))


def test_sharing_switched_off_builds_every_dataset_with_the_same_models(data_cache):
    data = data_cache(n=600, n_variants=2)
    with joblib.parallel_config(backend="threading"):
        shared = _lightgbm_dr(data).fit(data.X, data.y, data.w, n_jobs_cross_fitting=2, n_jobs_base_learners=2)
        with config_context(share_lightgbm_bins=False):
            plain = _lightgbm_dr(data).fit(data.X, data.y, data.w, n_jobs_cross_fitting=2, n_jobs_base_learners=2)
    assert "copied" in {r.bins for r in shared.fit_trace_}
    assert {r.bins for r in plain.fit_trace_} == {None}  # nothing shared, nothing kept
    np.testing.assert_array_equal(shared.predict(data.X, is_oos=True), plain.predict(data.X, is_oos=True))


def test_a_lightgbm_without_the_private_attributes_falls_back_with_one_warning(data_cache, monkeypatch):
    data = data_cache(n=600, n_variants=2)
    monkeypatch.setattr(_lightgbm_bins, "_DATASET_ATTRIBUTES", (*_lightgbm_bins._DATASET_ATTRIBUTES, "_no_such_attribute"))
    _lightgbm_bins._supported.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught, joblib.parallel_config(backend="threading"):
            warnings.simplefilter("always")
            first = _lightgbm_dr(data).fit(data.X, data.y, data.w, n_jobs_cross_fitting=2)
            second = _lightgbm_dr(data).fit(data.X, data.y, data.w, n_jobs_cross_fitting=2)
        ours = [w for w in caught if "_no_such_attribute" in str(w.message)]
        assert len(ours) == 1  # once per process, not per fit
        assert {r.bins for r in first.fit_trace_ + second.fit_trace_} == {None}
    finally:
        monkeypatch.undo()  # the real attribute list again, before the check is cached anew
        _lightgbm_bins._supported.cache_clear()
    assert _lightgbm_bins._supported()
    with joblib.parallel_config(backend="threading"):
        reference = _lightgbm_dr(data).fit(data.X, data.y, data.w, n_jobs_cross_fitting=2)
    np.testing.assert_array_equal(first.predict(data.X, is_oos=True), reference.predict(data.X, is_oos=True))
