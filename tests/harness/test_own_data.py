"""The user's own workload through the command line: bad input is one line and exit 2
with nothing written; sweeps, report, export and recommend on CSV and Parquet files."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from harness.store import load_fits
from scenarios import files as files_module
from tests.scenarios.events import events_frame, write_events

from .conftest import run_sweep_cli, sweep_env

FAST = ("--levels", "1", "--backends", "loky", "--repeats", "1")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "cache"))
    files_module._PREPARED.clear()


def preset(tmp_path: Path, data: str, extra: str = "", base_model: str = "lightgbm_small") -> Path:
    path = tmp_path / "mine.toml"
    lines = ["[[scenario]]", 'learner = "T"', "n_folds = 2", f'base_model = "{base_model}"', f"data = {{ {data} }}", extra]
    path.write_text("\n".join(lines) + "\n")
    return path


def sweep_error(tmp_path: Path, toml: Path, capsys) -> str:
    db = tmp_path / "out.db"
    code = main(["sweep", "--scenarios", str(toml), "--db", str(db), *FAST, "--no-report"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not db.exists(), err  # nothing written to the store
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    return err


def with_frame(tmp_path: Path, name: str, change) -> Path:
    frame = events_frame(300)
    frame = change(frame) if change else frame
    path = tmp_path / name
    frame.to_parquet(path, index=False) if name.endswith(".parquet") else frame.to_csv(path, index=False)
    return path


def _set(column, row, value):
    def change(frame):
        frame = frame.copy()
        frame[column] = frame[column].astype(object) if isinstance(value, str) else frame[column]
        frame.loc[row, column] = value
        return frame
    return change


ROWS = 'path = "events.csv", outcome = "y", treatment = "arm", features = ["age", "visits", "city"]'


@pytest.mark.parametrize(
    "change, data, extra, message",
    [
        (None, ROWS.replace("events.csv", "nope.csv"), "", "nope.csv: no such file"),
        (None, ROWS.replace('outcome = "y"', 'outcome = "yy"'), "", "no outcome column 'yy'; the columns are age"),
        (None, ROWS.replace('"visits"', '"visits", "visits"'), "", "data.features names column 'visits' twice"),
        (_set("y", 5, np.nan), ROWS, "", "outcome column 'y' has 1 NaN/inf values (first in row 5: nan)"),
        (_set("y", 7, np.inf), ROWS, "", "outcome column 'y' has 1 NaN/inf values (first in row 7: inf)"),
        (_set("arm", 3, np.nan), ROWS, "", "treatment column 'arm' has 1 missing values"),
        (lambda f: f.assign(arm="control"), ROWS, "", "treatment column 'arm' has one value ('control'); it needs at least 2"),
        (lambda f: f.assign(arm=np.where(np.arange(len(f)) == 0, "sms", "control")), ROWS + ", test_fraction = 0", "",
         "treatment 'sms' of 'arm' has 1 training rows; 2 folds need at least 2 per variant"),
        (None, ROWS, 'outcome = "binary"', "outcome 'y' has values"),
        (None, ROWS, 'nuisance_model = { model = "nosuch.module:Model" }', "model 'nosuch.module:Model' cannot be imported"),
        (None, ROWS, "model_params = { n_trees = 5 }", "unknown model parameter 'n_trees' for RandomForestRegressor"),
        (None, ROWS, "", "column 'city' is not numeric and the nuisance model RandomForestRegressor cannot take categorical"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, change, data, extra, message):
    with_frame(tmp_path, "events.csv", change)
    # the last two need a model that cannot take categoricals / has a fixed signature
    base_model = "random_forest" if ("n_trees" in extra or "cannot take" in message) else "lightgbm_small"
    toml = preset(tmp_path, data, extra, base_model)
    err = sweep_error(tmp_path, toml, capsys)
    assert message in err and str(toml) in err


def test_duplicated_column_in_the_file(tmp_path, capsys):
    (tmp_path / "events.csv").write_text("age,age,y,arm\n" + "1,2,3,a\n" * 200)
    err = sweep_error(tmp_path, preset(tmp_path, 'path = "events.csv", outcome = "y", treatment = "arm"'), capsys)
    assert "events.csv: column 'age' appears 2 times; column names must be unique" in err


def test_sweep_report_export_recommend_on_csv_and_parquet(tmp_path):
    write_events(tmp_path / "events.csv")
    write_events(tmp_path / "events.parquet")
    toml = tmp_path / "mine.toml"
    toml.write_text(textwrap.dedent("""
        [defaults]
        n_folds = 2
        base_model = "lightgbm_small"
        [[scenario]]
        learner = "T"
        data = { path = "events.csv", outcome = "y", treatment = "arm", features = ["age", "visits", "city"] }
        [[scenario]]
        learner = "DR"
        data = { path = "events.parquet", outcome = "converted", treatment = "arm", features = ["age", "visits", "city"] }
        outcome = "binary"
        model_params = { n_estimators = 12 }
    """))
    env = {**sweep_env(tmp_path), "HARNESS_DATA_DIR": str(tmp_path / "cache")}
    db = tmp_path / "out.db"
    code, out, err = run_sweep_cli(tmp_path, "--scenarios", str(toml), "--db", str(db), *FAST, env=env)
    assert code == 0, err
    fits = load_fits(db)
    assert (fits["status"] == "ok").all() and set(fits["learner"]) == {"T", "DR"}
    assert fits["cate_rmse"].isna().all()  # no true CATE: NULL, never 0
    assert set(fits["effect"]) == set(fits["propensity"]) == {"n/a"} and set(fits["n_features"]) == {3}
    assert set(fits["n_variants"]) == {3} and set(fits["outcome"]) == {"continuous", "binary"}
    scores = [json.loads(text) for text in fits["evaluate"]]
    assert all(scores) and any("propensity_model" in " ".join(s) for s in scores)
    assert "No true CATE on this data" in out and "T-events-" in out and "DR-events-" in out
    ids = sorted(set(fits["scenario_id"]))
    with sqlite3.connect(db) as conn:
        stored = [json.loads(t) for (t,) in conn.execute("SELECT DISTINCT scenario FROM harness_trials")]
    assert {s["data"]["treatment_labels"][0] for s in stored} == {"control"}
    assert any(s.get("model_params") == {"n_estimators": 12} for s in stored)

    assert main(["export", "--db", str(db), "--format", "parquet", "--out", str(tmp_path / "all.parquet")]) == 0
    exported = pd.read_parquet(tmp_path / "all.parquet")
    assert len(exported) == len(fits) and exported["cate_rmse"].isna().all()
    assert main(["recommend", "--db", str(db), "--scenario", ids[0], "--no-remeasure"]) == 0


@pytest.mark.slow
def test_all_five_learners_on_csv_and_parquet(tmp_path):
    write_events(tmp_path / "events.csv")
    write_events(tmp_path / "events.parquet")
    toml = tmp_path / "all.toml"
    toml.write_text(textwrap.dedent("""
        [defaults]
        n_folds = 2
        base_model = "lightgbm_small"
        learner = ["S", "T", "X", "R", "DR"]
        [[scenario]]
        data = { path = "events.csv", outcome = "y", treatment = "arm", features = ["age", "visits", "city"] }
        [[scenario]]
        data = { path = "events.parquet", outcome = "y", treatment = "arm", features = ["age", "visits", "city"] }
    """))
    env = {**sweep_env(tmp_path), "HARNESS_DATA_DIR": str(tmp_path / "cache")}
    db = tmp_path / "out.db"
    code, out, err = run_sweep_cli(tmp_path, "--scenarios", str(toml), "--db", str(db), *FAST, env=env, timeout=600)
    assert code == 0, err
    fits = load_fits(db)
    assert (fits["status"] == "ok").all() and fits["scenario_id"].nunique() == 10
    assert set(fits["learner"]) == {"S", "T", "X", "R", "DR"} and fits["cate_rmse"].isna().all()
    assert main(["plot", "--db", str(db), "--out", str(tmp_path / "plots")]) == 0
    assert any((tmp_path / "plots").glob("*.png"))
