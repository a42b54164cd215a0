"""The results store: one SQLite file (stdlib ``sqlite3``) holding raw measurements.

Tables (all prefixed ``harness_`` so that an Optuna study, whose RDB storage owns
tables such as ``studies`` and ``trials``, can live in the same file):

* ``harness_runs``   -- one row per sweep/tune/... invocation: command, preset,
  manifest at start and at end (JSON).
* ``harness_trials`` -- one row per trial (one fresh child process): engine, the
  scenario's fields, the parallel config, repeat number, status and reason of a
  failure (with the tail of its traceback), the trial's own wall and CPU figures.
* ``harness_fits``   -- one row per timed fit inside a trial (fit 0 is the cold
  warm-up): wall, CPU of the process tree, memory, CATE RMSE. Raw samples, never
  summaries.
* ``harness_tasks``  -- the task trace of a fit: one row per base-model fit (stage,
  model, fold, rows, start/end, pid/thread, threads it ran with).

Safety: the file is in WAL mode with a busy timeout, so several processes (two
sweeps, a sweep and a report) can use it at once; every trial is written in one
``BEGIN IMMEDIATE`` transaction, so a sweep killed at any moment (Ctrl-C, SIGKILL)
loses at most the trial in flight and never leaves a half-written trial or a
corrupt file. The schema version is ``PRAGMA user_version``.

Readers (:func:`load_fits`, :func:`load_tasks`, :func:`load_runs`, :func:`export`)
return pandas DataFrames. A parallel level of ``None`` (the library default) is
stored as NULL and read as NaN; ``config_id`` spells it "d" (or "default" for the
all-default config).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config import LEVELS, ParallelConfig
from harness.measure import available_cores

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from harness.trial import TrialResult
    from scenarios import Scenario

__all__ = [
    "SCHEMA_VERSION",
    "Store",
    "export",
    "load_all",
    "load_fits",
    "load_runs",
    "load_tasks",
]

#: ``PRAGMA user_version`` of the schema this module writes.
SCHEMA_VERSION = 1
#: How long a writer waits for another process's transaction (milliseconds).
BUSY_TIMEOUT_MS = 120_000
_SQLITE_MAGIC = b"SQLite format 3\x00"
_TRACEBACK_TAIL = 4000
_STDERR_TAIL = 2000

_SCHEMA = """
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
_CONFIG_FIELDS = (*LEVELS, "backend")
_TASK_FIELDS = (
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


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _check_db_file(path: Path, must_exist: bool) -> None:
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


def _connect(path: Path) -> sqlite3.Connection:
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


def _schema_version(conn: sqlite3.Connection, path: Path) -> int:
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


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _num(value: Any) -> float | None:
    """A float for SQLite, NaN/inf and None as NULL."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class Store:
    """A results database; see the module docstring for tables and guarantees.

    ``Store(path)`` creates the parent folder and the schema if missing, and raises
    ``ValueError`` with one line when ``path`` is a directory, not a SQLite file, or
    has a newer schema. Use it as a context manager or call :meth:`close`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        _check_db_file(self.path, must_exist=False)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ValueError(
                f"{self.path}: cannot create its folder {self.path.parent}: {e.strerror or e}"
            ) from None
        self._conn = _connect(self.path)
        try:
            self._init_schema()
        except BaseException:
            self._conn.close()
            raise

    def _init_schema(self) -> None:
        conn = self._conn
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.OperationalError as e:
            raise ValueError(f"{self.path}: cannot open the results database for writing: {e}") from None
        except sqlite3.DatabaseError as e:
            raise ValueError(f"{self.path}: is not a SQLite database: {e}") from None
        self.journal_mode = mode
        if _schema_version(conn, self.path) == SCHEMA_VERSION:
            return
        try:
            with self._transaction():
                if _schema_version(conn, self.path) < SCHEMA_VERSION:  # re-read under the lock
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.OperationalError as e:
            raise ValueError(f"{self.path}: cannot write the results database: {e}") from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front (no lock upgrade deadlocks)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- runs ------------------------------------------------------------------

    def start_run(self, manifest: dict, command: str, preset: str | None) -> str:
        """Record the start of a run; returns its id (``<UTC time>-<random>``)."""
        run_id = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO harness_runs (run_id, started_at, command, preset, hostname, manifest)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, _now(), command, preset, manifest.get("hostname"), _json(manifest)),
            )
        return run_id

    def finish_run(self, run_id: str, manifest: dict) -> None:
        """Mark a run finished and store its final manifest (e.g. ``finish_manifest``)."""
        with self._transaction() as conn:
            cur = conn.execute(
                "UPDATE harness_runs SET finished_at = ?, manifest = ? WHERE run_id = ?",
                (_now(), _json(manifest), run_id),
            )
            if cur.rowcount != 1:
                raise ValueError(f"run {run_id!r} is not in {self.path}")

    # -- trials ----------------------------------------------------------------

    def done(self) -> set[tuple[str, str, str, int]]:
        """(engine, scenario_id, config_id, repeat) of every recorded trial, ok or failed."""
        rows = self._conn.execute(
            "SELECT engine, scenario_id, config_id, repeat FROM harness_trials"
        ).fetchall()
        return {(e, s, c, int(r)) for e, s, c, r in rows}

    def record_trial(
        self,
        run_id: str,
        engine: str,
        scenario: Scenario,
        config: ParallelConfig,
        repeat: int,
        result: TrialResult,
    ) -> int:
        """Write one trial with all its fits and task traces in one transaction."""
        finished = _dt.datetime.now(_dt.timezone.utc)
        started = finished - _dt.timedelta(seconds=result.wall_s or 0.0)
        n_cores = result.n_cores
        if n_cores is None:  # the child died before reporting: it ran on this host
            n_cores = available_cores()
        failure_text = result.traceback or (result.stderr_tail if result.status == "failed" else None)
        trial_row = {
            "run_id": run_id,
            "engine": engine,
            "scenario_id": scenario.id,
            **{name: getattr(scenario, name) for name in SCENARIO_FIELDS},
            "scenario": _json(scenario.to_dict()),
            "config_id": config.id,
            **{name: getattr(config, name) for name in _CONFIG_FIELDS},
            "repeat": int(repeat),
            "status": result.status,
            "reason": result.reason,
            "traceback": failure_text[-_TRACEBACK_TAIL:] if failure_text else None,
            "stderr_tail": result.stderr_tail[-_STDERR_TAIL:] if result.stderr_tail else None,
            "exit_code": result.exit_code,
            "n_cores": n_cores,
            "hostname": result.hostname,
            "pid": result.pid,
            "n_fits_requested": result.spec.repeats,
            "timeout_s": _num(result.spec.timeout_s),
            "trial_wall_s": _num(result.wall_s),
            "trial_cpu_s": _num(result.trial_cpu_s),
            "worker_cpu_s": _num(result.worker_cpu_s),
            "sampler_cpu_s": _num(result.sampler_cpu_s),
            "prepare_s": _num(result.prepare_s),
            "mem_measure": result.mem_measure,
            "leftovers": _json(result.leftovers) if result.leftovers else None,
            "started_at": started.isoformat(timespec="milliseconds"),
            "finished_at": finished.isoformat(timespec="milliseconds"),
        }
        fit_rows, task_rows = [], []
        for sample in result.samples:
            extras = dict(sample.extras or {})
            tasks = extras.pop("tasks", None) or []
            cate = extras.pop("cate_rmse", None)
            fit_rows.append(
                (
                    sample.index,
                    int(sample.kind == "cold"),
                    _num(sample.wall_s),
                    _num(sample.cpu_s),
                    _num(sample.cpu_util),
                    _num(sample.peak_mem_mb),
                    _num(sample.base_mem_mb),
                    sample.mem_measure,
                    sample.mem_samples,
                    _num(sample.t_start),
                    _num(sample.t_end),
                    _num(cate),
                    len(tasks) if tasks else None,
                    _json(extras) if extras else None,
                )
            )
            for i, task in enumerate(tasks):
                task_rows.append((sample.index, i, *(task.get(name) for name in _TASK_FIELDS)))

        columns = ", ".join(trial_row)
        marks = ", ".join("?" for _ in trial_row)
        with self._transaction() as conn:
            cur = conn.execute(
                f"INSERT INTO harness_trials ({columns}) VALUES ({marks})", tuple(trial_row.values())
            )
            trial_id = int(cur.lastrowid)
            conn.executemany(
                "INSERT INTO harness_fits (trial_id, fit_index, cold, wall_s, cpu_s, cpu_util,"
                " peak_mem_mb, base_mem_mb, mem_measure, mem_samples, t_start, t_end, cate_rmse,"
                " n_tasks, extras) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(trial_id, *row) for row in fit_rows],
            )
            conn.executemany(
                f"INSERT INTO harness_tasks (trial_id, fit_index, task_index, {', '.join(_TASK_FIELDS)})"
                f" VALUES (?, ?, ?, {', '.join('?' for _ in _TASK_FIELDS)})",
                [(trial_id, *row) for row in task_rows],
            )
        return trial_id

    def has_trial(self, engine: str, scenario_id: str, config_id: str, repeat: int) -> bool:
        """Whether this measurement is recorded (by any run, any process)."""
        row = self._conn.execute(
            "SELECT 1 FROM harness_trials WHERE engine = ? AND scenario_id = ? AND config_id = ?"
            " AND repeat = ? LIMIT 1",
            (engine, scenario_id, config_id, int(repeat)),
        ).fetchone()
        return row is not None

    def counts(self) -> dict[str, int]:
        """How many runs, trials (and failed ones), fits and task rows are stored."""
        q = lambda sql: int(self._conn.execute(sql).fetchone()[0] or 0)  # noqa: E731
        return {
            "runs": q("SELECT COUNT(*) FROM harness_runs"),
            "trials": q("SELECT COUNT(*) FROM harness_trials"),
            "failed": q("SELECT SUM(status = 'failed') FROM harness_trials"),
            "fits": q("SELECT COUNT(*) FROM harness_fits"),
            "tasks": q("SELECT COUNT(*) FROM harness_tasks"),
        }

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------- readers


@contextmanager
def _reader(path: str | Path) -> Iterator[sqlite3.Connection]:
    path = Path(path)
    _check_db_file(path, must_exist=True)
    conn = _connect(path)
    try:
        version = _schema_version(conn, path)
        if version == 0:
            raise ValueError(f"{path}: is not a harness results database (no harness tables)")
        yield conn
    finally:
        conn.close()


_FITS_SQL = """
SELECT t.run_id, t.trial_id, t.engine, t.scenario_id,
       t.learner, t.n_rows, t.n_features, t.n_variants, t.n_folds, t.base_model,
       t.outcome, t.effect, t.propensity, t.seed,
       t.config_id, t.model_n_jobs, t.n_jobs_cross_fitting, t.n_jobs_base_learners, t.backend,
       t.repeat, f.fit_index, f.cold, t.status, t.reason,
       f.wall_s, f.cpu_s, f.cpu_util, f.peak_mem_mb, f.base_mem_mb,
       COALESCE(f.mem_measure, t.mem_measure) AS mem_measure, f.mem_samples,
       f.cate_rmse, f.n_tasks, t.n_cores,
       t.trial_wall_s, t.trial_cpu_s, t.prepare_s, t.exit_code, t.hostname, t.started_at
FROM harness_trials AS t
LEFT JOIN harness_fits AS f ON f.trial_id = t.trial_id
ORDER BY t.trial_id, f.fit_index
"""



def load_fits(path: str | Path) -> pd.DataFrame:
    """One row per fit, with its trial's engine, scenario fields and config.

    A failed trial that completed no fit gives one row with ``status`` "failed",
    its ``reason``, and NaN ``fit_index``/figures (``cold`` False). Fits that a
    failed trial did complete keep ``status`` "failed" too. ``cold`` marks fit 0 of
    a trial, the warm-up: leave it out of rankings. The three levels are float with
    NaN for the library default (``config_id`` says "d"/"default").
    """
    import pandas as pd

    with _reader(path) as conn:
        df = pd.read_sql_query(_FITS_SQL, conn)
    df["cold"] = df["cold"].fillna(0).astype(bool)
    for name in (*LEVELS, "fit_index", "wall_s", "cpu_s", "cpu_util", "peak_mem_mb",
                 "base_mem_mb", "mem_samples", "cate_rmse", "n_tasks", "n_cores",
                 "trial_wall_s", "trial_cpu_s", "prepare_s", "exit_code"):
        df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
    for name in ("trial_id", "n_rows", "n_features", "n_variants", "n_folds", "seed", "repeat"):
        df[name] = df[name].astype("int64")
    return df


_TASKS_SQL = """
SELECT k.trial_id, k.fit_index, t.engine, t.scenario_id, t.config_id, t.repeat,
       k.task_index, k.stage, k.model_kind, k.model_ord, k.fold, k.n_rows,
       k.start_s, k.end_s, k.t_start, k.pid, k.thread, k.model_n_jobs, k.openmp_threads,
       f.cold, t.run_id, t.n_cores, t.status
FROM harness_tasks AS k
JOIN harness_trials AS t ON t.trial_id = k.trial_id
LEFT JOIN harness_fits AS f ON f.trial_id = k.trial_id AND f.fit_index = k.fit_index
ORDER BY k.trial_id, k.fit_index, k.task_index
"""


def load_tasks(path: str | Path) -> pd.DataFrame:
    """One row per base-model fit of a recorded task trace (core engine only).

    ``fold`` is NaN for the overall model; ``start_s``/``end_s`` are relative to the
    fit's first task; ``cold`` tells whether the fit was the trial's warm-up.
    """
    import pandas as pd

    with _reader(path) as conn:
        df = pd.read_sql_query(_TASKS_SQL, conn)
    for name in ("fold", "model_n_jobs", "openmp_threads", "n_cores"):
        df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
    df["cold"] = df["cold"].fillna(0).astype(bool)
    return df


def load_runs(path: str | Path) -> pd.DataFrame:
    """One row per run: run_id, started_at, finished_at (None if it never finished),
    command, preset, hostname, manifest (a dict), n_trials."""
    import pandas as pd

    with _reader(path) as conn:
        df = pd.read_sql_query(
            "SELECT r.run_id, r.started_at, r.finished_at, r.command, r.preset, r.hostname,"
            " r.manifest, (SELECT COUNT(*) FROM harness_trials AS t WHERE t.run_id = r.run_id)"
            " AS n_trials FROM harness_runs AS r ORDER BY r.started_at, r.run_id",
            conn,
        )
    df["manifest"] = [json.loads(m) for m in df["manifest"]]
    return df


def load_all(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """(fits, tasks, runs) of a store; runs is None where that table cannot be read."""
    fits, tasks = load_fits(path), load_tasks(path)
    try:
        runs = load_runs(path)
    except Exception:  # noqa: BLE001 -- the runs table only decorates a report
        runs = None
    return fits, tasks, runs


def export(path: str | Path, fmt: str, out: Path) -> None:
    """Write :func:`load_fits` (one row per fit) to ``out`` as "csv" or "parquet"."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format {fmt!r} is not allowed; choose csv or parquet")
    df = load_fits(path)
    out = Path(out)
    if out.exists() and out.is_dir():
        raise ValueError(f"{out}: is a directory; give a file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{out}: cannot create its folder: {e.strerror or e}") from None
    if fmt == "csv":
        df.to_csv(out, index=False)
        return
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ValueError("parquet export needs pyarrow: pip install pyarrow") from None
    df.to_parquet(out, index=False)
