"""The results store: schema, atomic trials, concurrent writers, readers and export.

No trial is run here: results are built by hand, so these tests take a second.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.config import ParallelConfig
from harness.store import SCHEMA_VERSION, Store, export, load_fits, load_runs, load_tasks
from harness.store.schema import table_columns, task_column_names, task_columns, task_row
from metalearners_core._execution import TaskRecord
from harness.trial import FitSample, TrialResult, TrialSpec
from scenarios import Scenario

SCENARIO = Scenario(learner="T", n_rows=2000, n_variants=2, n_folds=2, base_model="lightgbm_small")
SERIAL = ParallelConfig(1, 1, 1, "loky")
MIXED = ParallelConfig(2, None, 1, "threading")

EXPORT_COLUMNS = [
    "run_id", "engine", "scenario_id", "learner", "n_rows", "n_features", "n_variants",
    "n_folds", "base_model", "model_n_jobs", "n_jobs_cross_fitting", "n_jobs_base_learners",
    "backend", "repeat", "cold", "status", "wall_s", "cpu_s", "peak_mem_mb", "cate_rmse",
    "bins_built", "bins_copied", "n_jobs_grid",
]
FITS_COLUMNS = EXPORT_COLUMNS + [
    "trial_id", "outcome", "effect", "propensity", "seed", "config_id", "fit_index",
    "reason", "cpu_util", "mem_measure", "n_cores",
]
TASKS_COLUMNS = [
    "trial_id", "fit_index", "engine", "scenario_id", "config_id", "repeat", "stage",
    "model_kind", "model_ord", "fold", "n_rows", "start_s", "end_s", "t_start", "pid", "thread",
    "model_n_jobs", "openmp_threads", "bins", "worker",
]


# The DDL of schema version 1, as the harness wrote it before the trace's ``bins``.
V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS harness_runs (
    run_id       TEXT PRIMARY KEY,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    command      TEXT,
    preset       TEXT,
    hostname     TEXT,
    manifest     TEXT NOT NULL          -- JSON: the manifest at start, replaced at finish
);
CREATE TABLE IF NOT EXISTS harness_trials (
    trial_id             INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id               TEXT NOT NULL REFERENCES harness_runs(run_id),
    engine               TEXT NOT NULL,
    scenario_id          TEXT NOT NULL,
    learner              TEXT NOT NULL,
    n_rows               INTEGER NOT NULL,
    n_features           INTEGER NOT NULL,
    n_variants           INTEGER NOT NULL,
    n_folds              INTEGER NOT NULL,
    base_model           TEXT NOT NULL,
    outcome              TEXT NOT NULL,
    effect               TEXT NOT NULL,
    propensity           TEXT NOT NULL,
    seed                 INTEGER NOT NULL,
    scenario             TEXT NOT NULL,  -- JSON: Scenario.to_dict()
    config_id            TEXT NOT NULL,
    model_n_jobs         INTEGER,        -- NULL: library default
    n_jobs_cross_fitting INTEGER,
    n_jobs_base_learners INTEGER,
    backend              TEXT NOT NULL,
    repeat               INTEGER NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    reason               TEXT,
    traceback            TEXT,           -- tail of the traceback / stderr of a failure
    stderr_tail          TEXT,
    exit_code            INTEGER,
    n_cores              INTEGER,
    hostname             TEXT,
    pid                  INTEGER,
    n_fits_requested     INTEGER,
    timeout_s            REAL,
    trial_wall_s         REAL,           -- the whole child: start-up, imports, prepare, fits
    trial_cpu_s          REAL,           -- rusage of the reaped child tree
    worker_cpu_s         REAL,
    sampler_cpu_s        REAL,
    prepare_s            REAL,
    mem_measure          TEXT,
    leftovers            TEXT,           -- JSON list of processes killed after the trial
    started_at           TEXT NOT NULL,
    finished_at          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS harness_trials_key
    ON harness_trials (engine, scenario_id, config_id, repeat);
CREATE INDEX IF NOT EXISTS harness_trials_run ON harness_trials (run_id);
CREATE TABLE IF NOT EXISTS harness_fits (
    trial_id     INTEGER NOT NULL REFERENCES harness_trials(trial_id),
    fit_index    INTEGER NOT NULL,
    cold         INTEGER NOT NULL,       -- 1: the first fit of the trial (warm-up)
    wall_s       REAL NOT NULL,
    cpu_s        REAL NOT NULL,
    cpu_util     REAL,
    peak_mem_mb  REAL,
    base_mem_mb  REAL,
    mem_measure  TEXT,
    mem_samples  INTEGER,
    t_start      REAL,
    t_end        REAL,
    cate_rmse    REAL,
    n_tasks      INTEGER,
    extras       TEXT,                   -- JSON: the fit's other extras (not the tasks)
    PRIMARY KEY (trial_id, fit_index)
);
CREATE TABLE IF NOT EXISTS harness_tasks (
    trial_id       INTEGER NOT NULL REFERENCES harness_trials(trial_id),
    fit_index      INTEGER NOT NULL,
    task_index     INTEGER NOT NULL,
    stage          TEXT,
    model_kind     TEXT,
    model_ord      INTEGER,
    fold           INTEGER,              -- NULL: the overall model
    n_rows         INTEGER,
    start_s        REAL,                 -- relative to the fit's first task
    end_s          REAL,
    t_start        REAL,                 -- time.monotonic()
    pid            INTEGER,
    thread         INTEGER,
    model_n_jobs   INTEGER,
    openmp_threads INTEGER,
    PRIMARY KEY (trial_id, fit_index, task_index)
);
"""


def task(stage: str, kind: str, ordinal: int, fold: int | None, start: float, bins: str | None = None) -> dict:
    """A task dict as the scenario workload builds it: from a ``TaskRecord``."""
    record = TaskRecord(
        stage=stage, model_kind=kind, model_ord=ordinal, fold=fold, n_rows=1000, start=100.0 + start,
        end=100.1 + start, pid=4242, thread=140000000000001, model_n_jobs=2, openmp_threads=2, bins=bins,
    )
    return task_row(record, origin=100.0)


def fit(index: int, wall: float = 1.0, tasks: bool = True) -> FitSample:
    extras: dict = {"cate_rmse": 0.25 + index}
    if tasks:
        extras["tasks"] = [task("outcome", "variant_outcome_model", 0, 0, 0.0, "built"),
                           task("outcome", "variant_outcome_model", 0, None, 0.1, "copied")]
    return FitSample(
        index=index, kind="cold" if index == 0 else "warm", wall_s=wall, cpu_s=1.5 * wall,
        cpu_util=0.75, peak_mem_mb=300.0 + index, base_mem_mb=200.0, mem_measure="pss",
        mem_samples=10, t_start=100.0 + 2 * index, t_end=101.0 + 2 * index, extras=extras,
    )


def result(samples: list[FitSample], status: str = "ok", reason: str | None = None, n_cores: int | None = 2) -> TrialResult:
    return TrialResult(
        spec=TrialSpec("scenario", {}, repeats=2, timeout_s=60.0), status=status, reason=reason,
        samples=samples, pid=1234, hostname="host", n_cores=n_cores, exit_code=0 if status == "ok" else -9,
        wall_s=3.0, prepare_s=0.01, trial_cpu_s=4.0, worker_cpu_s=3.9, mem_measure="pss",
        sampler_cpu_s=0.1, traceback=None if status == "ok" else "Traceback ...\nValueError: boom",
    )


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A store with a run, two ok trials (with traces) and one failed trial without fits."""
    db = tmp_path / "sub" / "results.db"  # the parent folder is created
    with Store(db) as store:
        run = store.start_run({"hostname": "host", "cores_available": 2}, "sweep --preset x", "x")
        store.record_trial(run, "core", SCENARIO, SERIAL, 0, result([fit(0, 1.2), fit(1, 1.0)]))
        store.record_trial(run, "core", SCENARIO, MIXED, 0, result([fit(0, 0.9), fit(1, 0.7)]))
        store.record_trial(run, "core", SCENARIO, ParallelConfig(), 0,
                           result([], "failed", "timeout after 0.5s", n_cores=None))
        store.finish_run(run, {"hostname": "host", "cores_available": 2, "timestamp_end": "t"})
    return db


def test_schema_wal_and_version(filled: Path):
    conn = sqlite3.connect(filled)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"harness_runs", "harness_trials", "harness_fits", "harness_tasks"} <= tables
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_load_fits_one_row_per_fit_and_failed_trial(filled: Path):
    df = load_fits(filled)
    assert set(FITS_COLUMNS) <= set(df.columns)
    assert len(df) == 5  # 2 + 2 fits, and one row for the trial that completed none
    ok = df[df.status == "ok"]
    assert ok.cold.tolist() == [True, False, True, False] and df.cold.dtype == bool
    assert ok.wall_s.tolist() == [1.2, 1.0, 0.9, 0.7]
    assert ok.cate_rmse.tolist() == [0.25, 1.25, 0.25, 1.25]
    failed = df[df.status == "failed"].iloc[0]
    assert failed.reason == "timeout after 0.5s" and failed.config_id == "default"
    assert np.isnan(failed.wall_s) and np.isnan(failed.fit_index) and not failed.cold
    assert failed.n_cores >= 1  # the child died before reporting: this host's cores
    # library defaults stay NaN, with "d" / "default" in the id
    mixed = df[df.config_id == "m2-fd-s1-threading"].iloc[0]
    assert mixed.model_n_jobs == 2 and np.isnan(mixed.n_jobs_cross_fitting) and mixed.n_jobs_base_learners == 1
    assert df[df.config_id == "default"][["model_n_jobs", "n_jobs_cross_fitting", "n_jobs_base_learners"]].isna().all().all()
    assert (df.scenario_id == SCENARIO.id).all() and (df.learner == "T").all()


def test_load_tasks_and_runs(filled: Path):
    tasks = load_tasks(filled)
    assert set(TASKS_COLUMNS) <= set(tasks.columns)
    assert len(tasks) == 8  # 2 tasks x 2 fits x 2 ok trials
    assert tasks.fold.isna().sum() == 4  # the overall models
    assert (tasks.thread == 140000000000001).all()
    assert tasks.start_s.tolist() == pytest.approx([0.0, 0.1] * 4) and tasks.t_start.tolist() == pytest.approx([100.0, 100.1] * 4)
    assert tasks.bins.tolist() == ["built", "copied"] * 4
    runs = load_runs(filled)
    assert len(runs) == 1 and runs.preset[0] == "x" and runs.command[0] == "sweep --preset x"
    assert runs.manifest[0]["timestamp_end"] == "t" and runs.finished_at[0] is not None
    assert runs.n_trials[0] == 3


def test_task_columns_are_the_task_record_fields(filled: Path):
    # One list: every TaskRecord field has its column (a new field cannot be dropped on
    # the way), the table has no other, and a workload's task dict is exactly a row.
    fields = [f.name for f in dataclasses.fields(TaskRecord)]
    assert [c.field for c in task_columns() if c.name != "t_start"] == fields
    renamed = {"start": "start_s", "end": "end_s"}
    assert task_column_names() == tuple(
        name for f in fields for name in ([renamed[f], "t_start"] if f == "start" else [renamed.get(f, f)])
    )
    conn = sqlite3.connect(filled)
    assert table_columns(conn, "harness_tasks") == ["trial_id", "fit_index", "task_index", *task_column_names()]
    types = {row[1]: row[2] for row in conn.execute("PRAGMA table_info(harness_tasks)")}
    conn.close()
    assert types["fold"] == "INTEGER" and types["start_s"] == "REAL" and types["bins"] == "TEXT"
    assert set(load_tasks(filled).columns) >= set(task_column_names())
    assert list(task("s", "k", 0, None, 0.0)) == list(task_column_names())


def test_a_task_field_without_a_column_is_refused(tmp_path: Path):
    sample = fit(0)
    sample.extras["tasks"][0]["bogus"] = 1
    with Store(tmp_path / "r.db") as store:
        run = store.start_run({}, "x", None)
        with pytest.raises(ValueError, match="bogus"):
            store.record_trial(run, "core", SCENARIO, SERIAL, 0, result([sample]))
        assert store.counts()["trials"] == 0


def test_a_schema_1_file_is_migrated_without_losing_rows(tmp_path: Path):
    db = tmp_path / "v1.db"
    conn = sqlite3.connect(db)
    conn.executescript(V1_SCHEMA)
    conn.executescript(f"""
        PRAGMA user_version = 1;
        INSERT INTO harness_runs VALUES ('r1', 't0', 't1', 'sweep', 'x', 'host', '{{}}');
        INSERT INTO harness_trials (run_id, engine, scenario_id, learner, n_rows, n_features, n_variants,
            n_folds, base_model, outcome, effect, propensity, seed, scenario, config_id, model_n_jobs,
            n_jobs_cross_fitting, n_jobs_base_learners, backend, repeat, status, started_at, finished_at)
            VALUES ('r1', 'core', '{SCENARIO.id}', 'T', 2000, 5, 2, 2, 'lightgbm_small', 'linear', 'constant',
            'balanced', 0, '{{}}', 'm1-f1-s1-loky', 1, 1, 1, 'loky', 0, 'ok', 't0', 't1');
        INSERT INTO harness_fits (trial_id, fit_index, cold, wall_s, cpu_s, n_tasks) VALUES (1, 0, 1, 1.5, 2.0, 1);
        INSERT INTO harness_tasks VALUES (1, 0, 0, 'outcome', 'variant_outcome_model', 0, NULL, 1000,
            0.0, 0.5, 100.0, 4242, 7, 2, 2);
    """)
    conn.close()
    # read as it is (no reader writes): no bins yet
    assert load_tasks(db).bins.isna().all() and np.isnan(load_fits(db).bins_built[0])
    with Store(db) as store:  # the writer migrates
        assert store.done() == {("core", SCENARIO.id, "m1-f1-s1-loky", 0)}
        store.record_trial(store.start_run({}, "x", None), "core", SCENARIO, MIXED, 0, result([fit(0), fit(1)]))
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    assert {"oversubscription", "n_jobs_grid", "machine", "host_manifest", "phase", "batch_rows"} <= set(
        table_columns(conn, "harness_trials"))
    assert set(task_column_names()) <= set(table_columns(conn, "harness_tasks"))
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    tasks = load_tasks(db)
    old = tasks[tasks.trial_id == 1].iloc[0]
    assert (old.stage, old.n_rows, old.end_s, old.t_start, old.thread) == ("outcome", 1000, 0.5, 100.0, 7)
    assert pd.isna(old.bins) and np.isnan(old.fold)
    assert tasks[tasks.trial_id == 2].bins.tolist() == ["built", "copied"] * 2
    fits = load_fits(db)
    assert fits.wall_s.tolist() == [1.5, 1.0, 1.0] and fits.bins_copied.tolist()[1:] == [1.0, 1.0]


def test_done_and_has_trial(filled: Path):
    with Store(filled) as store:
        assert store.done() == {
            ("core", SCENARIO.id, "m1-f1-s1-loky", 0),
            ("core", SCENARIO.id, "m2-fd-s1-threading", 0),
            ("core", SCENARIO.id, "default", 0),  # failed trials count as done
        }
        assert store.has_trial("core", SCENARIO.id, "default", 0)
        assert not store.has_trial("core", SCENARIO.id, "default", 1)
        assert store.counts() == {"runs": 1, "trials": 3, "failed": 1, "fits": 4, "tasks": 8}


def test_a_trial_is_written_whole_or_not_at_all(filled: Path):
    bad = result([fit(0), fit(0)])  # the same fit index twice: the fit insert fails
    with Store(filled) as store:
        run = store.start_run({}, "x", None)
        with pytest.raises(sqlite3.IntegrityError):
            store.record_trial(run, "core", SCENARIO, SERIAL, 7, bad)
        assert store.counts()["trials"] == 3  # no trial row without its fits
        store.record_trial(run, "core", SCENARIO, SERIAL, 7, result([fit(0), fit(1)]))  # still usable
        assert store.counts()["trials"] == 4


def _writer(db: str, engine: str, n: int) -> None:
    store = Store(db)
    run = store.start_run({"writer": engine}, f"writer {engine}", None)
    for repeat in range(n):
        store.record_trial(run, engine, SCENARIO, SERIAL, repeat, result([fit(0), fit(1)]))
    store.finish_run(run, {"writer": engine})
    store.close()


def test_concurrent_writers_both_succeed(tmp_path: Path):
    db = str(tmp_path / "shared.db")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(db, engine, 40)) for engine in ("core", "metalearners")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    df = load_fits(db)
    assert df.groupby("engine").trial_id.nunique().to_dict() == {"core": 40, "metalearners": 40}
    assert len(load_runs(db)) == 2 and load_runs(db).finished_at.notna().all()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_bad_paths(tmp_path: Path):
    with pytest.raises(ValueError, match="is a directory"):
        Store(tmp_path)
    text = tmp_path / "notes.db"
    text.write_text("not a database at all, just some text\n")
    with pytest.raises(ValueError, match="not a SQLite database"):
        Store(text)
    assert text.read_text() == "not a database at all, just some text\n"
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ValueError, match="cannot create its folder"):
        Store(afile / "sub" / "r.db")
    with pytest.raises(FileNotFoundError):
        load_fits(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()  # reading never creates a store
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(ValueError, match="not a harness results database"):
        load_fits(other)


def test_newer_schema_is_refused(filled: Path):
    conn = sqlite3.connect(filled)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ValueError, match="newer"):
        Store(filled)


def test_optuna_tables_can_share_the_file(filled: Path):
    conn = sqlite3.connect(filled)  # Optuna's RDB storage owns a table named "trials"
    conn.execute("CREATE TABLE trials (trial_id INTEGER PRIMARY KEY, number INTEGER)")
    conn.commit()
    conn.close()
    assert len(load_fits(filled)) == 5


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export(filled: Path, tmp_path: Path, fmt: str):
    out = tmp_path / "out" / f"fits.{fmt}"
    export(filled, fmt, out)
    df = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    assert set(EXPORT_COLUMNS) <= set(df.columns)
    assert len(df) == len(load_fits(filled)) == 5
    assert df.model_n_jobs.isna().sum() == 1  # the default config's trial
    assert df.bins_built.tolist()[:4] == df.bins_copied.tolist()[:4] == [1.0] * 4
    assert np.isnan(df.bins_built[4])  # the failed trial: no fit, no trace
    with pytest.raises(ValueError, match="format"):
        export(filled, "xlsx", tmp_path / "x.xlsx")


def test_each_trial_keeps_its_machine_type_and_host_manifest(tmp_path: Path):
    """A trial measured on another host (a cluster) keeps that host's manifest and machine
    type; one measured here gets its run's machine type."""
    from dataclasses import replace

    from harness.manifest import collect_manifest, machine_type
    from harness.store import load_hosts

    here = collect_manifest()
    there = {**here, "hostname": "big-host", "cpu_model": "Other CPU", "cores_available": 64,
             "memory_total_mb": 262144.0}
    db = tmp_path / "m.db"
    with Store(db) as store:
        run = store.start_run(here, "sweep", None)
        store.record_trial(run, "core", SCENARIO, SERIAL, 0, replace(result([fit(0), fit(1)]), hostname=here["hostname"]))
        store.record_trial(run, "core", SCENARIO, SERIAL, 1, replace(result([fit(0), fit(1)]), hostname="big-host"),
                           host_manifest=there)
    machines = load_fits(db).groupby("trial_id").machine.first().tolist()
    assert machines == [machine_type(here), "Other CPU, 64 cores, 256 GiB"] and machines[0] != machines[1]
    hosts = load_hosts(db).set_index("hostname")
    assert hosts.loc["big-host", "manifest"]["cpu_model"] == "Other CPU"
    assert hosts.loc[here["hostname"], "machine"] == machine_type(here)
    assert hosts.n_trials.tolist() == [1, 1]
