"""The store's schema: its tables and columns, and opening a file as a results database.

Everything both sides of the store agree on lives here: the DDL of the four
``harness_`` tables, the column lists the writer inserts and the readers select, the
schema version (``PRAGMA user_version``), and the checks that turn a path which
cannot be a results store (a directory, a text file, a newer schema) into one clear
error. Nothing here writes a trial or reads a DataFrame.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import sqlite3
import typing
from pathlib import Path
from typing import Any, NamedTuple

from harness.errors import UsageError
from harness.config import LEVELS

#: ``PRAGMA user_version`` of the schema this module writes. 2: the task trace's
#: ``bins``; 3: the trials' ``oversubscription``; 4: the trials' ``n_jobs_grid`` (a grid
#: search's level; NULL: a plain fit, or the search's default), ``machine`` and
#: ``host_manifest``, and predict trials (the trials' ``phase`` and ``batch_rows``, the
#: fits' latency and throughput) (older files are migrated by :func:`create_or_migrate`).
SCHEMA_VERSION = 4
#: How long a writer waits for another process's transaction (milliseconds).
BUSY_TIMEOUT_MS = 120_000
_SQLITE_MAGIC = b"SQLite format 3\x00"

#: The runs, trials and fits tables; the tasks table is :func:`tasks_ddl`.
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
    oversubscription     TEXT,           -- the library's OversubscriptionWarning in the trial, else NULL
    machine              TEXT,           -- machine type (CPU model, cores, memory), NULL: the run's machine
    host_manifest        TEXT,           -- JSON: the manifest of the host the trial ran on (cluster), NULL: the run's
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


class TaskColumn(NamedTuple):
    """A column of ``harness_tasks``: the ``TaskRecord`` field it holds, and how."""

    name: str
    field: str
    sql_type: str
    relative: bool  # the field minus the fit's first task start


#: The task columns that are not a ``TaskRecord`` field as it is: column -> (field,
#: relative to the fit's first task). Every other field is a column of its own name.
_DERIVED_TASK_COLUMNS = {"start_s": ("start", True), "end_s": ("end", True), "t_start": ("start", False)}
_SQL_TYPES = {int: "INTEGER", float: "REAL", str: "TEXT", bool: "INTEGER"}
#: The key of a task row, before its :func:`task_columns`.
_TASK_KEY = (
    "trial_id       INTEGER NOT NULL REFERENCES harness_trials(trial_id)",
    "fit_index      INTEGER NOT NULL",
    "task_index     INTEGER NOT NULL",
)


def _sql_type(owner: type, name: str, annotation: Any) -> str:
    """INTEGER/REAL/TEXT for ``int``, ``float``, ``str`` (optional or not)."""
    types = [t for t in typing.get_args(annotation) or (annotation,) if t is not type(None)]
    if len(types) != 1 or types[0] not in _SQL_TYPES:
        raise TypeError(
            f"{owner.__name__}.{name}: type {annotation} has no SQL column type in the "
            "results store (harness/store/schema.py); give the field int, float or str"
        )
    return _SQL_TYPES[types[0]]


@functools.cache
def task_columns() -> tuple[TaskColumn, ...]:
    """The columns of ``harness_tasks`` after its key: one per ``TaskRecord`` field.

    The one list of the task table -- the workload's task dicts (:func:`task_row`),
    the CREATE TABLE, its migration, the writer's INSERT and :func:`load_tasks` all
    come from it, so a new field of the trace is stored without another edit. The
    renames: ``start``/``end`` are stored as ``start_s``/``end_s``, seconds since the
    fit's first task, and ``start`` also as ``t_start`` (``time.monotonic()``, system
    wide); ``fold`` is NULL for the overall model. (Imported here, not at the top:
    ``import harness.store`` stays cheap for commands that never touch the tasks.)
    """
    from metalearners_core._execution import TaskRecord

    hints = typing.get_type_hints(TaskRecord)
    columns = []
    for f in dataclasses.fields(TaskRecord):
        sql_type = _sql_type(TaskRecord, f.name, hints[f.name])
        derived = [(name, rel) for name, (field, rel) in _DERIVED_TASK_COLUMNS.items() if field == f.name]
        for name, relative in derived or [(f.name, False)]:
            columns.append(TaskColumn(name, f.name, sql_type, relative))
    return tuple(columns)


def task_column_names() -> tuple[str, ...]:
    return tuple(c.name for c in task_columns())


def task_row(record: Any, origin: float) -> dict[str, Any]:
    """A ``TaskRecord`` as the task table stores it (``origin``: the fit's first start)."""
    row = {}
    for column in task_columns():
        value = getattr(record, column.field)
        row[column.name] = value - origin if column.relative else value
    return row


def tasks_ddl() -> str:
    """CREATE TABLE of ``harness_tasks`` (see :func:`task_columns`)."""
    lines = [*_TASK_KEY, *(f"{c.name:<14} {c.sql_type}" for c in task_columns())]
    lines.append("PRIMARY KEY (trial_id, fit_index, task_index)")
    body = ",\n    ".join(lines)
    return f"CREATE TABLE IF NOT EXISTS harness_tasks (\n    {body}\n)"


def table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def missing_task_columns(conn: sqlite3.Connection) -> list[TaskColumn]:
    """The task columns a file lacks: written by an older harness (bins: schema 1)."""
    present = set(table_columns(conn, "harness_tasks"))
    return [c for c in task_columns() if c.name not in present] if present else list(task_columns())


#: Trial columns added since schema 1, with their types: an older file gains them.
#: ``phase``: "fit" or "predict" (NULL in older rows: a fit); ``batch_rows``: the rows
#: of one predict call (NULL for a fit).
ADDED_TRIAL_COLUMNS = {"oversubscription": "TEXT", "n_jobs_grid": "INTEGER", "machine": "TEXT", "host_manifest": "TEXT",
                       "phase": "TEXT", "batch_rows": "INTEGER"}
#: Fit (value) columns added since schema 3: a predict value's figures over its calls
#: (NULL for a fit). The value's ``wall_s`` is the wall of the whole call batch.
ADDED_FIT_COLUMNS = {"latency_median_s": "REAL", "latency_p99_s": "REAL", "rows_per_s": "REAL"}
#: The phases a trial measures; NULL in the store is "fit" (rows written before schema 4).
PHASES = ("fit", "predict")


def create_or_migrate(conn: sqlite3.Connection) -> None:
    """Create what is missing, in the caller's write transaction, and set the version.

    A new file gets every table; an older one (schema 1 to 3) keeps its rows and gains
    the task, trial and fit columns it lacks (``ALTER TABLE ... ADD COLUMN``, NULL in its
    old rows).
    """
    for statement in filter(str.strip, SCHEMA.split(";")):
        conn.execute(statement)
    conn.execute(tasks_ddl())
    for column in missing_task_columns(conn):
        conn.execute(f"ALTER TABLE harness_tasks ADD COLUMN {column.name} {column.sql_type}")
    trial_columns = set(table_columns(conn, "harness_trials"))
    for name, sql_type in ADDED_TRIAL_COLUMNS.items():
        if name not in trial_columns:
            conn.execute(f"ALTER TABLE harness_trials ADD COLUMN {name} {sql_type}")
    fit_columns = set(table_columns(conn, "harness_fits"))
    for name, sql_type in ADDED_FIT_COLUMNS.items():
        if name not in fit_columns:
            conn.execute(f"ALTER TABLE harness_fits ADD COLUMN {name} {sql_type}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def check_db_file(path: Path, must_exist: bool) -> None:
    """One clear ``ValueError``/``FileNotFoundError`` for a path that cannot be a store."""
    if path.exists() and not path.is_file():
        raise UsageError(f"{path}: is a directory, not a results database file")
    if not path.exists():
        if must_exist:
            raise FileNotFoundError(f"{path}: no such results database")
        return
    try:
        with path.open("rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as e:
        raise UsageError(f"{path}: cannot read the results database: {e.strerror or e}") from None
    if head and head != _SQLITE_MAGIC:
        raise UsageError(f"{path}: is not a SQLite database (not a harness results store)")


def connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    except sqlite3.Error as e:
        raise UsageError(f"{path}: cannot open the results database: {e}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as e:
        conn.close()
        raise UsageError(f"{path}: is not a usable SQLite database: {e}") from None
    return conn


def schema_version(conn: sqlite3.Connection, path: Path) -> int:
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise UsageError(f"{path}: is not a SQLite database: {e}") from None
    if version > SCHEMA_VERSION:
        raise UsageError(
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


