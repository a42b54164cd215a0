"""TOML presets: bundled presets, grid expansion and one-line errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from scenarios import PresetError, Scenario, list_presets, load_preset, preset_descriptions
from scenarios.presets import PRESET_DIR


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


HEAD = """
[defaults]
learner = "DR"
n_rows = 1000
n_variants = 2
n_folds = 3
base_model = "lightgbm"
"""


def test_list_presets():
    assert list_presets() == ["default", "grid", "large", "smoke"]
    descriptions = preset_descriptions()
    assert list(descriptions) == list_presets()
    assert all(descriptions.values())


@pytest.mark.parametrize("name", ["smoke", "default", "large"])
def test_bundled_presets_load(name):
    scenarios = load_preset(name)
    assert scenarios and all(isinstance(s, Scenario) for s in scenarios)
    assert len(set(scenarios)) == len(scenarios)
    assert load_preset(PRESET_DIR / f"{name}.toml") == scenarios
    text = (PRESET_DIR / f"{name}.toml").read_text()
    assert text.startswith("#"), "each preset starts with a comment saying what it is for"


def test_smoke_is_tiny():
    scenarios = load_preset("smoke")
    assert 2 <= len(scenarios) <= 3
    assert all(s.n_rows <= 5000 and s.n_folds <= 3 for s in scenarios)
    assert all(s.base_model == "lightgbm_small" for s in scenarios)


def _centre_and_one_factor(scenarios: list[Scenario]) -> tuple[Scenario, dict[str, set]]:
    centre = scenarios[0]
    varied: dict[str, set] = {}
    for s in scenarios[1:]:
        diff = {k: v for k, v in s.to_dict().items() if v != getattr(centre, k)}
        assert len(diff) == 1, f"{s.id} differs from the centre in {sorted(diff)}"
        (field, value), = diff.items()
        varied.setdefault(field, set()).add(value)
    return centre, varied


def test_default_is_a_one_factor_design():
    scenarios = load_preset("default")
    assert 10 <= len(scenarios) <= 11
    centre, varied = _centre_and_one_factor(scenarios)
    assert (centre.learner, centre.n_rows, centre.n_features, centre.n_variants,
            centre.n_folds, centre.base_model) == ("DR", 16_000, 20, 2, 5, "lightgbm")
    assert varied == {
        "learner": {"S", "T", "X", "R"},
        "n_variants": {4},
        "n_folds": {3, 10},
        "n_rows": {4_000, 64_000},
        "base_model": {"random_forest"},
    }
    assert len({s.data_key for s in scenarios}) == 4  # most scenarios share one data set


def test_large_is_the_same_design_bigger():
    large, default = load_preset("large"), load_preset("default")
    centre, varied = _centre_and_one_factor(large)
    assert centre.n_rows >= 200_000
    assert set(varied) == set(_centre_and_one_factor(default)[1])
    assert min(s.n_rows for s in large) >= 200_000


def test_grid_expansion(tmp_path):
    path = write(tmp_path, HEAD + """
        [[scenario]]
        learner = ["T", "X"]
        n_folds = [2, 4, 6]

        [[scenario]]
        n_rows = 2000
    """)
    scenarios = load_preset(path)
    assert [(s.learner, s.n_folds) for s in scenarios[:6]] == [
        ("T", 2), ("T", 4), ("T", 6), ("X", 2), ("X", 4), ("X", 6)
    ]
    assert scenarios[6] == Scenario(learner="DR", n_rows=2000, n_variants=2, n_folds=3,
                                    base_model="lightgbm")


def test_grid_in_defaults(tmp_path):
    path = write(tmp_path, HEAD.replace('learner = "DR"', 'learner = ["S", "T"]') + """
        [[scenario]]
        [[scenario]]
        learner = "X"
    """)
    assert [s.learner for s in load_preset(path)] == ["S", "T", "X"]


def assert_one_line_error(path: Path, *needles: str) -> str:
    with pytest.raises(PresetError) as info:
        load_preset(path)
    message = str(info.value)
    assert "\n" not in message
    assert isinstance(info.value, ValueError)
    for needle in (str(path), *needles):
        assert needle in message, (needle, message)
    return message


def test_unknown_key_in_entry(tmp_path):
    path = write(tmp_path, HEAD + """
        [[scenario]]
        n_row = 5000
    """)
    assert_one_line_error(path, "[[scenario]] #1", "'n_row'", "allowed keys: learner")


def test_unknown_key_in_defaults(tmp_path):
    path = write(tmp_path, HEAD + 'base_modle = "linear"\n[[scenario]]\n')
    assert_one_line_error(path, "[defaults]", "'base_modle'", "allowed keys")


def test_unknown_top_level_key(tmp_path):
    path = write(tmp_path, "senario = 1\n" + HEAD + "[[scenario]]\n")
    assert_one_line_error(path, "'senario'", "description, defaults, scenario")


def test_wrong_type(tmp_path):
    path = write(tmp_path, HEAD + """
        [[scenario]]
        [[scenario]]
        n_folds = "five"
    """)
    assert_one_line_error(path, "[[scenario]] #2", "n_folds='five'", "int")


def test_bad_value(tmp_path):
    path = write(tmp_path, HEAD + """
        [[scenario]]
        learner = ["S", "Q"]
    """)
    assert_one_line_error(path, "[[scenario]] #1", "learner='Q'", "S, T, X, R, DR")


def test_bool_rejected(tmp_path):
    path = write(tmp_path, HEAD + "[[scenario]]\nseed = true\n")
    assert_one_line_error(path, "seed=True")


def test_missing_required_key(tmp_path):
    path = write(tmp_path, HEAD.replace('n_folds = 3\n', '') + "[[scenario]]\n")
    assert_one_line_error(path, "[[scenario]] #1", "'n_folds'", "[defaults]")


def test_duplicate_after_expansion(tmp_path):
    path = write(tmp_path, HEAD + """
        [[scenario]]
        learner = ["S", "T"]

        [[scenario]]
        learner = "T"
    """)
    assert_one_line_error(path, "[[scenario]] #2", "duplicate scenario T-1k", "#1")


def test_repeated_value_in_list(tmp_path):
    path = write(tmp_path, HEAD + "[[scenario]]\nn_folds = [3, 3]\n")
    assert_one_line_error(path, "'n_folds'", "repeats")


def test_empty_list(tmp_path):
    path = write(tmp_path, HEAD + "[[scenario]]\nlearner = []\n")
    assert_one_line_error(path, "'learner'", "empty list")


def test_no_scenarios(tmp_path):
    path = write(tmp_path, HEAD)
    assert_one_line_error(path, "no [[scenario]] entries")


def test_scenario_not_a_table_array(tmp_path):
    path = write(tmp_path, HEAD + "scenario = 3\n")
    # `scenario = 3` inside [defaults] is an unknown key there
    assert_one_line_error(path, "'scenario'")
    path = write(tmp_path, 'scenario = [1, 2]\n' + HEAD)
    assert_one_line_error(path, "[[scenario]] #1", "must be a table")


def test_invalid_toml(tmp_path):
    path = write(tmp_path, HEAD + "[[scenario]]\nlearner = \n")
    assert_one_line_error(path, "invalid TOML")


def test_unknown_preset_name_lists_available():
    with pytest.raises(PresetError) as info:
        load_preset("defualt")
    message = str(info.value)
    assert "\n" not in message
    assert "defualt" in message and "default, grid, large, smoke" in message


def test_missing_file(tmp_path):
    with pytest.raises(PresetError, match="not found"):
        load_preset(tmp_path / "nope.toml")


def test_nothing_half_loads(tmp_path):
    path = write(tmp_path, HEAD + """
        [[scenario]]
        learner = "S"

        [[scenario]]
        learner = "nope"
    """)
    with pytest.raises(PresetError):
        load_preset(path)


# -- the optional [sweep] table ------------------------------------------------------------

_SCENARIO = '[[scenario]]\nlearner = "T"\nn_rows = 500\nn_variants = 2\nn_folds = 2\nbase_model = "linear"\n'


def test_sweep_settings_of_the_smoke_preset():
    from scenarios import sweep_settings

    assert sweep_settings("smoke") == {"repeats": 2, "values": 2, "backends": ["loky"]}
    assert sweep_settings("default") == {"repeats": 3, "values": 2, "predict_batches": [1, 100, 10000],
                                         "predict_repeats": 2, "predict_values": 1,
                                         "predict_configs": ["p-serial", "p-n2-both", "p-auto"]}


@pytest.mark.parametrize(
    "table,message",
    [
        ("repeat = 2", "unknown key 'repeat' in [sweep]; allowed keys: repeats, values, levels, backends"),
        ("repeats = 0", "[sweep] repeats = 0 is not allowed; use an integer >= 1"),
        ("values = 0", "[sweep] values = 0 is not allowed; use an integer >= 1"),
        ("values = 1.5", "[sweep] values = 1.5 is not allowed; use an integer >= 1"),
        ('backends = ["dask"]', "[sweep] backends = ['dask'] is not allowed"),
        ("levels = []", "[sweep] levels = [] is not allowed"),
    ],
)
def test_bad_sweep_table_is_one_line(tmp_path, table, message):
    from scenarios import PresetError, load_preset

    path = tmp_path / "p.toml"
    path.write_text(f"[sweep]\n{table}\n\n{_SCENARIO}")
    with pytest.raises(PresetError) as err:
        load_preset(path)
    assert message in str(err.value) and str(path) in str(err.value)
    assert "\n" not in str(err.value)
