"""The grid-search workload in the harness: the fourth level in configs, plan and store, a real
tiny grid sweep of both engines, and report / compare / recommend / tune's space on it."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.config import ParallelConfig, config_grid
from harness.grid_configs import configs_for, grid_config_grid, supports_grid
from harness.measure import available_cores
from harness.store import SCHEMA_VERSION, Store, load_fits
from harness.store.schema import table_columns
from harness.sweep import plan_trials
from harness.tune.space import grid_search_space
from scenarios import Scenario

from .conftest import run_sweep_cli
from .test_store import fit, result

T_GRID = {
    "base_learner_grid": {"variant_outcome_model": ["linear", "lightgbm_small"]},
    "param_grid": {"variant_outcome_model": {"LGBMRegressor": {"n_estimators": [5, 10]}}},
}
GRID_SCENARIO = Scenario(learner="T", n_rows=400, n_variants=2, n_folds=2, base_model="grid", n_features=3, grid=T_GRID)
PLAIN = Scenario(learner="T", n_rows=400, n_variants=2, n_folds=2, base_model="lightgbm_small", n_features=3)
TINY_GRID_PRESET = """
    [sweep]
    repeats = 1
    values = 1
    backends = ["loky"]

    [[scenario]]
    learner = "T"
    n_rows = 400
    n_features = 3
    n_variants = 2
    n_folds = 2
    [scenario.grid.base_learner_grid]
    variant_outcome_model = ["linear", "lightgbm_small"]
    [scenario.grid.param_grid.variant_outcome_model.LGBMRegressor]
    {param} = [5, 10]
"""


# -- configs: the grid level is additive ---------------------------------------------------


def test_the_grid_level_prefixes_the_id_only_when_set():
    assert [c.id for c in (ParallelConfig(), ParallelConfig.auto(), ParallelConfig(1, 1, 1, "loky"))] == [
        "default", "auto", "m1-f1-s1-loky"]  # every stored id as it was
    config = ParallelConfig(1, 2, 1, "threading", n_jobs_grid=2)
    assert config.id == "g2-m1-f2-s1-threading" and ParallelConfig.from_id(config.id) == config
    assert ParallelConfig(n_jobs_grid=2).id == "g2-md-fd-sd-loky"
    assert ParallelConfig.parse("grid=2,model=1,folds=1,stage=1") == ParallelConfig(1, 1, 1, n_jobs_grid=2)
    assert ParallelConfig(1, 1, 1, n_jobs_grid=1).is_serial and not ParallelConfig(1, 1, 1, n_jobs_grid=2).is_serial
    assert ParallelConfig(1, 1, 1, n_jobs_grid=2).total_threads(2) == 2
    with pytest.raises(ValueError, match="n_jobs_grid=0 is not allowed"):
        ParallelConfig(n_jobs_grid=0)
    with pytest.raises(ValueError, match="leave grid, model, folds and stage unset"):
        ParallelConfig(backend="auto", n_jobs_grid=2)


def test_a_grid_scenario_is_planned_over_four_levels_and_a_plain_one_as_before():
    grid_configs = grid_config_grid(2, None, ("loky",))
    assert [c.id for c in grid_configs] == [
        "default", "auto", "g1-m1-f1-s1-loky", "g2-md-fd-sd-loky", "g1-m1-f1-s2-loky", "g1-m1-f2-s1-loky",
        "g1-m2-f1-s1-loky", "g2-m1-f1-s1-loky"]
    assert [c.id for c in grid_configs if supports_grid("metalearners", c)] == [
        "default", "g1-m1-f1-s1-loky", "g2-md-fd-sd-loky"]  # the package's n_jobs None and 2, and the serial reference
    plain_configs = config_grid(2, None, ("loky",))
    plan = plan_trials([PLAIN, GRID_SCENARIO], ["core", "metalearners"], plain_configs, 1, 0, grid_configs)
    by_scenario = {s: {(t.engine, t.config.id) for t in plan if t.scenario == s} for s in (PLAIN, GRID_SCENARIO)}
    assert by_scenario[PLAIN] == {(e, c.id) for e in ("core", "metalearners") for c in plain_configs
                                  if e == "core" or not c.is_auto}
    assert by_scenario[GRID_SCENARIO] == {("core", c.id) for c in grid_configs} | {
        ("metalearners", cid) for cid in ("default", "g1-m1-f1-s1-loky", "g2-md-fd-sd-loky")}
    assert configs_for(PLAIN, "core", grid_configs, None) == [ParallelConfig(), ParallelConfig.auto()]  # no grid level


def test_tune_searches_the_grid_level_for_a_grid_scenario():
    space = {c.id for c in grid_search_space(2, None, ("loky",))}
    assert {"g2-m1-f1-s1-loky", "g2-md-fd-sd-loky", "g1-m1-f1-s1-loky", "auto"} <= space
    assert {c.id for c in grid_search_space(2, None, ("loky",), engine="metalearners")} == {
        "default", "g1-m1-f1-s1-loky", "g2-md-fd-sd-loky"}


# -- the workload in process: both engines, same grid, same scores ---------------------------


def test_both_engines_search_the_same_grid_on_the_same_data(tmp_path: Path):
    from harness.workloads.grid_search import FitGridSearch

    results = {}
    for engine, config in (("core", ParallelConfig(1, 1, 1, n_jobs_grid=2)), ("metalearners", ParallelConfig(1, 1, 1, n_jobs_grid=1))):
        workload = FitGridSearch(engine, GRID_SCENARIO.to_dict(), config.to_dict(), data_dir=str(tmp_path))
        workload.prepare()
        workload.run_once()
        extras = workload.result_extras()
        assert extras["grid"]["grid_size"] == 3 and workload.search.n_jobs == config.n_jobs_grid  # the grid level
        results[engine] = workload.search.results_
    assert extras.get("tasks") is None  # the package keeps no task trace
    ours, theirs = results["core"], results["metalearners"]
    scores = [c for c in theirs.columns if c.startswith(("train_", "test_"))]
    assert any(c.startswith("test_") for c in scores)  # the held-out fifth of the rows is scored
    assert ours.index.equals(theirs.index)
    np.testing.assert_allclose(ours[scores].to_numpy(float), theirs[scores].to_numpy(float), rtol=1e-6)


# -- a real tiny grid sweep of both engines --------------------------------------------------


@pytest.fixture(scope="module")
def grid_db(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("grid_db")
    preset = tmp / "tiny_grid.toml"
    preset.write_text(textwrap.dedent(TINY_GRID_PRESET.format(param="n_estimators")))
    db = tmp / "grid.db"
    rc, out, err = run_sweep_cli(tmp, "--scenarios", str(preset), "--engine", "core,metalearners", "--levels", "1,2",
                                 "--db", str(db), "--no-report", timeout=600)
    assert rc == 0, err[-3000:]
    return db


def test_the_grid_sweep_records_ok_trials_with_the_grid_level(grid_db: Path):
    conn = sqlite3.connect(grid_db)
    rows = conn.execute("SELECT engine, config_id, n_jobs_grid, status, base_model FROM harness_trials").fetchall()
    extras = [json.loads(e) for (e,) in conn.execute("SELECT extras FROM harness_fits WHERE extras IS NOT NULL")]
    conn.close()
    assert rows and all(status == "ok" and base_model == "grid" for *_, status, base_model in rows), rows
    levels = {(engine, cid): grid for engine, cid, grid, *_ in rows}
    assert levels[("core", "g2-m1-f1-s1-loky")] == 2 and levels[("core", "g1-m1-f1-s1-loky")] == 1
    assert levels[("metalearners", "g2-md-fd-sd-loky")] == 2 and levels[("core", "default")] is None
    expected = [c for c in grid_config_grid(available_cores(), [1, 2], ("loky",))]
    assert sorted(levels) == sorted([("core", c.id) for c in expected]
                                    + [("metalearners", c.id) for c in expected if supports_grid("metalearners", c)])
    assert all(e["grid"]["grid_size"] == 3 for e in extras)
    fits = load_fits(grid_db)
    assert set(fits["n_jobs_grid"].dropna()) == {1.0, 2.0}


def test_report_compare_plot_and_recommend_cover_a_grid_scenario(grid_db: Path, tmp_path: Path, capsys):
    assert main(["report", "--db", str(grid_db)]) == 0
    assert "g2-m1-f1-s1-loky" in capsys.readouterr().out  # the grid level in the config label
    assert main(["compare", "--db", str(grid_db)]) == 0
    assert "grid3" in capsys.readouterr().out
    assert main(["plot", "--db", str(grid_db), "--out", str(tmp_path / "figures")]) == 0  # the heatmap: a panel per grid level
    assert any(p.name.endswith("_heatmap.png") and "grid3" in p.name for p in (tmp_path / "figures").glob("*.png"))
    capsys.readouterr()
    scenario_id = GRID_SCENARIO.id  # the tiny preset's scenario
    for engine in ("core", "metalearners"):
        assert main(["recommend", "--scenario", scenario_id, "--engine", engine, "--db", str(grid_db),
                     "--no-remeasure", "--json"]) == 0
        answer = json.loads(capsys.readouterr().out)
        assert "MetaLearnerGridSearch(" in answer["snippet"] and "n_jobs=" in answer["snippet"]
        assert "n_jobs_grid" in answer["recommended"]


@pytest.mark.parametrize("engine", ["core", "metalearners"])
def test_the_grid_snippet_runs_as_printed(engine: str):
    from harness.render.snippet import snippet

    code = snippet(ParallelConfig(1, 1, 1, "loky", n_jobs_grid=2), GRID_SCENARIO, engine)
    assert "n_jobs=2" in code and ("metalearners.grid_search" in code) == (engine == "metalearners")
    rng = np.random.default_rng(0)
    X, w = rng.normal(size=(300, 3)), rng.integers(0, 2, 300)
    y = X[:, 0] + w * X[:, 1] + rng.normal(size=300)
    namespace = {"X": X[:240], "y": y[:240], "w": w[:240], "X_test": X[240:], "y_test": y[240:], "w_test": w[240:]}
    exec(code, namespace)  # noqa: S102 -- the snippet a user pastes
    assert len(namespace["search"].results_) == 3


# -- bad grids and old stores ----------------------------------------------------------------


def test_a_bad_grid_is_one_line_exit_2_and_the_store_unchanged(tmp_path: Path, capsys):
    db = tmp_path / "keep.db"
    with Store(db) as store:
        store.start_run({}, "x", None)
    content = db.read_bytes()
    preset = tmp_path / "bad.toml"
    preset.write_text(textwrap.dedent(TINY_GRID_PRESET.format(param="n_estimator")))
    assert main(["sweep", "--scenarios", str(preset), "--db", str(db), "--no-report"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown model parameter 'n_estimator' for LGBMRegressor" in err, err
    assert db.read_bytes() == content


def test_a_schema_3_store_migrates_and_keeps_its_rows(tmp_path: Path):
    db = tmp_path / "v3.db"
    with Store(db) as store:
        store.record_trial(store.start_run({}, "sweep", None), "core", PLAIN, ParallelConfig(1, 1, 1), 0, result([fit(0), fit(1)]))
    conn = sqlite3.connect(db)  # as the harness before the grid level wrote it
    conn.executescript("ALTER TABLE harness_trials DROP COLUMN n_jobs_grid; PRAGMA user_version = 3;")
    conn.close()
    assert load_fits(db)["n_jobs_grid"].isna().all()  # readable as it is: no grid level
    with Store(db) as store:  # the writer migrates
        store.record_trial(store.start_run({}, "sweep", None), "core", GRID_SCENARIO,
                           ParallelConfig(1, 1, 1, n_jobs_grid=2), 0, result([fit(0), fit(1)]))
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    assert "n_jobs_grid" in table_columns(conn, "harness_trials")
    conn.close()
    fits = load_fits(db)
    old, new = fits[fits.scenario_id == PLAIN.id], fits[fits.scenario_id == GRID_SCENARIO.id]
    assert len(old) == 2 and old["n_jobs_grid"].isna().all() and (old["config_id"] == "m1-f1-s1-loky").all()
    assert (new["n_jobs_grid"] == 2).all() and (new["config_id"] == "g2-m1-f1-s1-loky").all()
