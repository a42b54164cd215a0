"""Synthetic data: determinism, shapes, true CATE, the disk cache and cate_rmse."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import scenarios.cache as cache_module
import scenarios.data as data_module
from scenarios import DataSpec, Scenario, cate_rmse, generate, load_data
from scenarios.cache import cache_path, default_cache_dir
from scenarios.data import MAX_TEST_ROWS


def spec(**kw) -> DataSpec:
    return DataSpec(**{"n_rows": 600, "n_features": 6, "n_variants": 2, **kw})


def scenario(**kw) -> Scenario:
    base = dict(learner="DR", n_rows=600, n_variants=2, n_folds=2, base_model="lightgbm_small",
                n_features=6)
    return Scenario(**{**base, **kw})


ARRAYS = ("X", "y", "w", "cate", "X_test", "cate_test")


def assert_same(a, b) -> None:
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(a, name).dtype == getattr(b, name).dtype, name


# ------------------------------------------------------------------ generation


@pytest.mark.parametrize("outcome", ["continuous", "binary"])
@pytest.mark.parametrize("propensity", ["randomised", "confounded"])
def test_deterministic_by_seed(outcome, propensity):
    s = spec(outcome=outcome, propensity=propensity, effect="nonlinear", n_variants=3)
    assert_same(generate(s), generate(s))
    other = generate(spec(outcome=outcome, propensity=propensity, effect="nonlinear",
                          n_variants=3, seed=1))
    a = generate(s)
    for name in ("X", "cate", "X_test", "cate_test"):
        assert not np.array_equal(getattr(a, name), getattr(other, name)), name


def test_generate_accepts_scenario_spec_and_mappings():
    s = scenario()
    ref = generate(s)
    assert_same(ref, generate(s.data_spec))
    assert_same(ref, generate(s.data_spec.to_dict()))
    assert_same(ref, generate(s.to_dict()))
    with pytest.raises(TypeError, match="Scenario, DataSpec or mapping"):
        generate(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown DataSpec key"):
        generate({"n_rows": 600, "n_folds": 3})


@pytest.mark.parametrize("outcome", ["continuous", "binary"])
@pytest.mark.parametrize("n_variants", [2, 4])
def test_shapes_and_dtypes(outcome, n_variants):
    d = generate(spec(outcome=outcome, n_variants=n_variants, propensity="confounded"))
    n, p, k1 = 600, 6, n_variants - 1
    assert d.X.shape == (n, p) and d.X.dtype == np.float64
    assert d.y.shape == (n,)
    assert d.y.dtype == (np.int64 if outcome == "binary" else np.float64)
    assert d.w.shape == (n,) and d.w.dtype == np.int64
    assert d.cate.shape == (n, k1) and d.cate.dtype == np.float64
    assert d.X_test.shape == (n, p) and d.X_test.dtype == np.float64
    assert d.cate_test.shape == (n, k1)
    assert (d.n_rows, d.n_features, d.n_variants) == (n, p, n_variants)
    assert d.is_classification == (outcome == "binary")
    assert d.key == d.spec.key
    for name in ARRAYS:
        assert getattr(d, name).flags.c_contiguous, name
        assert np.isfinite(getattr(d, name)).all(), name


def test_test_set_is_capped(monkeypatch):
    monkeypatch.setattr(data_module, "MAX_TEST_ROWS", 250)
    d = generate(spec())
    assert d.X_test.shape == (250, 6) and d.cate_test.shape == (250, 1)
    assert MAX_TEST_ROWS == 20_000


@pytest.mark.parametrize("propensity", ["randomised", "confounded"])
@pytest.mark.parametrize("outcome", ["continuous", "binary"])
def test_every_variant_present_even_when_tiny(propensity, outcome):
    d = generate(DataSpec(n_rows=100, n_features=3, n_variants=20, propensity=propensity,
                          outcome=outcome))
    assert set(np.unique(d.w)) == set(range(20))
    if outcome == "binary":
        for v in range(20):
            rows = d.w == v
            if rows.sum() >= 2:
                assert set(np.unique(d.y[rows])) == {0, 1}, v


def test_randomised_is_balanced():
    d = generate(spec(n_rows=1000, n_variants=3))
    assert np.bincount(d.w).tolist() == [334, 333, 333]


def test_binary_outcome_and_cate_range():
    d = generate(spec(outcome="binary", n_variants=3, effect="nonlinear"))
    assert set(np.unique(d.y)) == {0, 1}
    assert np.all(np.abs(d.cate) < 1) and np.all(np.abs(d.cate_test) < 1)


def test_confounded_treatment_depends_on_x():
    d = generate(DataSpec(n_rows=20_000, n_features=3, n_variants=2, propensity="confounded"))
    # Logistic-type dependence on the first features: the treated and control groups
    # differ in their feature means, the randomised design does not.
    gap = np.abs(d.X[d.w == 1].mean(0) - d.X[d.w == 0].mean(0)).max()
    assert gap > 0.05
    r = generate(DataSpec(n_rows=20_000, n_features=3, n_variants=2))
    assert np.abs(r.X[r.w == 1].mean(0) - r.X[r.w == 0].mean(0)).max() < 0.05


def test_confounded_propensity_floor():
    d = generate(DataSpec(n_rows=50_000, n_features=5, n_variants=4, propensity="confounded"))
    share = np.bincount(d.w, minlength=4) / d.n_rows
    assert share.min() > 0.05


@pytest.mark.parametrize("outcome", ["continuous", "binary"])
def test_constant_effect_gives_constant_cate(outcome):
    d = generate(spec(effect="constant", n_variants=3))
    np.testing.assert_allclose(d.cate, np.broadcast_to([0.5, 1.0], d.cate.shape))
    np.testing.assert_allclose(d.cate_test, np.broadcast_to([0.5, 1.0], d.cate_test.shape))
    if outcome == "binary":
        b = generate(spec(effect="constant", n_variants=3, outcome="binary"))
        assert b.cate.std(axis=0).min() > 0  # probability scale varies with mu0(X)
        assert np.all(b.cate > 0)


def test_linear_effect_is_linear_in_first_features():
    d = generate(spec(n_features=8, effect="linear", n_variants=3))
    design = np.column_stack([np.ones(d.n_rows), d.X])
    coef, *_ = np.linalg.lstsq(design, d.cate, rcond=None)
    np.testing.assert_allclose(design @ coef, d.cate, atol=1e-10)
    np.testing.assert_allclose(coef[0], [0.5, 1.0], atol=1e-10)  # intercepts c_k
    assert np.all(np.abs(coef[1:6]) > 0)  # sparse: the first five features only
    np.testing.assert_allclose(coef[6:], 0.0, atol=1e-10)


def test_nonlinear_effect_is_not_linear():
    d = generate(spec(n_features=8, effect="nonlinear"))
    design = np.column_stack([np.ones(d.n_rows), d.X])
    coef, *_ = np.linalg.lstsq(design, d.cate, rcond=None)
    assert np.abs(design @ coef - d.cate).max() > 0.1


def test_single_feature_works():
    for effect in ("constant", "linear", "nonlinear"):
        d = generate(DataSpec(n_rows=200, n_features=1, effect=effect, propensity="confounded"))
        assert d.X.shape == (200, 1) and np.isfinite(d.cate).all()


def test_functions_do_not_depend_on_n_rows():
    small, large = generate(spec(n_rows=500)), generate(spec(n_rows=900))
    np.testing.assert_array_equal(small.X_test, large.X_test[:500])
    np.testing.assert_array_equal(small.cate_test, large.cate_test[:500])


@pytest.mark.parametrize("effect", ["constant", "linear", "nonlinear"])
def test_continuous_mean_difference_approximates_ate(effect):
    d = generate(DataSpec(n_rows=30_000, n_features=4, n_variants=3, effect=effect))
    control = d.y[d.w == 0].mean()
    for k in (1, 2):
        diff = d.y[d.w == k].mean() - control
        assert diff == pytest.approx(d.cate[:, k - 1].mean(), abs=0.08)


def test_binary_mean_difference_approximates_ate():
    d = generate(DataSpec(n_rows=30_000, n_features=4, n_variants=2, outcome="binary"))
    diff = d.y[d.w == 1].mean() - d.y[d.w == 0].mean()
    assert diff == pytest.approx(d.cate[:, 0].mean(), abs=0.03)


# ------------------------------------------------------------------ cache


def test_cache_hit_returns_identical_arrays_without_regenerating(tmp_path, monkeypatch):
    s = scenario(outcome="binary", n_variants=3)
    first = load_data(s, tmp_path)
    path = cache_path(s, tmp_path)
    assert path.is_file() and path.name == f"{s.data_key}.npz"
    mtime = path.stat().st_mtime_ns

    def boom(*_args, **_kwargs):
        raise AssertionError("regenerated despite a cached file")

    monkeypatch.setattr(cache_module, "generate", boom)
    second = load_data(s, tmp_path)
    assert_same(first, second)
    assert second.spec == s.data_spec
    assert path.stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left


def test_cache_is_shared_by_learners_folds_and_models(tmp_path, monkeypatch):
    load_data(scenario(), tmp_path)
    monkeypatch.setattr(cache_module, "generate", lambda *_: pytest.fail("regenerated"))
    load_data(scenario(learner="T", n_folds=5, base_model="linear"), tmp_path)
    assert len(list(tmp_path.iterdir())) == 1


def test_cached_equals_generated(tmp_path):
    s = scenario(propensity="confounded", effect="nonlinear")
    load_data(s, tmp_path)
    assert_same(load_data(s, tmp_path), generate(s))


def test_damaged_cache_file_is_regenerated(tmp_path):
    s = scenario()
    path = cache_path(s, tmp_path)
    path.write_bytes(b"not a zip file")
    assert_same(load_data(s, tmp_path), generate(s))
    assert_same(load_data(s, tmp_path), generate(s))


def test_cache_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    load_data(scenario())
    assert cache_path(scenario()).parent == tmp_path / "env"
    assert cache_path(scenario()).is_file()


def test_default_cache_dir_in_repo(monkeypatch):
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    assert default_cache_dir().name == "data"


def test_concurrent_loads_agree(tmp_path):
    s = scenario(n_rows=2000)
    results: list = []
    errors: list = []

    def work() -> None:
        try:
            results.append(load_data(s, tmp_path))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for r in results[1:]:
        assert_same(results[0], r)
    assert os.listdir(tmp_path) == [f"{s.data_key}.npz"]


# ------------------------------------------------------------------ cate_rmse


def test_cate_rmse_shapes():
    truth = np.array([[1.0, 2.0], [3.0, 4.0]])
    pred3 = (truth + np.array([[1.0, -1.0], [1.0, -1.0]]))[:, :, None]
    assert cate_rmse(pred3, truth) == pytest.approx(1.0)
    two = np.stack([np.zeros_like(truth), truth + 2.0], axis=2)  # positive class used
    assert cate_rmse(two, truth) == pytest.approx(2.0)
    assert cate_rmse(truth, truth) == 0.0
    assert cate_rmse(np.array([1.0, 2.0]), np.array([[1.0], [4.0]])) == pytest.approx(np.sqrt(2))


def test_cate_rmse_rejects_bad_shapes():
    truth = np.zeros((4, 2))
    with pytest.raises(ValueError, match="3 outputs"):
        cate_rmse(np.zeros((4, 2, 3)), truth)
    with pytest.raises(ValueError, match="must match"):
        cate_rmse(np.zeros((4, 1, 1)), truth)
    with pytest.raises(ValueError, match="expected"):
        cate_rmse(np.zeros((4, 2, 1, 1)), truth)


def test_cate_rmse_of_truth_on_generated_data():
    d = generate(spec(n_variants=3))
    assert cate_rmse(d.cate_test[:, :, None], d.cate_test) == 0.0
    assert cate_rmse(np.zeros_like(d.cate_test)[:, :, None], d.cate_test) > 0.1
