"""The store's schema: its tables and columns, and opening a file as a results database.

Everything both sides of the store agree on lives here: the DDL of the four
``harness_`` tables, the column lists the writer inserts and the readers select, the
schema version (``PRAGMA user_version``), and the checks that turn a path which
cannot be a results store (a directory, a text file, a newer schema) into one clear
error. Nothing here writes a trial or reads a DataFrame.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

from harness.config import LEVELS

#: ``PRAGMA user_version`` of the schema this module writes.
SCHEMA_VERSION = 1
#: How long a writer waits for another process's transaction (milliseconds).
BUSY_TIMEOUT_MS = 120_000
_SQLITE_MAGIC = b"SQLite format 3\x00"

SCHEMA = """
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

SCENARIO_FIELDS = (
    "learner",
    "n_rows",
    "n_features",
    "n_variants",
    "n_folds",
    "base_model",
    "outcome",
    "effect",
    "propensity",
    "seed",
)
CONFIG_FIELDS = (*LEVELS, "backend")
TASK_FIELDS = (
    "stage",
    "model_kind",
    "model_ord",
    "fold",
    "n_rows",
    "start_s",
    "end_s",
    "t_start",
    "pid",
    "thread",
    "model_n_jobs",
    "openmp_threads",
)


def check_db_file(path: Path, must_exist: bool) -> None:
    """One clear ``ValueError``/``FileNotFoundError`` for a path that cannot be a store."""
    if path.exists() and not path.is_file():
        raise ValueError(f"{path}: is a directory, not a results database file")
    if not path.exists():
        if must_exist:
            raise FileNotFoundError(f"{path}: no such results database")
        return
    try:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as e:
        raise ValueError(f"{path}: cannot read the results database: {e.strerror or e}") from None
    if head and head != _SQLITE_MAGIC:
        raise ValueError(f"{path}: is not a SQLite database (not a harness results store)")


def connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error as e:
        raise ValueError(f"{path}: cannot open the results database: {e}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as e:
        conn.close()
        raise ValueError(f"{path}: is not a usable SQLite database: {e}") from None
    return conn


def schema_version(conn: sqlite3.Connection, path: Path) -> int:
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise ValueError(f"{path}: is not a SQLite database: {e}") from None
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"{path}: results schema version {version} is newer than this harness "
            f"understands ({SCHEMA_VERSION}); update the project"
        )
    return version


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def num(value: Any) -> float | None:
    """A float for SQLite, NaN/inf and None as NULL."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


