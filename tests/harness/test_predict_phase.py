"""``--phase predict``: predict configs, the predict workload into a real store, the predict
sweep of a tiny preset, and its report, compare, recommend and plot.

Real trials (fresh child processes) on a 300-row scenario with a 10-tree LightGBM; a
few calls per value, so each trial costs about its child's start-up.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.config import config_grid
from harness.locks import HostTrialLock
from harness.predict_config import PredictConfig, predict_config_grid
from harness.runner import TrialRunner
from harness.store import Store, export, load_fits
from scenarios import Scenario

from .conftest import run_sweep_cli, sweep_env
from .test_store import SCENARIO as V1_SCENARIO, V1_SCHEMA, result as stored_result

TINY = Scenario.from_dict({"learner": "T", "n_rows": 300, "n_features": 3, "n_variants": 2, "n_folds": 2,
                           "base_model": "lightgbm_small"})


def cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


# ------------------------------------------------------------------------ configs


def test_predict_config_ids_round_trip_and_never_collide_with_fit_ids():
    grid = predict_config_grid(2)
    ids = [c.id for c in grid]
    assert ids == ["p-serial", "p-serial-t2", "p-n2-both", "p-n2-rows", "p-n2-models", "p-n2-both-loky", "p-auto"]
    assert all(PredictConfig.from_id(c.id) == c for c in grid)
    assert all(PredictConfig.parse(c.id) == c for c in grid)
    assert not set(ids) & {c.id for c in config_grid(2)}
    assert PredictConfig.parse("n_jobs=2,split=rows") == PredictConfig(2, "rows")
    assert [c.id for c in predict_config_grid(1)] == ["p-serial", "p-auto"]
    assert PredictConfig().is_serial and not PredictConfig(model_threads=2).is_serial


@pytest.mark.parametrize("bad", ["p-n0-rows", "p-n2-diagonal", "p-serial-tx", "m1-f1-s1-loky", "p-n2-rows-dask"])
def test_bad_predict_config_ids_are_one_value_error(bad):
    with pytest.raises(ValueError, match="predict config id"):
        PredictConfig.from_id(bad)


def test_serial_prediction_takes_no_split_or_backend():
    with pytest.raises(ValueError, match="serial prediction has no split"):
        PredictConfig(None, "rows")
    with pytest.raises(ValueError, match="model_threads is for a serial prediction"):
        PredictConfig(2, model_threads=2)


def test_predict_snippet_is_the_call_to_paste():
    from harness.render.snippet import predict_snippet

    assert predict_snippet(PredictConfig(2)) == 'cate = learner.predict(X, is_oos=True, oos_method="mean", n_jobs=2)'
    rows = predict_snippet(PredictConfig(2, "rows", "loky"))
    assert 'metalearners_core.set_config(predict_split="rows")' in rows and 'backend="loky"' in rows
    assert "n_jobs=2)" in rows
    assert 'n_jobs="auto"' in predict_snippet(PredictConfig("auto"))
    assert "n_jobs=None" in predict_snippet(PredictConfig())


# ----------------------------------------------------------------- one trial, the store


def test_predict_trials_fill_the_store_and_reuse_the_fitted_learner(tmp_path: Path, monkeypatch):
    from harness.workloads.predict import fitted_cache_path

    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "data"))
    db = tmp_path / "p.db"
    with Store(db) as store:
        run = store.start_run({}, "test", None)
        # 500 rows asked of 300 held-out rows: the batch is tiled
        runner = TrialRunner("core", TINY, store, run, values=1, batch_rows=500, calls=4,
                             lock=HostTrialLock(enabled=False), timeout_s=240)
        first = runner.run(PredictConfig(2, "rows"))
        assert first.ok, first.reason
        cache = fitted_cache_path(TINY, "core", tmp_path / "data")
        assert cache.is_file()
        stamp = cache.stat().st_mtime_ns
        second = runner.run(PredictConfig())
        assert second.ok, second.reason
        assert store.done_predict() == {("core", TINY.id, "p-n2-rows", 500, 0), ("core", TINY.id, "p-serial", 500, 0)}
        assert store.done() == set()  # no fit trial
    assert [s.extras["learner_source"] for s in first.samples] == ["fitted", "fitted"]
    assert [s.extras["learner_source"] for s in second.samples] == ["cached", "cached"]  # not refitted
    assert cache.stat().st_mtime_ns == stamp

    fits = load_fits(db, phase="predict")
    assert len(fits) == 4 and set(fits.phase) == {"predict"} and set(fits.batch_rows) == {500.0}
    assert fits[["latency_median_s", "latency_p99_s", "rows_per_s", "wall_s"]].notna().all().all()
    assert (fits.latency_p99_s >= fits.latency_median_s).all()
    # 4 calls of 500 rows per value: rows/s = 2000 / (sum of the call walls) <= 2000 / value wall
    assert (fits.rows_per_s >= 2000 / fits.wall_s * 0.999).all()
    assert load_fits(db).empty  # the fit phase holds none of them
    export(db, "csv", tmp_path / "all.csv")
    csv = pd.read_csv(tmp_path / "all.csv")
    assert {"phase", "batch_rows", "latency_median_s", "latency_p99_s", "rows_per_s"} <= set(csv.columns)
    assert set(csv.phase) == {"predict"}


def test_a_schema_1_store_migrates_and_keeps_its_fits_as_the_fit_phase(tmp_path: Path):
    from harness.trial import FitSample

    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db)
    conn.executescript(V1_SCHEMA)
    conn.executescript(f"""
        PRAGMA user_version = 1;
        INSERT INTO harness_runs VALUES ('r1', 't0', 't1', 'sweep', 'x', 'host', '{{}}');
        INSERT INTO harness_trials (run_id, engine, scenario_id, learner, n_rows, n_features, n_variants,
            n_folds, base_model, outcome, effect, propensity, seed, scenario, config_id, model_n_jobs,
            n_jobs_cross_fitting, n_jobs_base_learners, backend, repeat, status, started_at, finished_at)
            VALUES ('r1', 'core', '{V1_SCENARIO.id}', 'T', 2000, 5, 2, 2, 'lightgbm_small', 'linear', 'constant',
            'balanced', 0, '{{}}', 'm1-f1-s1-loky', 1, 1, 1, 'loky', 0, 'ok', 't0', 't1');
        INSERT INTO harness_fits (trial_id, fit_index, cold, wall_s, cpu_s, n_tasks) VALUES (1, 0, 1, 1.5, 2.0, 1);
    """)
    conn.close()
    assert load_fits(db).phase.tolist() == ["fit"]  # read as it is: no predict columns yet
    sample = FitSample(1, "warm", 0.2, 0.2, 0.5, None, None, "pss", 0, 0.0, 0.2,
                       {"batch_rows": 10, "calls": 3, "latency_median_s": 0.05, "latency_p99_s": 0.09, "rows_per_s": 150.0})
    result = stored_result([sample])
    with Store(db) as store:  # the writer migrates
        assert store.done() == {("core", V1_SCENARIO.id, "m1-f1-s1-loky", 0)}
        store.record_trial(store.start_run({}, "x", None), "core", V1_SCENARIO, PredictConfig(), 0, result,
                           phase="predict", batch_rows=10)
        assert store.done() == {("core", V1_SCENARIO.id, "m1-f1-s1-loky", 0)}
        assert store.has_trial("core", V1_SCENARIO.id, "p-serial", 0, batch_rows=10)
        assert not store.has_trial("core", V1_SCENARIO.id, "p-serial", 0)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT phase, batch_rows, backend FROM harness_trials ORDER BY trial_id").fetchall() == [
        (None, None, "loky"), ("predict", 10, "library")]
    conn.close()
    fit, predict = load_fits(db), load_fits(db, phase="predict")
    assert fit.wall_s.tolist() == [1.5] and fit.phase.tolist() == ["fit"]
    assert predict[["latency_median_s", "latency_p99_s", "rows_per_s"]].values.tolist() == [[0.05, 0.09, 150.0]]
    assert json.loads(sqlite3.connect(db).execute("SELECT extras FROM harness_fits WHERE trial_id = 2").fetchone()[0]) == {
        "batch_rows": 10, "calls": 3}


# ------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("bad, expected", [("0", "0 is not allowed"), ("-5", "-5 is not allowed"),
                                           ("x", "'x' is not an integer"), ("100,0", "0 is not allowed")])
@pytest.mark.parametrize("command", ["sweep", "measure", "recommend"])
def test_bad_batch_is_one_line_and_exit_2(capsys, tmp_path: Path, command, bad, expected):
    db = [] if command == "measure" else ["--db", str(tmp_path / "x.db")]
    assert cli([command, "--phase", "predict", f"--batch={bad}", *db]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err and "--batch" in err, err
    assert not (tmp_path / "x.db").exists()


def test_bad_predict_settings_in_a_preset_are_one_line(capsys, tmp_path: Path):
    toml = tmp_path / "bad.toml"
    toml.write_text('[sweep]\npredict_configs = ["p-n2-diagonal"]\n\n[[scenario]]\nlearner = "T"\nn_rows = 300\n')
    assert cli(["sweep", "--phase", "predict", "--scenarios", str(toml), "--db", str(tmp_path / "x.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "p-n2-diagonal" in err, err


# --------------------------------------------------------------- a predict sweep, end to end

PRESET = """
    # tiny predict preset
    [sweep]
    predict_batches = [1, 2000]
    predict_repeats = 2
    predict_values = 1
    predict_configs = ["p-serial", "p-n2-both"]

    [[scenario]]
    learner = "T"
    n_rows = 300
    n_features = 3
    n_variants = 2
    n_folds = 2
    base_model = "lightgbm_small"
"""


@pytest.fixture(scope="module")
def predict_db(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("predict_sweep")
    preset = tmp / "tiny.toml"
    preset.write_text(textwrap.dedent(PRESET))
    db = tmp / "p.db"
    env = {**sweep_env(tmp), "HARNESS_DATA_DIR": str(tmp / "data")}
    rc, out, err = run_sweep_cli(tmp, "--phase", "predict", "--scenarios", str(preset), "--db", str(db),
                                 "--engine", "core,metalearners", "--no-report", env=env, timeout=400)
    assert rc == 0, err[-3000:]
    assert "FAILED" not in err, err[-3000:]
    return db


def test_predict_sweep_runs_the_preset_grid_once(predict_db: Path, tmp_path: Path):
    fits = load_fits(predict_db, phase="predict")
    trials = fits.drop_duplicates("trial_id")
    # core: 2 configs x 2 batches x 2 repeats; the package: p-serial only
    assert len(trials) == 12
    assert sorted(trials.groupby(["engine", "config_id"]).size().items()) == [
        (("core", "p-n2-both"), 4), (("core", "p-serial"), 4), (("metalearners", "p-serial"), 4)]
    assert set(trials.batch_rows) == {1.0, 2000.0} and (fits.status == "ok").all()
    assert fits.groupby("trial_id").size().eq(2).all()  # 1 cold + 1 warm value
    # the same (engine, scenario) is fitted once, whatever the number of trials
    extras = [json.loads(e) for (e,) in sqlite3.connect(predict_db).execute("SELECT extras FROM harness_fits")]
    sources = [e["learner_source"] for e in extras]
    assert sources.count("fitted") == 2 * 2 and sources.count("cached") == len(sources) - 4  # 2 engines x 2 values


def test_predict_report_and_compare(predict_db: Path, capsys):
    assert cli(["report", "--db", str(predict_db), "--phase", "predict", "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert out.count("batch of 1 rows (latency)") == 1 and out.count("batch of 2,000 rows (throughput)") == 1
    assert "latency p99 ms" in out and "rows/s" in out and "p-n2-both" in out and "metalearners" in out
    assert "fastest" in out
    assert cli(["report", "--db", str(predict_db)]) == 0  # the fit report of a predict-only store still works
    capsys.readouterr()
    assert cli(["compare", "--db", str(predict_db), "--phase", "predict"]) == 0
    out = capsys.readouterr().out
    assert "package / core wall" in out and "2,000" in out


def test_recommend_predict_pastes_the_call(predict_db: Path, capsys):
    assert cli(["recommend", "--db", str(predict_db), "--phase", "predict", "--scenario", TINY.id[:12]]) == 0
    out = capsys.readouterr().out
    assert "batch of 1 rows (latency)" in out and "batch of 2,000 rows (throughput)" in out
    assert out.count('learner.predict(X, is_oos=True, oos_method="mean", n_jobs=') == 2
    assert cli(["recommend", "--db", str(predict_db), "--phase", "predict", "--scenario", TINY.id, "--batch", "1",
                "--json"]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    assert rec["batch_rows"] == 1 and rec["recommended"]["config"] in ("p-serial", "p-n2-both")
    assert "n_jobs=" in rec["snippet"]
    assert cli(["recommend", "--db", str(predict_db), "--phase", "predict", "--scenario", TINY.id, "--batch", "7"]) == 2
    assert "no predict trials" in capsys.readouterr().err


def test_predict_plot_is_written(predict_db: Path, tmp_path: Path):
    assert cli(["plot", "--db", str(predict_db), "--out", str(tmp_path / "plots"), "--phase", "predict"]) == 0
    (figure,) = list((tmp_path / "plots").iterdir())
    assert figure.name == f"predict_{TINY.id}_throughput.png" and figure.stat().st_size > 10_000


def test_sweep_resumes_a_predict_sweep_with_nothing_to_do(predict_db: Path, tmp_path: Path):
    preset = tmp_path / "tiny.toml"
    preset.write_text(textwrap.dedent(PRESET))
    rc, _, err = run_sweep_cli(tmp_path, "--phase", "predict", "--scenarios", str(preset), "--db", str(predict_db),
                               "--engine", "core,metalearners", "--no-report")
    assert rc == 0 and "nothing to do" in err, err


# --------------------------------------------------------------- tune --phase predict


TINY_FIELDS = "learner=T,n_rows=300,n_features=3,n_variants=2,n_folds=2,base_model=lightgbm_small"


def test_tune_predict_runs_a_study_per_batch_that_recommend_reads(tmp_path: Path, capsys):
    import subprocess
    import sys

    import optuna

    db = tmp_path / "t.db"
    env = {**sweep_env(tmp_path), "HARNESS_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "harness", "tune", "--phase", "predict", "--batch", "2000", "--scenario", TINY_FIELDS,
         "--db", str(db), "--trials", "3", "--repeats", "1", "--values", "1"],
        capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[2], timeout=400, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    study = optuna.load_study(study_name=f"tune:core:{TINY.id}:predict-2000rows", storage=f"sqlite:///{db}")
    configs = [t.params["config"] for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(configs) == 3 and configs[:2] == ["p-serial", "p-auto"]  # the baselines first
    assert study.user_attrs["phase"] == "predict" and study.user_attrs["batch_rows"] == 2000
    trials = load_fits(db, phase="predict").drop_duplicates("trial_id")
    assert sorted(trials.config_id) == sorted(configs) and set(trials.batch_rows) == {2000.0}
    assert "--phase predict --batch 2000" in done.stdout
    assert cli(["recommend", "--db", str(db), "--phase", "predict", "--scenario", TINY.id, "--json"]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    assert rec["batch_rows"] == 2000 and rec["recommended"]["config"] in configs


@pytest.mark.parametrize("extra, expected", [
    (["--cluster", "local:1"], "--cluster with --phase predict"),
    (["--seed-from-whatif"], "--seed-from-whatif with --phase predict"),
    (["--study", "s", "--batch", "1,100"], "give one --batch"),
    (["--preset", "grid"], "is a grid search, which has no predict phase"),
])
def test_tune_predict_refuses_what_it_cannot_do_in_one_line(capsys, tmp_path: Path, extra, expected):
    scenario = [] if "--preset" in extra else ["--scenario", TINY_FIELDS]
    assert cli(["tune", "--phase", "predict", *scenario, *extra, "--db", str(tmp_path / "x.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "x.db").exists()
