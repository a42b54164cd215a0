"""Grid-search scenarios: the grid preset, the grid's checks (one line each), ids and the resolved search arguments."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

from scenarios import PresetError, Scenario, load_preset
from scenarios.grid import GridSpec, resolve_grid

T_GRID = {
    "base_learner_grid": {"variant_outcome_model": ["linear", "lightgbm_small"]},
    "param_grid": {"variant_outcome_model": {"LGBMRegressor": {"n_estimators": [5, 10]}}},
}


def grid_scenario(**changes) -> Scenario:
    fields = dict(learner="T", n_rows=300, n_variants=2, n_folds=2, base_model="grid", n_features=3, grid=T_GRID)
    return Scenario(**{**fields, **changes})


def test_the_grid_preset_loads_four_grid_searches():
    scenarios = load_preset("grid")
    assert [s.learner for s in scenarios] == ["DR", "X", "R", "T"]
    assert all(s.grid is not None and s.base_model == "grid" for s in scenarios)
    assert [s.grid_size for s in scenarios] == [12, 8, 8, 5]
    assert [s.id.split("-")[5] for s in scenarios] == ["grid12", "grid8", "grid8", "grid5"]


def test_a_grid_has_its_own_id_and_plain_ids_are_unchanged():
    plain = Scenario(learner="T", n_rows=300, n_variants=2, n_folds=2, base_model="lightgbm_small", n_features=3)
    assert "grid" not in plain.to_dict() and "grid" not in plain.id
    a, b = grid_scenario(), grid_scenario(grid={**T_GRID, "param_grid": {}})
    assert a.id != b.id and a.id != plain.id
    assert a.id.startswith("T-300-f3-v2-k2-grid3-") and b.id.startswith("T-300-f3-v2-k2-grid2-")
    again = Scenario.from_dict(a.to_dict())  # round trip: same scenario, same id
    assert again == a and again.id == a.id and hash(again) == hash(a)


def test_resolve_grid_gives_the_package_arguments_with_defaults_seed_and_threads():
    s = grid_scenario(outcome="binary", seed=3, grid={"base_learner_grid": T_GRID["base_learner_grid"]})
    classes, params = resolve_grid(s.grid, "T", True, 3, model_n_jobs=2)
    assert classes == {"variant_outcome_model": [LogisticRegression, LGBMClassifier]}  # classifiers: a binary outcome
    lgbm = params["variant_outcome_model"]["LGBMClassifier"]
    assert lgbm["n_jobs"] == [2] and lgbm["random_state"] == [3] and lgbm["num_leaves"] == [7]
    assert lgbm["n_estimators"] == [10]  # no user list: the registry default
    logistic = params["variant_outcome_model"]["LogisticRegression"]
    assert logistic == {"max_iter": [1000]}  # no thread keyword for the classifier in the registry
    classes, params = resolve_grid(grid_scenario().grid, "T", False, 0, model_n_jobs=None)
    assert classes == {"variant_outcome_model": [LinearRegression, LGBMRegressor]}
    assert params["variant_outcome_model"]["LGBMRegressor"]["n_estimators"] == [5, 10]
    assert "n_jobs" not in params["variant_outcome_model"]["LGBMRegressor"]  # library default: left out


def test_import_paths_and_registry_names_key_the_param_grid():
    grid = {
        "base_learner_grid": {"variant_outcome_model": ["sklearn.linear_model:Ridge", "lightgbm"]},
        "param_grid": {"variant_outcome_model": {"lightgbm": {"num_leaves": [7, 15]}, "Ridge": {"alpha": [0.1, 1.0]}}},
    }
    s = grid_scenario(grid=grid)
    assert s.grid_size == 4
    _, params = resolve_grid(s.grid, "T", False, 0, model_n_jobs=1)
    assert params["variant_outcome_model"]["LGBMRegressor"]["num_leaves"] == [7, 15]
    assert params["variant_outcome_model"]["Ridge"]["alpha"] == [0.1, 1.0]


BAD_GRIDS = [
    ({"base_learner_grid": {"outcome_model": ["linear"]}}, "unknown model kind 'outcome_model' for the T-learner"),
    ({"base_learner_grid": {}}, "must be a non-empty table"),
    ({"base_learner_grid": {"variant_outcome_model": []}}, "must be a non-empty list"),
    ({"base_learner_grid": {"variant_outcome_model": ["linear"]},
      "param_grid": {"variant_outcome_model": {"LGBMRegressor": {"n_estimators": [5]}}}},
     "has parameters for 'LGBMRegressor', which is not in base_learner_grid.variant_outcome_model"),
    ({"base_learner_grid": {"variant_outcome_model": ["lightgbm"]},
      "param_grid": {"variant_outcome_model": {"LGBMRegressor": {"n_estimator": [5]}}}},
     "unknown model parameter 'n_estimator' for LGBMRegressor (did you mean 'n_estimators'?)"),
    ({"base_learner_grid": {"variant_outcome_model": ["lightgbm"]},
      "param_grid": {"propensity_model": {"LGBMClassifier": {"n_estimators": [5]}}}},
     "model kind 'propensity_model', which is not in base_learner_grid"),
    ({"base_learner_grid": {"variant_outcome_model": ["lightgbm"]},
      "param_grid": {"variant_outcome_model": {"LGBMRegressor": {"n_estimators": 5}}}},
     "must be a non-empty list of values"),
    ({"base_learner_grid": {"variant_outcome_model": ["nope:Model"]}}, "cannot be imported"),
    ({"base_learner_grid": {"variant_outcome_model": ["lightgbm"]}, "params": {}}, "unknown key 'params'"),
]


@pytest.mark.parametrize("grid, message", BAD_GRIDS)
def test_a_bad_grid_is_one_line_naming_the_mistake(grid, message):
    with pytest.raises(ValueError) as error:
        grid_scenario(grid=grid)
    text = str(error.value)
    assert message in text and "\n" not in text


def test_a_grid_learner_must_name_every_kind_it_fits():
    with pytest.raises(ValueError, match=r"the DR-learner also fits .*propensity_model"):
        grid_scenario(learner="DR", grid={"base_learner_grid": {"variant_outcome_model": ["linear"], "treatment_model": ["linear"]}})


def test_a_grid_takes_no_single_model_fields():
    with pytest.raises(ValueError, match="base_model='lightgbm' with a grid"):
        grid_scenario(base_model="lightgbm")
    with pytest.raises(ValueError, match="model_params with a grid"):
        grid_scenario(model_params={"n_estimators": 5})


def test_a_preset_grid_inherits_no_default_base_model_and_bad_grids_are_one_line(tmp_path: Path):
    preset = tmp_path / "g.toml"
    body = """
        [defaults]
        n_rows = 300
        n_features = 3
        n_variants = 2
        n_folds = 2
        base_model = "lightgbm_small"

        [[scenario]]
        learner = "T"

        [[scenario]]
        learner = "T"
        [scenario.grid.base_learner_grid]
        variant_outcome_model = ["linear", "lightgbm_small"]
        [scenario.grid.param_grid.variant_outcome_model.LGBMRegressor]
        {param} = [5, 10]
    """
    preset.write_text(textwrap.dedent(body.format(param="n_estimators")))
    plain, grid = load_preset(preset)
    assert (plain.base_model, plain.grid) == ("lightgbm_small", None)
    assert grid.base_model == "grid" and grid.grid_size == 3
    preset.write_text(textwrap.dedent(body.format(param="n_trees_typo")))
    with pytest.raises(PresetError) as error:
        load_preset(preset)
    text = str(error.value)
    assert "[[scenario]] #2" in text and "unknown model parameter 'n_trees_typo'" in text and "\n" not in text


def test_gridspec_is_frozen_and_hashable():
    spec = GridSpec.parse(T_GRID)
    with pytest.raises(AttributeError):
        spec.param_grid = {}  # type: ignore[misc]
    assert spec == GridSpec.parse(spec.to_dict()) and len({spec, GridSpec.parse(spec.to_dict())}) == 1
