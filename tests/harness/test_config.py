"""Parallel configs: parsing, ids, validation, the grid, and which engine runs what."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.config import ParallelConfig, config_grid, grid_note, left_out_configs, powers_of_two_up_to
from harness.engines import supports


def test_ids_and_parsing_round_trip():
    for text, expected in [
        ("default", "default"),
        ("auto", "auto"),
        ("model=2,folds=1,stage=4,backend=threading", "m2-f1-s4-threading"),
        ("folds=2", "md-f2-sd-loky"),
    ]:
        config = ParallelConfig.parse(text)
        assert config.id == expected
        assert ParallelConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "text,message",
    [
        ("model=0", "model_n_jobs=0 is not allowed"),
        ("folds=x", "folds='x' is not allowed"),
        ("backend=dask", "backend='dask' is not allowed"),
        ("threads=2", "config part 'threads=2' is not allowed"),
    ],
)
def test_bad_configs_name_the_value(text, message):
    with pytest.raises(ValueError, match=message):
        ParallelConfig.parse(text)


def test_auto_leaves_every_level_to_the_library():
    with pytest.raises(ValueError, match="'auto' config chooses every level itself"):
        ParallelConfig(2, None, None, "auto")
    assert ParallelConfig.auto().total_threads(16) == 16


def test_grid_on_4_cores():
    grid = config_grid(4)
    ids = [c.id for c in grid]
    assert ids[:2] == ["default", "auto"] and len(ids) == len(set(ids))
    assert powers_of_two_up_to(4) == [1, 2, 4] and powers_of_two_up_to(6) == [1, 2, 4, 6]
    # Never more threads than cores; a config without a pool has one backend only.
    assert all(c.total_threads(4) <= 4 for c in grid if not c.is_default and not c.is_auto)
    assert "m4-f1-s1-threading" not in ids and "m4-f1-s1-loky" in ids
    assert "m2-f2-s1-threading" in ids and "m2-f2-s2-loky" not in ids
    assert len(config_grid(4, max_oversubscription=2.0)) > len(grid)


def test_levels_above_the_cores_keep_serial_and_the_note_says_what_was_left_out():
    """--levels 3 on 2 cores: every split of 3 asks for 27 threads; the grid keeps the
    library default, auto and the serial reference, and one line says why."""
    assert [c.id for c in config_grid(2, [3])] == ["default", "auto", "m1-f1-s1-loky"]
    assert [c.id for c in config_grid(2, [3], ("threading", "loky"))][-1] == "m1-f1-s1-threading"
    note = grid_note(2, [3])
    assert note.startswith("--levels 3 on 2 cores: left out 2 configs")
    assert "m3-f3-s3-loky, m3-f3-s3-threading" in note and "added m1-f1-s1-loky" in note
    assert grid_note(2, [1], max_oversubscription=1.0) is None  # nothing left out, serial in
    assert "added" not in grid_note(2, [1, 2]) and "left out 8 configs" in grid_note(2, [1, 2])
    assert all(c not in config_grid(2) for c in left_out_configs(2))


def test_sequential_backend_points_to_the_serial_config():
    """The README names joblib's "sequential" backend (the library's); the harness's
    configs say where that run is."""
    with pytest.raises(ValueError, match=r"'sequential' is the serial config: folds=1,stage=1"):
        ParallelConfig.parse("model=1,folds=1,stage=1,backend=sequential")
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "`\"sequential\"` (no workers). The harness" in readme


def test_the_default_presets_comment_counts_the_trials_a_2_core_sweep_plans():
    from harness.sweep_plan import plan_trials
    from scenarios import load_preset, sweep_settings

    text = (Path(__file__).resolve().parents[2] / "scenarios" / "presets" / "default.toml").read_text()
    configs, repeats, trials = map(int, re.search(r"(\d+) configs[^=]*x (\d+) repeats = (\d+) trials", text).groups())
    scenarios = load_preset("default")
    settings = sweep_settings("default")
    grid = config_grid(2, settings.get("levels"), tuple(settings.get("backends", ("loky", "threading"))))
    assert (configs, repeats) == (len(grid), settings.get("repeats", 3))
    assert trials == len(plan_trials(scenarios, ["core"], grid, repeats, 0)) == len(scenarios) * configs * repeats


def test_only_the_core_engine_has_auto():
    assert supports("core", ParallelConfig.auto())
    assert not supports("metalearners", ParallelConfig.auto())
    assert supports("metalearners", ParallelConfig(1, 2, 1, "loky"))
