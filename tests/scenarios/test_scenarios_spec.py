"""Scenario / DataSpec validation, ids and (de)serialisation."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from scenarios import DataSpec, Scenario, load_preset

CENTRE = dict(learner="DR", n_rows=50_000, n_variants=2, n_folds=5, base_model="lightgbm")
# Hard-coded on purpose: a change to the id scheme or its hashing must be deliberate
# (it orphans stored results and cached data).
CENTRE_ID = "DR-50k-f20-v2-k5-lightgbm-cont-lin-rand-s0-513b0a"
CENTRE_DATA_KEY = "data-50k-f20-v2-cont-lin-rand-s0-g1-00619c"


def test_defaults():
    s = Scenario(**CENTRE)
    assert (s.n_features, s.outcome, s.effect, s.propensity, s.seed) == (
        20,
        "continuous",
        "linear",
        "randomised",
        0,
    )
    assert not s.is_classification


def test_frozen():
    s = Scenario(**CENTRE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.n_rows = 10  # type: ignore[misc]


def test_keyword_only():
    with pytest.raises(TypeError):
        Scenario("DR", 50_000, 2, 5, "lightgbm")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value", "error", "allowed"),
    [
        ("learner", "Q", ValueError, "S, T, X, R, DR"),
        ("learner", "dr", ValueError, "S, T, X, R, DR"),
        ("learner", 1, TypeError, "S, T, X, R, DR"),
        ("n_rows", 99, ValueError, ">= 100"),
        ("n_rows", 1000.0, TypeError, "int"),
        ("n_rows", True, TypeError, "int"),
        ("n_rows", "5000", TypeError, "int"),
        ("n_features", 0, ValueError, ">= 1"),
        ("n_features", False, TypeError, "int"),
        ("n_variants", 1, ValueError, ">= 2"),
        ("n_variants", 21, ValueError, "<= 20"),
        ("n_variants", True, TypeError, "int"),
        ("n_folds", 1, ValueError, ">= 2"),
        ("n_folds", 2.5, TypeError, "int"),
        ("base_model", "xgboost", ValueError, "lightgbm"),
        ("base_model", None, TypeError, "random_forest"),
        ("outcome", "count", ValueError, "continuous, binary"),
        ("effect", "quadratic", ValueError, "constant, linear, nonlinear"),
        ("propensity", "random", ValueError, "randomised, confounded"),
        ("seed", -1, ValueError, ">= 0"),
        ("seed", 1.0, TypeError, "int"),
    ],
)
def test_validation_names_field_value_and_allowed(field, value, error, allowed):
    with pytest.raises(error) as info:
        Scenario(**{**CENTRE, field: value})
    message = str(info.value)
    assert f"{field}={value!r}" in message
    assert allowed in message


def test_learner_message_is_exact():
    with pytest.raises(ValueError, match=r"^learner='Q' is not allowed; choose one of S, T, X, R, DR$"):
        Scenario(**{**CENTRE, "learner": "Q"})


def test_numpy_ints_are_accepted_and_normalised():
    s = Scenario(**{**CENTRE, "n_rows": np.int64(1000), "seed": np.int32(3)})
    assert type(s.n_rows) is int and type(s.seed) is int
    assert s == Scenario(**{**CENTRE, "n_rows": 1000, "seed": 3})


def test_replace_validates():
    s = Scenario(**CENTRE)
    assert s.replace(learner="T").learner == "T"
    with pytest.raises(ValueError, match="n_folds=0"):
        s.replace(n_folds=0)


def test_id_hard_coded():
    s = Scenario(**CENTRE)
    assert s.id == CENTRE_ID
    assert s.data_key == CENTRE_DATA_KEY


def test_id_stable_across_processes():
    code = (
        "from scenarios import Scenario;"
        f"s = Scenario(**{CENTRE!r});"
        "print(s.id); print(s.data_key)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [CENTRE_ID, CENTRE_DATA_KEY]


@pytest.mark.parametrize(
    ("n_rows", "part"), [(50_000, "-50k-"), (1_000_000, "-1M-"), (12_345, "-12345-"), (1500, "-1500-")]
)
def test_id_row_formatting(n_rows, part):
    assert part in Scenario(**{**CENTRE, "n_rows": n_rows}).id


def test_ids_unique_in_default_preset():
    scenarios = load_preset("default")
    ids = [s.id for s in scenarios]
    assert len(set(ids)) == len(ids)


def test_every_field_changes_the_id():
    base = Scenario(**CENTRE)
    changes = dict(
        learner="T",
        n_rows=60_000,
        n_variants=3,
        n_folds=4,
        base_model="random_forest",
        n_features=10,
        outcome="binary",
        effect="constant",
        propensity="confounded",
        seed=1,
        model_params={"n_estimators": 7},
        nuisance_model={"model": "lightgbm_small"},
        propensity_model={"model": "lightgbm_small"},
        treatment_model={"model": "lightgbm_small"},
    )
    # data (a file instead of synthetic data) changes the id's form: tests/scenarios/test_scenarios_files.py;
    # grid (a grid search, base_model "grid"): tests/scenarios/test_scenarios_grid.py
    assert set(changes) | {"data", "grid"} == {f.name for f in dataclasses.fields(Scenario)}
    ids = {base.replace(**{k: v}).id for k, v in changes.items()}
    assert len(ids) == len(changes) and base.id not in ids


def test_data_key_ignores_learner_folds_and_model():
    base = Scenario(**CENTRE)
    same = [base.replace(learner="S"), base.replace(n_folds=10), base.replace(base_model="linear")]
    assert {s.data_key for s in same} == {base.data_key}
    for field, value in dict(
        n_rows=1000, n_features=5, n_variants=3, outcome="binary", effect="nonlinear",
        propensity="confounded", seed=7,
    ).items():
        assert base.replace(**{field: value}).data_key != base.data_key, field


def test_data_spec():
    s = Scenario(**CENTRE)
    spec = s.data_spec
    assert isinstance(spec, DataSpec)
    assert spec.key == s.data_key
    assert set(spec.to_dict()) == set(Scenario.DATA_FIELDS)
    assert DataSpec.from_dict(spec.to_dict()) == spec


def test_round_trip_json():
    s = Scenario(**{**CENTRE, "outcome": "binary", "seed": 4})
    d = json.loads(json.dumps(s.to_dict()))
    assert Scenario.from_dict(d) == s


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown Scenario key\(s\) 'n_row'.*allowed keys: learner"):
        Scenario.from_dict({**CENTRE, "n_row": 5})


def test_from_dict_names_missing_keys():
    data = dict(CENTRE)
    del data["n_folds"]
    with pytest.raises(ValueError, match="missing Scenario key.*'n_folds'"):
        Scenario.from_dict(data)


def test_from_dict_rejects_non_mapping():
    with pytest.raises(TypeError, match="mapping"):
        Scenario.from_dict([("learner", "DR")])  # type: ignore[arg-type]
