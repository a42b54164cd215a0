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


WEIGHTED = ["--outcome", "y", "--treatment", "arm", "--features", "age,visits,city", "--folds", "2", "--model", "lightgbm_small"]


def _with_weights(change=None):
    return lambda f: (change or (lambda x: x))(f.assign(wt=np.linspace(0.5, 2.0, len(f))))


@pytest.mark.parametrize(
    "change, flags, message",
    [
        (_set("wt", 4, "heavy"), ["--weights", "wt"], "weights column 'wt' is not numeric (dtype "),
        (_set("wt", 4, np.nan), ["--weights", "wt"], "weights column 'wt' has 1 NaN/inf values (first in row 4: nan)"),
        (_set("wt", 6, np.inf), ["--weights", "wt"], "weights column 'wt' has 1 NaN/inf values (first in row 6: inf)"),
        (_set("wt", 2, -1.0), ["--weights", "wt"], "weights column 'wt' has 1 negative values (first in row 2: -1.0)"),
        (lambda f: f.assign(wt=0.0), ["--weights", "wt"], "weights column 'wt' is 0 in every row; at least one weight must be > 0"),
        (None, ["--weights", "nope"], "no weights column 'nope'; the columns are age"),
        (None, ["--weights", "y"], "data.weights='y' is the outcome column"),
        (None, ["--weights", "wt", "--learner", "T"], "weights 'wt' reach no base model of the T-learner"),
    ],
)
def test_bad_weights_are_one_line_exit_2_nothing_written(tmp_path, capsys, change, flags, message):
    path = with_frame(tmp_path, "events.csv", _with_weights(change))
    db = tmp_path / "out.db"
    assert main(["sweep", "--data", str(path), *WEIGHTED, *flags, "--db", str(db), *FAST, "--no-report"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: --data {path}: ") and message in err, err
    assert not db.exists() and not (tmp_path / "workloads").exists()  # nothing written


def test_weights_flag_in_init_preset_and_measure(tmp_path, capsys):
    from scenarios import load_preset

    path = with_frame(tmp_path, "events.csv", _with_weights())
    workload = ["--data", str(path), *WEIGHTED, "--weights", "wt", "--learner", "DR"]
    assert main(["init-preset", *workload]) == 0
    out, err = capsys.readouterr()
    assert 'weights = "wt"' in out and "# weights 'wt' reach the DR-learner's propensity_model, treatment_model" in out
    assert err.startswith("note: weights 'wt' reach the DR-learner's") and "not its variant_outcome_model" in err
    (tmp_path / "weighted.toml").write_text(out)
    (scenario,) = load_preset(tmp_path / "weighted.toml")
    assert scenario.data.weights == "wt" and "-weighted-" in scenario.id
    assert main(["measure", *workload, "--repeats", "2"]) == 0
    assert f"| {scenario.id} |" in capsys.readouterr().out


def test_unknown_lightgbm_parameter_is_one_line_and_the_store_unchanged(tmp_path, capsys):
    from harness.store import Store

    path = write_events(tmp_path / "events.csv")
    db = tmp_path / "out.db"
    with Store(db):
        pass
    before = db.read_bytes()
    argv = ["sweep", "--data", str(path), "--outcome", "y", "--treatment", "arm", "--model", "lightgbm",
            "--model-params", "n_estimators=5,num_leafs=7", "--db", str(db), *FAST, "--no-report"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: --data {path}: nuisance model 'lightgbm': unknown model parameter 'num_leafs' for LGBMRegressor "
        "(did you mean 'num_leaves'?); allowed: its constructor's parameters or LightGBM's parameters "
        "(https://lightgbm.readthedocs.io/en/latest/Parameters.html)"
    )
    assert db.read_bytes() == before and not (tmp_path / "workloads").exists()


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


# -- the README's section, run -------------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_section() -> tuple[list[str], str, str]:
    """The commands (```bash blocks), the TOML (```toml block) and the Python API example
    (```python block) of "Benchmark your own workload"."""
    text = README.read_text().split("## Benchmark your own workload", 1)[1].split("\n## ", 1)[0]
    blocks = text.split("```")[1::2]
    commands = [line for b in blocks if b.startswith("bash") for line in b.splitlines()[1:] if line.strip()]
    toml = next(b for b in blocks if b.startswith("toml")).split("\n", 1)[1]
    python = next(b for b in blocks if b.startswith("python")).split("\n", 1)[1]
    return commands, toml, python


def test_readme_own_workload_commands_run(tmp_path, monkeypatch, capsys):
    from scenarios import load_preset

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HARNESS_LOCK_FILE", str(tmp_path / "trial.lock"))
    write_events(tmp_path / "events.parquet")
    commands, toml, python = readme_section()
    assert [c.split()[3] for c in commands] == ["sweep", "report", "recommend", "init-preset", "sweep"]
    for command in commands:
        # Test-sized: fewer trees, one level and repeat, the stored measurements only.
        argv = command.replace("n_estimators=500", "n_estimators=20").split()[3:]
        target = None
        if ">" in argv:
            argv, target = argv[: argv.index(">")], argv[argv.index(">") + 1]
        if argv[0] == "sweep":
            argv += [*FAST, "--no-report"]
        if argv[0] == "recommend":
            argv.append("--no-remeasure")
        assert main(argv) == 0, command
        out = capsys.readouterr().out
        if target:
            Path(target).write_text(out)
        if argv[0] == "report":
            assert "DR-events-" in out and "No true CATE on this data" in out
    fits = load_fits(tmp_path / "results" / "mine.db")
    assert fits["scenario_id"].nunique() == 1 and (fits["status"] == "ok").all()  # the preset is the flags' workload
    assert set(fits["repeat"]) == {0}
    (tmp_path / "readme.toml").write_text(toml)
    (scenario,) = load_preset(tmp_path / "readme.toml")
    assert scenario.model_params == {"n_estimators": 500, "num_leaves": 63}
    assert scenario.propensity_model.model == "sklearn.ensemble:HistGradientBoostingClassifier"

    # The Python API example, test-sized the same way: fewer trees, one level and repeat,
    # the stored measurements only.
    from harness import api

    benchmark, recommend_frame = api.benchmark, api.recommend_frame
    small = {"levels": [1], "backends": ["loky"], "repeats": 1, "values": 1}
    monkeypatch.setattr(api, "benchmark", lambda frame, **kw: benchmark(frame, **kw, **small))
    monkeypatch.setattr(api, "recommend_frame", lambda frame, **kw: recommend_frame(frame, **kw, remeasure=False))
    namespace: dict = {}
    exec(compile(python.replace('"n_estimators": 500', '"n_estimators": 20'), "<README>", "exec"), namespace)  # noqa: S102
    result, rec = namespace["result"], namespace["rec"]
    assert result.scenario_id.startswith("DR-events-") and result.db == Path("results/notebook.db")
    assert len(result.measurements) and (result.measurements["status"] == "ok").all()
    assert rec.config.id in set(result.measurements["config_id"]) and "learner.fit(X, y, w" in rec.snippet
    assert result.scenario_id in capsys.readouterr().out  # the report was printed


def test_measure_with_data_flags(tmp_path, capsys):
    write_events(tmp_path / "events.csv")
    argv = ["measure", "--data", str(tmp_path / "events.csv"), "--outcome", "y", "--treatment", "arm",
            "--features", "age,visits,city", "--learner", "T", "--folds", "2", "--model", "lightgbm_small",
            "--model-params", "n_estimators=7,learning_rate=0.2", "--repeats", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "T-events-" in out and "cate rmse n/a" in out and "model threads" in out


def test_data_flags_need_outcome_and_treatment(tmp_path, capsys):
    write_events(tmp_path / "events.csv")
    db = tmp_path / "out.db"
    assert main(["sweep", "--data", str(tmp_path / "events.csv"), "--outcome", "y", "--db", str(db)]) == 2
    assert capsys.readouterr().err.strip() == f"error: --data {tmp_path / 'events.csv'}: --treatment must be given too"
    assert not db.exists()


def test_tune_and_recommend_with_data_flags(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_LOCK_FILE", str(tmp_path / "trial.lock"))
    write_events(tmp_path / "events.csv")
    db = str(tmp_path / "out.db")
    workload = ["--data", str(tmp_path / "events.csv"), "--outcome", "y", "--treatment", "arm", "--features",
                "age,visits,city", "--learner", "X", "--folds", "2", "--model", "lightgbm_small"]
    assert main(["tune", *workload, "--db", db, "--trials", "2", "--repeats", "1", "--levels", "1", "--backends", "loky"]) == 0
    fits = load_fits(db)
    assert fits["scenario_id"].nunique() == 1 and fits["scenario_id"].iloc[0].startswith("X-events-")
    capsys.readouterr()
    assert main(["recommend", *workload, "--db", db, "--no-remeasure"]) == 0
    assert "X-events-" in capsys.readouterr().out
