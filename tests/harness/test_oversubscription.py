"""Oversubscribed configs: the library's warning is kept with the trial, stored, and marked in the report."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import joblib
import pandas as pd

from harness.analysis.summary import analyse
from harness.config import ParallelConfig
from harness.render.report import render
from harness.report import render_report
from harness.store import SCHEMA_VERSION, Store, load_fits
from harness.store.schema import table_columns
from harness.trial import TrialSpec, run_trial
from scenarios import Scenario

from .test_report import FAST, SERIAL, fit_rows
from .test_store import SCENARIO, V1_SCHEMA, fit, result

WARNING = "8 threads in flight (2 threads per model x 2 fold workers x 2 stage workers) on 2 cores: ..."


def test_a_real_trial_of_an_oversubscribed_config_stores_the_flag_and_the_report_marks_it(tmp_path: Path):
    cores = joblib.cpu_count()  # the cores the library counts: n_jobs=cores x 2 x 2 is 4 x the cores
    scenario = Scenario(learner="T", n_rows=500, n_variants=2, n_folds=2, base_model="lightgbm_small")
    oversubscribed, serial = ParallelConfig(cores, 2, 2, "threading"), ParallelConfig(1, 1, 1, "loky")
    db = tmp_path / "r.db"
    with Store(db) as store:
        run = store.start_run({}, "test", None)
        for config in (oversubscribed, serial):
            spec = TrialSpec("scenario", {"engine": "core", "scenario": scenario.to_dict(), "config": config.to_dict()},
                             repeats=2, timeout_s=120)
            trial = run_trial(spec)
            assert trial.ok, (trial.reason, trial.stderr_tail[-2000:])
            store.record_trial(run, "core", scenario, config, 0, trial)
    flags = load_fits(db).groupby("config_id").oversubscription.first()
    assert f"{4 * cores} threads in flight" in flags[oversubscribed.id] and f"on {cores} cores" in flags[oversubscribed.id]
    assert pd.isna(flags[serial.id])
    report = render_report(db)
    assert f"{oversubscribed.id} *" in report and f"{serial.id} *" not in report
    assert report.count("* oversubscribed:") == 1


def test_the_report_marks_flagged_configs_with_one_footnote():
    rows = pd.DataFrame(fit_rows(SERIAL, [10.0, 10.1, 9.9]) + fit_rows(FAST, [5.0, 5.1, 4.9]))
    rows["oversubscription"] = [WARNING if c == FAST.id else None for c in rows["config_id"]]
    (analysis,) = analyse(rows)
    assert analysis.table.set_index("config_id")["oversubscribed"].to_dict() == {FAST.id: True, SERIAL.id: False}
    for fmt in ("text", "md"):
        text = render([analysis], fmt=fmt)
        assert f"{FAST.id} *" in text and f"{SERIAL.id} *" not in text
        footnotes = [line for line in text.splitlines() if "* oversubscribed:" in line]
        assert len(footnotes) == 1 and FAST.id in footnotes[0] and "2 cores" in footnotes[0]
    # fits without the column (a DataFrame of an older reader) mark nothing
    plain = render(analyse(rows.drop(columns="oversubscription")))
    assert " *" not in plain and "oversubscribed" not in plain


def test_the_flag_is_stored_and_a_schema_2_file_gains_its_column(tmp_path: Path):
    db = tmp_path / "v2.db"
    conn = sqlite3.connect(db)
    conn.executescript(V1_SCHEMA)
    conn.executescript(f"""
        ALTER TABLE harness_tasks ADD COLUMN bins TEXT;
        PRAGMA user_version = 2;
        INSERT INTO harness_runs VALUES ('r1', 't0', 't1', 'sweep', 'x', 'host', '{{}}');
        INSERT INTO harness_trials (run_id, engine, scenario_id, learner, n_rows, n_features, n_variants,
            n_folds, base_model, outcome, effect, propensity, seed, scenario, config_id, model_n_jobs,
            n_jobs_cross_fitting, n_jobs_base_learners, backend, repeat, status, started_at, finished_at)
            VALUES ('r1', 'core', '{SCENARIO.id}', 'T', 2000, 5, 2, 2, 'lightgbm_small', 'linear', 'constant',
            'balanced', 0, '{{}}', 'm1-f1-s1-loky', 1, 1, 1, 'loky', 0, 'ok', 't0', 't1');
        INSERT INTO harness_fits (trial_id, fit_index, cold, wall_s, cpu_s, n_tasks) VALUES (1, 0, 1, 1.5, 2.0, 0);
    """)
    conn.close()
    assert load_fits(db).oversubscription.isna().all()  # read as it is: no reader writes
    config = ParallelConfig(2, 2, 2, "loky")
    with Store(db) as store:  # the writer migrates
        flagged = dataclasses.replace(result([fit(0), fit(1)]), oversubscription=WARNING)
        store.record_trial(store.start_run({}, "x", None), "core", SCENARIO, config, 0, flagged)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    assert "oversubscription" in table_columns(conn, "harness_trials")
    conn.close()
    fits = load_fits(db)
    flags = fits.drop_duplicates("trial_id").set_index("config_id").oversubscription
    assert pd.isna(flags["m1-f1-s1-loky"]) and flags[config.id] == WARNING  # the old trial: no flag
