"""The oversubscription guard: explicit settings asking for more threads than cores warn
once per fit, ``"limit"`` caps them with the same answer, ``"allow"`` runs them silently.

Settings are picked from the cores the library sees (joblib's ``cpu_count``, as the
plan counts them), so each test asks the same of a 2-core and a 64-core machine:
``n_jobs=cores`` per model with 2 fold x 2 stage workers is 2x2x2 on 2 cores.
"""

from __future__ import annotations

import warnings

import joblib
import numpy as np
import pytest
from lightgbm import LGBMRegressor

import metalearners_core
from metalearners_core import OversubscriptionWarning, config_context, get_config, metalearner_factory, set_config
from metalearners_core._execution import Plan
from metalearners_core._execution.oversubscription import ThreadGuard, limit_workers

from .conftest import learner_kwargs

CORES = joblib.cpu_count()


def _fit(data, model_n_jobs, folds, stage, backend="threading", learner="DR"):
    extra = {} if model_n_jobs is None else {"n_jobs": model_n_jobs}
    model = metalearner_factory(learner)(**learner_kwargs(learner, False, 2, base="lightgbm", **extra))
    with joblib.parallel_config(backend=backend):
        return model.fit(data.X, data.y, data.w, n_jobs_cross_fitting=folds, n_jobs_base_learners=stage)


def _caught(fit):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = fit()
    return model, [w for w in caught if issubclass(w.category, OversubscriptionWarning)]


def test_2x2x2_on_2_cores_warns_naming_the_product_and_the_cores():
    plan = Plan(fold_workers=2, stage_workers=2, model_threads=1, backend="processes", workers=4)
    guard = ThreadGuard(plan, cores=2, policy="warn")
    with pytest.warns(OversubscriptionWarning, match=r"8 threads in flight \(2 threads per model x 2 fold workers x 2 stage workers\) on 2 cores"):
        params = guard.params(LGBMRegressor, {"n_jobs": 2})
    assert params == {"n_jobs": 2}  # run as asked


def test_a_fit_warns_once_however_many_models_oversubscribe(data_cache):
    data = data_cache()
    first, caught = _caught(lambda: _fit(data, CORES, 2, 2))  # every DR model: n_jobs=cores
    assert len(caught) == 1
    assert f"{4 * CORES} threads in flight" in str(caught[0].message)
    assert f"on {CORES} cores" in str(caught[0].message)
    assert caught[0].filename == __file__  # it points at the user's code, not the library's
    _, again = _caught(lambda: _fit(data, CORES, 2, 2))
    assert len(again) == 1  # once per fit, not once per process
    assert {r.model_n_jobs for r in first.fit_trace_} == {CORES}  # "warn" runs as asked


@pytest.mark.skipif(CORES < 2, reason="two fold workers are already more than one core")
@pytest.mark.parametrize(
    "model_n_jobs, folds, stage",
    [
        (None, "auto", "auto"),  # the library's own split
        (None, 2, 1),  # the library sets cores // workers threads per model
        (CORES, 1, 1),  # the product equals the cores
        (CORES // 2, 2, 1),  # the product equals the cores (even core counts), or is below them
    ],
)
def test_the_librarys_own_choices_and_products_up_to_the_cores_are_silent(data_cache, model_n_jobs, folds, stage):
    data = data_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error", OversubscriptionWarning)
        _fit(data, model_n_jobs, folds, stage)


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_limit_keeps_threads_in_flight_at_the_cores_with_the_same_answer(data_cache, backend):
    data = data_cache()
    with config_context(oversubscription="allow"):
        unlimited = _fit(data, CORES, 2, 2, backend)
    with config_context(oversubscription="limit"):
        limited, caught = _caught(lambda: _fit(data, CORES, 2, 2, backend))
    assert caught == []
    assert unlimited.fit_plan_.workers * CORES > CORES  # the control does oversubscribe
    plan = limited.fit_plan_
    threads = {r.model_n_jobs for r in limited.fit_trace_}
    workers_used = {(r.pid, r.thread) for r in limited.fit_trace_}
    assert threads == {max(1, CORES // plan.workers)}  # threads per model reduced first
    assert plan.workers * max(threads) <= CORES
    assert len(workers_used) <= plan.workers <= CORES
    for is_oos in (True, False):
        np.testing.assert_allclose(limited.predict(data.X, is_oos=is_oos), unlimited.predict(data.X, is_oos=is_oos), rtol=1e-9, atol=1e-12)


def test_limit_reduces_stage_workers_then_fold_workers():
    plan = Plan(fold_workers=2, stage_workers=2, model_threads=1, backend="processes", workers=4)
    assert limit_workers(plan, cores=2) == Plan(2, 1, 1, "processes", 2)
    assert limit_workers(plan, cores=4) is plan
    assert limit_workers(Plan(4, 3, 1, "threads", 12), cores=8) == Plan(4, 2, 1, "threads", 8)
    assert limit_workers(Plan(4, 3, 1, "threads", 12), cores=3) == Plan(3, 1, 1, "threads", 3)
    assert limit_workers(plan, cores=1) == Plan(1, 1, 1, "sequential", 1)
    # a sequential backend runs one fit at a time, whatever the levels
    sequential = Plan(2, 2, 1, "sequential", 4)
    assert limit_workers(sequential, cores=2) is sequential


def test_limit_caps_every_thread_keyword_the_user_gave():
    plan = Plan(fold_workers=2, stage_workers=1, model_threads=1, backend="threads", workers=2)
    guard = ThreadGuard(plan, cores=2, policy="limit")
    assert guard.params(LGBMRegressor, {"num_threads": 4, "n_estimators": 5}) == {"num_threads": 1, "n_estimators": 5}
    assert guard.params(LGBMRegressor, {"n_jobs": -1}) == {"n_jobs": 1}  # -1: all cores, x 2 workers


def test_allow_runs_as_asked_silently(data_cache):
    data = data_cache()
    with config_context(oversubscription="allow"):
        model, caught = _caught(lambda: _fit(data, CORES, 2, 2))
    assert caught == []
    assert {r.model_n_jobs for r in model.fit_trace_} == {CORES}


def test_the_setting_is_validated_with_what_is_allowed():
    assert get_config()["oversubscription"] == "warn"
    for bad in ("cap", "Warn", 2, None):
        with pytest.raises(ValueError, match=rf"oversubscription={bad!r} is not allowed; choose one of 'warn', 'limit', 'allow'"):
            set_config(oversubscription=bad)
    with pytest.raises(ValueError, match="oversubscription='cap'"):
        with config_context(oversubscription="cap"):
            pass
    assert get_config()["oversubscription"] == "warn"
    assert issubclass(metalearners_core.OversubscriptionWarning, RuntimeWarning)
