"""The readers of a results store: DataFrames of its fits, tasks and runs, and the export.

Read-only: a reader never creates or migrates a file (a missing path is a
``FileNotFoundError``, a file without harness tables a ``ValueError``). Each reader
joins a table with its trial's identity (engine, scenario, config, repeat) and fixes
the dtypes: a parallel level of ``None`` (the library default) is NaN, ``cold`` a bool.
:func:`export` writes :func:`load_fits` as CSV or Parquet.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import UsageError
from harness.config import LEVELS
from harness.store.schema import check_db_file, connect, schema_version, table_columns, task_column_names

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["export", "load_all", "load_fits", "load_hosts", "load_runs", "load_tasks"]


@contextmanager
def _reader(path: str | Path) -> Iterator[sqlite3.Connection]:
    path = Path(path)
    check_db_file(path, must_exist=True)
    conn = connect(path)
    try:
        version = schema_version(conn, path)
        if version == 0:
            raise UsageError(f"{path}: is not a harness results database (no harness tables)")
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
       f.cate_rmse, json_extract(f.extras, '$.evaluate') AS evaluate, f.n_tasks, t.n_cores,
       t.trial_wall_s, t.trial_cpu_s, t.prepare_s, t.exit_code, t.hostname, t.started_at,
       {oversubscription}, {n_jobs_grid}, {machine}, b.bins_built, b.bins_copied, {predict}
FROM harness_trials AS t
LEFT JOIN harness_fits AS f ON f.trial_id = t.trial_id
LEFT JOIN ({bins}) AS b ON b.trial_id = f.trial_id AND b.fit_index = f.fit_index
ORDER BY t.trial_id, f.fit_index
"""
#: Per fit, how many of its tasks built LightGBM bins and how many copied them.
_BINS_SQL = (
    "SELECT trial_id, fit_index, SUM(bins = 'built') AS bins_built, SUM(bins = 'copied') AS bins_copied"
    " FROM harness_tasks GROUP BY trial_id, fit_index"
)
_NO_BINS_SQL = "SELECT NULL AS trial_id, NULL AS fit_index, NULL AS bins_built, NULL AS bins_copied"


#: The predict columns (schema 4), NULL where an older file lacks them.
_PREDICT_TRIAL_COLUMNS = ("phase", "batch_rows")
_PREDICT_FIT_COLUMNS = ("latency_median_s", "latency_p99_s", "rows_per_s")


def _predict_sql(conn: sqlite3.Connection) -> str:
    trials, fits = set(table_columns(conn, "harness_trials")), set(table_columns(conn, "harness_fits"))
    parts = [f"t.{n}" if n in trials else f"NULL AS {n}" for n in _PREDICT_TRIAL_COLUMNS]
    parts += [f"f.{n}" if n in fits else f"NULL AS {n}" for n in _PREDICT_FIT_COLUMNS]
    return ", ".join(parts)


def load_fits(path: str | Path, phase: str | None = "fit") -> pd.DataFrame:
    """One row per fit, with its trial's engine, scenario fields and config.

    A failed trial that completed no fit gives one row with ``status`` "failed",
    its ``reason``, and NaN ``fit_index``/figures (``cold`` False). Fits that a
    failed trial did complete keep ``status`` "failed" too. ``cold`` marks fit 0 of
    a trial, the warm-up: leave it out of rankings. The three levels are float with
    NaN for the library default (``config_id`` says "d"/"default"). ``oversubscription``
    is the library's warning in the trial (None where it gave none, and before schema 3);
    ``n_jobs_grid`` a grid search's fourth level (NaN for a plain fit, and before schema 4).
    ``machine`` is the machine type the trial ran on (its host's on a cluster, else its run's).

    ``phase``: "fit" (default: the fit trials, also those stored before schema 4, whose
    ``phase`` is NULL), "predict" (predict trials: each row one value, a batch of
    ``batch_rows``-row predict calls, with its ``latency_median_s``, ``latency_p99_s``
    and ``rows_per_s``) or None (every trial: the export).
    """
    import pandas as pd

    with _reader(path) as conn:
        has_bins = "bins" in table_columns(conn, "harness_tasks")
        trial_columns = table_columns(conn, "harness_trials")
        has_flag = "oversubscription" in trial_columns
        sql = _FITS_SQL.format(
            bins=_BINS_SQL if has_bins else _NO_BINS_SQL,
            oversubscription="t.oversubscription" if has_flag else "NULL AS oversubscription",
            n_jobs_grid="t.n_jobs_grid" if "n_jobs_grid" in trial_columns else "NULL AS n_jobs_grid",
            machine="t.machine" if "machine" in trial_columns else "NULL AS machine",
            predict=_predict_sql(conn),
        )
        df = pd.read_sql_query(sql, conn)
        df["machine"] = _machines(conn, df)
    df["phase"] = df["phase"].fillna("fit")  # rows written before schema 4 are fits
    if phase is not None:
        if phase not in ("fit", "predict"):
            raise UsageError(f"phase={phase!r} is not allowed; choose fit or predict")
        df = df[df["phase"] == phase].reset_index(drop=True)
    df["cold"] = df["cold"].fillna(0).astype(bool)
    for name in (*LEVELS, "n_jobs_grid", "fit_index", "wall_s", "cpu_s", "cpu_util", "peak_mem_mb",
                 "base_mem_mb", "mem_samples", "cate_rmse", "n_tasks", "n_cores",
                 "trial_wall_s", "trial_cpu_s", "prepare_s", "exit_code", "bins_built", "bins_copied",
                 "batch_rows", *_PREDICT_FIT_COLUMNS):
        df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
    for name in ("trial_id", "n_rows", "n_features", "n_variants", "n_folds", "seed", "repeat"):
        df[name] = df[name].astype("int64")
    return df


def _machines(conn: sqlite3.Connection, df: pd.DataFrame) -> pd.Series:
    """Each row's machine type; where the trial has none (before schema 4), its run's."""
    from harness.manifest import machine_type

    missing = df["machine"].isna()
    if not missing.any():
        return df["machine"]
    runs = {run_id: machine_type(json.loads(text)) for run_id, text in
            conn.execute("SELECT run_id, manifest FROM harness_runs")}
    return df["machine"].where(~missing, df["run_id"].map(runs))


def load_hosts(path: str | Path) -> pd.DataFrame:
    """One row per host that ran trials: hostname, machine (type), manifest (a dict: the
    host's own on a cluster, else its run's), n_trials, first and last trial start."""
    import pandas as pd

    with _reader(path) as conn:
        columns = table_columns(conn, "harness_trials")
        own = "t.host_manifest" if "host_manifest" in columns else "NULL"
        rows = conn.execute(
            f"SELECT t.hostname, COALESCE({own}, r.manifest), COUNT(*), MIN(t.started_at), MAX(t.started_at)"
            " FROM harness_trials AS t JOIN harness_runs AS r ON r.run_id = t.run_id"
            " GROUP BY t.hostname ORDER BY t.hostname"
        ).fetchall()
    from harness.manifest import machine_type

    records = []
    for hostname, manifest, n, first, last in rows:
        manifest = json.loads(manifest) if manifest else {}
        records.append({"hostname": hostname, "machine": machine_type(manifest), "manifest": manifest,
                        "n_trials": int(n), "first_started_at": first, "last_started_at": last})
    return pd.DataFrame(records, columns=["hostname", "machine", "manifest", "n_trials", "first_started_at",
                                          "last_started_at"])


def _tasks_sql(conn: sqlite3.Connection) -> str:
    """The task table's columns (:func:`task_columns`), NULL where an older file
    that no writer has migrated yet lacks one (``bins`` in schema 1)."""
    present = set(table_columns(conn, "harness_tasks"))
    columns = ", ".join(f"k.{n}" if n in present else f"NULL AS {n}" for n in task_column_names())
    return f"""
SELECT k.trial_id, k.fit_index, t.engine, t.scenario_id, t.config_id, t.repeat,
       k.task_index, {columns},
       f.cold, t.run_id, t.n_cores, t.status
FROM harness_tasks AS k
JOIN harness_trials AS t ON t.trial_id = k.trial_id
LEFT JOIN harness_fits AS f ON f.trial_id = k.trial_id AND f.fit_index = k.fit_index
ORDER BY k.trial_id, k.fit_index, k.task_index
"""


def load_tasks(path: str | Path) -> pd.DataFrame:
    """One row per base-model fit of a recorded task trace (core engine only).

    ``fold`` is NaN for the overall model; ``start_s``/``end_s`` are relative to the
    fit's first task; ``cold`` tells whether the fit was the trial's warm-up;
    ``bins`` says whether a LightGBM model's binned data was "built" or "copied"
    (None for other models, and in files written before schema 2).
    """
    import pandas as pd

    with _reader(path) as conn:
        df = pd.read_sql_query(_tasks_sql(conn), conn)
    for name in ("fold", "model_n_jobs", "openmp_threads", "n_cores"):
        df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
    df["cold"] = df["cold"].fillna(0).astype(bool)
    return df


def load_runs(path: str | Path, include_empty: bool = False) -> pd.DataFrame:
    """One row per run: run_id, started_at, finished_at (None if it never finished),
    command, preset, hostname, manifest (a dict), n_trials.

    A run that recorded no trial (interrupted before its first, or it had nothing to
    measure) is not a run of the results: left out unless ``include_empty``."""
    import pandas as pd

    with _reader(path) as conn:
        df = pd.read_sql_query(
            "SELECT r.run_id, r.started_at, r.finished_at, r.command, r.preset, r.hostname,"
            " r.manifest, (SELECT COUNT(*) FROM harness_trials AS t WHERE t.run_id = r.run_id)"
            " AS n_trials FROM harness_runs AS r ORDER BY r.started_at, r.run_id",
            conn,
        )
    if not include_empty:
        df = df[df["n_trials"] > 0].reset_index(drop=True)
    df["manifest"] = [json.loads(m) for m in df["manifest"]]
    return df


def load_all(path: str | Path, phase: str = "fit") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """(fits, tasks, runs) of a store (the trials of ``phase``); runs is None where that table cannot be read."""
    fits, tasks = load_fits(path, phase), load_tasks(path)
    try:
        runs = load_runs(path)
    except Exception:  # noqa: BLE001 -- the runs table only decorates a report
        runs = None
    return fits, tasks, runs


#: The file name extensions each export format is recognised by.
EXPORT_SUFFIXES = {"csv": (".csv",), "parquet": (".parquet", ".pq")}


def export(path: str | Path, fmt: str, out: Path) -> bool:
    """Write :func:`load_fits` (one row per fit) to ``out`` as "csv" or "parquet".

    An ``out`` whose extension names the other format is refused (a Parquet file
    named ``m.csv`` would mislead every later reader); missing parent folders are
    created; an existing file is replaced. Returns whether a file was replaced.
    """
    from harness.paths import out_file

    if fmt not in EXPORT_SUFFIXES:
        raise UsageError(f"format {fmt!r} is not allowed; choose csv or parquet")
    suffix = Path(out).suffix.lower()
    other = next((f for f, suffixes in EXPORT_SUFFIXES.items() if f != fmt and suffix in suffixes), None)
    if other is not None:
        raise UsageError(
            f"--format {fmt} with --out {out}: its extension {suffix} says {other}; "
            f"name the file {Path(out).with_suffix(EXPORT_SUFFIXES[fmt][0]).name} or use --format {other}"
        )
    df = load_fits(path, phase=None)  # every trial, fit and predict (its phase column says which)
    out = out_file(out)
    existed = out.exists()
    if fmt == "csv":
        df.to_csv(out, index=False)
        return existed
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UsageError("parquet export needs pyarrow: pip install pyarrow") from None
    df.to_parquet(out, index=False)
    return existed
