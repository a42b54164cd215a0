"""The synthetic-data helpers (`data_generation`, `outcome_functions`) equal the package's.

Every public function is called twice with generators of the same seed, once in
core and once in ``metalearners`` 0.13 (the `peers` extra): the arrays must be equal
bit for bit, and both generators must end in the same state (the same draws were
consumed, so what a caller draws next is the same too). Bad inputs raise the
package's exception type with the package's message first.
"""

from __future__ import annotations

import inspect
import os
import warnings

import numpy as np
import pandas as pd
import pytest

import metalearners_core
import metalearners_core.utils
from metalearners_core import data_generation as core_dg
from metalearners_core import outcome_functions as core_of
from metalearners_core._synthetic_utils import get_linear_dimension

SEEDS = [0, 1, 2024]
peers = pytest.mark.peers


@pytest.fixture(scope="module")
def pkg():
    """The package's two modules, as ``pkg.dg`` and ``pkg.of``."""
    if not os.environ.get("REQUIRE_PEERS"):  # CI must run these, never skip them
        pytest.importorskip("metalearners")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from metalearners import data_generation, outcome_functions
    return type("Package", (), {"dg": data_generation, "of": outcome_functions})


def _both(core_fn, pkg_fn, seed: int, **kwargs):
    """Each function's result and its generator's state after the call."""
    core_rng, pkg_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    ours = core_fn(**kwargs, rng=core_rng)
    theirs = pkg_fn(**kwargs, rng=pkg_rng)
    assert core_rng.bit_generator.state == pkg_rng.bit_generator.state, "different draws"
    return ours, theirs


def _assert_identical(ours, theirs) -> None:
    """Same type, dtype, shape and bits (NaN equal to NaN), recursively through tuples."""
    assert type(ours) is type(theirs), (type(ours), type(theirs))
    if isinstance(ours, tuple | list):
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _assert_identical(a, b)
    elif isinstance(ours, pd.DataFrame):
        pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    elif isinstance(ours, np.ndarray):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs, strict=True)
    else:
        assert ours == theirs


def _public_functions(module) -> dict:
    return {
        name: fn
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if not name.startswith("_") and fn.__module__ == module.__name__
    }


# --------------------------------------------------------------------------- API


@peers
@pytest.mark.parametrize("module", ["dg", "of"])
def test_same_public_functions_and_signatures(pkg, module):
    core_module = {"dg": core_dg, "of": core_of}[module]
    theirs = _public_functions(getattr(pkg, module))
    ours = _public_functions(core_module)
    assert sorted(ours) == sorted(theirs)
    for name, fn in theirs.items():
        expected = [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]
        actual = [(p.name, p.kind, p.default) for p in inspect.signature(ours[name]).parameters.values()]
        assert actual == expected, name


@peers
def test_exported_from_the_same_places_as_the_package(pkg):
    import metalearners
    import metalearners.utils

    names = [*_public_functions(pkg.dg), *_public_functions(pkg.of)]
    for name in names:
        assert hasattr(metalearners_core, name) == hasattr(metalearners, name), name
        assert hasattr(metalearners_core.utils, name) == hasattr(metalearners.utils, name), name


# --------------------------------------------------------------------------- features


@peers
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"n_categories": 4},
        {"n_categories": np.array([2, 3, 5, 9, 12])},
        {"n_uniform": 0, "p_binomial": 0.3},
        {"n_uniform": 2, "p_binomial": 0.8, "n_categories": 6},
        {"use_strings": True},
        {"n_uniform": 3, "use_strings": True},
    ],
)
def test_generate_categoricals(pkg, seed, kwargs):
    ours, theirs = _both(
        core_dg.generate_categoricals, pkg.dg.generate_categoricals, seed,
        n_obs=50, n_features=5, **kwargs,
    )
    _assert_identical(ours, theirs)


@peers
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"mu": 2.5},
        {"mu": np.array([0.0, -1.0, 3.0, 10.0])},
        {"wishart_scale": 0},
        {"wishart_scale": 2.5, "mu": 1.0},
    ],
)
def test_generate_numericals(pkg, seed, kwargs):
    ours, theirs = _both(
        core_dg.generate_numericals, pkg.dg.generate_numericals, seed,
        n_obs=40, n_features=4, **kwargs,
    )
    _assert_identical(ours, theirs)


@peers
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("format", ["pandas", "numpy"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_features": 4},
        {"n_features": 6, "n_categoricals": 2},
        {"n_features": 3, "n_categoricals": 3, "n_categories": 5},
        {"n_features": 5, "n_categoricals": 3, "n_uniform": 1, "p_binomial": 0.2, "mu": 0.0},
        {"n_features": 5, "n_categoricals": 2, "wishart_scale": 0, "n_categories": np.array([3, 7])},
    ],
)
def test_generate_covariates(pkg, seed, format, kwargs):
    ours, theirs = _both(
        core_dg.generate_covariates, pkg.dg.generate_covariates, seed,
        n_obs=60, format=format, **kwargs,
    )
    _assert_identical(ours, theirs)


@peers
@pytest.mark.parametrize("seed", SEEDS)
def test_generate_covariates_with_string_categories(pkg, seed):
    ours, theirs = _both(
        core_dg.generate_covariates, pkg.dg.generate_covariates, seed,
        n_obs=60, n_features=4, n_categoricals=2, use_strings=True,
    )
    _assert_identical(ours, theirs)
    assert list(ours[0][3].cat.categories) == [str(c) for c in range(ours[2][1])]


@peers
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("missing_probability", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("as_frame", [False, True])
def test_insert_missing(pkg, seed, missing_probability, as_frame):
    X = np.random.default_rng(99).normal(size=(30, 4))
    X = pd.DataFrame(X) if as_frame else X
    ours, theirs = _both(
        core_dg.insert_missing, pkg.dg.insert_missing, seed,
        X=X, missing_probability=missing_probability,
    )
    _assert_identical(ours, theirs)
    assert not np.isnan(np.asarray(X)).any(), "the input must be left untouched"


# --------------------------------------------------------------------------- treatment, outcomes


def _propensities(shape: str) -> np.ndarray | pd.Series | pd.DataFrame:
    p = np.random.default_rng(5).uniform(0.1, 0.9, size=80)
    three = np.random.default_rng(6).dirichlet([2.0, 1.0, 1.0], size=80)
    return {
        "vector": p,
        "column": p.reshape(-1, 1),
        "two columns": np.c_[1 - p, p],
        "three variants": three,
        "series": pd.Series(p),
        "frame": pd.DataFrame(three),
    }[shape]


@peers
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "shape", ["vector", "column", "two columns", "three variants", "series", "frame"]
)
def test_generate_treatment(pkg, seed, shape):
    ours, theirs = _both(
        core_dg.generate_treatment, pkg.dg.generate_treatment, seed,
        propensity_scores=_propensities(shape),
    )
    _assert_identical(ours, theirs)


def _potential_outcomes(n_variants: int) -> np.ndarray:
    return np.random.default_rng(11).normal(size=(70, n_variants))


def _treatment(n_variants: int) -> np.ndarray:
    return np.arange(70) % n_variants


@peers
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "n_variants, kwargs",
    [
        (2, {}),
        (3, {"sigma_y": 0.2, "sigma_tau": 0.0}),
        (4, {"n_variants": 4, "sigma_tau": 1.5}),
        (2, {"treatment_as_series": True}),
        (2, {"is_classification": True}),
        (2, {"is_classification": True, "positive_proportion": 0.2}),
        (2, {"is_classification": True, "return_probability_cate": True, "sigma_y": 0.5}),
    ],
)
def test_compute_experiment_outputs(pkg, seed, n_variants, kwargs):
    kwargs = dict(kwargs)
    treatment = _treatment(n_variants)
    if kwargs.pop("treatment_as_series", False):
        treatment = pd.Series(treatment)
    ours, theirs = _both(
        core_dg.compute_experiment_outputs, pkg.dg.compute_experiment_outputs, seed,
        mu=_potential_outcomes(n_variants), treatment=treatment, **kwargs,
    )
    _assert_identical(ours, theirs)


def _features(kind: str) -> np.ndarray | pd.DataFrame:
    X, _, _ = core_dg.generate_covariates(
        40, 5, n_categoricals=0 if kind == "numerical" else 2,
        format="numpy" if kind == "numerical" else "pandas",
        rng=np.random.default_rng(3),
    )
    return X


@peers
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", ["numerical", "categorical"])
@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("constant_treatment_effect", {"tau": 2.0}),
        ("constant_treatment_effect", {"tau": np.array([0.5, -1.0, 3.0]), "ulow": -2, "uhigh": 2}),
        ("no_treatment_effect", {}),
        ("no_treatment_effect", {"n_variants": 4, "uhigh": 5}),
        ("linear_treatment_effect", {}),
        ("linear_treatment_effect", {"n_variants": 3, "ulow": -1, "uhigh": 1}),
    ],
)
def test_outcome_functions(pkg, seed, kind, name, kwargs):
    X = _features(kind)
    ours, theirs = _both(
        getattr(core_of, name), getattr(pkg.of, name), seed,
        dim=get_linear_dimension(X), **kwargs,
    )
    _assert_identical(ours(X), theirs(X))


# --------------------------------------------------------------------------- bad input

_P = np.full(10, 0.5)

BAD_INPUTS = [
    ("dg", "generate_categoricals", {"n_obs": 5, "n_features": 2, "p_binomial": 0.0}),
    ("dg", "generate_categoricals", {"n_obs": 5, "n_features": 2, "p_binomial": 1.0}),
    ("dg", "generate_categoricals", {"n_obs": 5, "n_features": 2, "p_binomial": np.nan}),
    ("dg", "generate_numericals", {"n_obs": 5, "n_features": 2, "wishart_scale": -1}),
    ("dg", "generate_covariates", {"n_obs": 5, "n_features": 2, "format": "polars"}),
    ("dg", "generate_covariates", {"n_obs": 5, "n_features": 2, "format": "numpy", "use_strings": True}),
    ("dg", "insert_missing", {"X": np.ones((3, 2)), "missing_probability": -0.1}),
    ("dg", "insert_missing", {"X": np.ones((3, 2)), "missing_probability": 1.0}),
    ("dg", "generate_treatment", {"propensity_scores": np.r_[_P, 1.0]}),
    ("dg", "generate_treatment", {"propensity_scores": np.r_[_P, 0.0]}),
    ("dg", "generate_treatment", {"propensity_scores": np.r_[_P, np.nan]}),
    ("dg", "generate_treatment", {"propensity_scores": np.full((10, 3), 0.3)}),
    ("dg", "generate_treatment", {"propensity_scores": np.full((4, 2, 2), 0.5)}),
    ("dg", "compute_experiment_outputs", {"mu": np.zeros((4, 3)), "treatment": np.array([0, 1, 0, 1])}),
    ("dg", "compute_experiment_outputs", {"mu": np.zeros((3, 3)), "treatment": np.arange(3), "is_classification": True}),
    ("of", "no_treatment_effect", {"dim": 3, "n_variants": 1}),
    ("of", "linear_treatment_effect", {"dim": 3, "n_variants": 0}),
]


@peers
@pytest.mark.parametrize("module, name, kwargs", BAD_INPUTS, ids=lambda v: v if isinstance(v, str) else "")
def test_bad_inputs_raise_the_package_error(pkg, module, name, kwargs):
    core_module = {"dg": core_dg, "of": core_of}[module]
    with pytest.raises(Exception) as theirs:
        getattr(getattr(pkg, module), name)(**kwargs, rng=np.random.default_rng(0))
    with pytest.raises(type(theirs.value)) as ours:
        getattr(core_module, name)(**kwargs, rng=np.random.default_rng(0))
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value).startswith(str(theirs.value)), (str(ours.value), str(theirs.value))


def test_bad_probability_names_the_value_and_the_allowed_range():
    with pytest.raises(ValueError, match=r"Got p_binomial=1.5; allowed: 0 < p_binomial < 1"):
        core_dg.generate_categoricals(5, 2, p_binomial=1.5, rng=np.random.default_rng(0))


# --------------------------------------------------------------------------- core alone


@pytest.mark.parametrize("n_variants", [2, 3])
def test_an_experiment_recovers_the_constant_effect(n_variants):
    """The documented workflow: covariates, potential outcomes, treatment, outcomes."""
    rng = np.random.default_rng(0)
    X, categorical_idx, n_categories = core_dg.generate_covariates(
        200, 5, n_categoricals=2, rng=rng
    )
    assert categorical_idx == [3, 4] and n_categories.shape == (2,)
    tau = np.arange(1, n_variants, dtype=np.float64)
    mu = core_of.constant_treatment_effect(get_linear_dimension(X), tau, rng=rng)(X)
    w = core_dg.generate_treatment(np.full((200, n_variants), 1 / n_variants), rng=rng)
    y, true_cate = core_dg.compute_experiment_outputs(mu, w, n_variants=n_variants, rng=rng)
    assert mu.shape == (200, n_variants) and y.shape == (200,)
    np.testing.assert_allclose(true_cate, np.broadcast_to(tau, (200, n_variants - 1)))
    assert set(np.unique(w)) == set(range(n_variants))


def test_without_a_generator_the_draws_differ_but_shapes_hold():
    first = core_dg.generate_numericals(10, 3)
    second = core_dg.generate_numericals(10, 3)
    assert first.shape == second.shape == (10, 3) and not np.array_equal(first, second)
