"""The one writer of a results store: :class:`Store`.

A :class:`Store` opens (or creates) the file in WAL mode with a busy timeout, writes
each run's start and finish, and each trial -- its row, its fits and their task
traces -- in one ``BEGIN IMMEDIATE`` transaction, so that concurrent sweeps share a
file and a sweep killed at any moment leaves no half-written trial. It also answers
what is already recorded (:meth:`Store.done`), which is what a sweep plans against.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import UsageError
from harness.config import ParallelConfig
from harness.measure import available_cores
from harness.store.schema import (
    ADDED_FIT_COLUMNS,
    CONFIG_FIELDS,
    SCENARIO_FIELDS,
    SCHEMA_VERSION,
    check_db_file,
    connect,
    create_or_migrate,
    missing_task_columns,
    num,
    schema_version,
    task_column_names,
    to_json,
)

if TYPE_CHECKING:  # pragma: no cover
    from harness.trial import TrialResult
    from scenarios import Scenario

__all__ = ["Store"]

_TRACEBACK_TAIL = 4000
_STDERR_TAIL = 2000


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


class Store:
    """A results database; see :mod:`harness.store` for tables and guarantees.

    ``Store(path)`` creates the parent folder and the schema if missing, and raises
    ``ValueError`` with one line when ``path`` is a directory, not a SQLite file, or
    has a newer schema. Use it as a context manager or call :meth:`close`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        check_db_file(self.path, must_exist=False)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(
                f"{self.path}: cannot create its folder {self.path.parent}: {e.strerror or e}"
            ) from None
        self._conn = connect(self.path)
        self._run_machines: dict[str, str | None] = {}  # run id -> the machine type of its manifest
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
            raise UsageError(f"{self.path}: cannot open the results database for writing: {e}") from None
        except sqlite3.DatabaseError as e:
            raise UsageError(f"{self.path}: is not a SQLite database: {e}") from None
        self.journal_mode = mode
        if self._up_to_date():
            return
        try:
            with self._transaction():
                if not self._up_to_date():  # re-read under the lock
                    create_or_migrate(conn)
        except sqlite3.OperationalError as e:
            raise UsageError(f"{self.path}: cannot write the results database: {e}") from None

    def _up_to_date(self) -> bool:
        """This schema version, and a column for every task field (a field added to
        ``TaskRecord`` since the file was written gets its column at the next open)."""
        return schema_version(self._conn, self.path) == SCHEMA_VERSION and not missing_task_columns(self._conn)

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
        from harness.manifest import machine_type

        run_id = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
        self._run_machines[run_id] = machine_type(manifest)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO harness_runs (run_id, started_at, command, preset, hostname, manifest)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, _now(), command, preset, manifest.get("hostname"), to_json(manifest)),
            )
        return run_id

    def finish_run(self, run_id: str, manifest: dict) -> None:
        """Mark a run finished and store its final manifest (e.g. ``finish_manifest``)."""
        with self._transaction() as conn:
            cur = conn.execute(
                "UPDATE harness_runs SET finished_at = ?, manifest = ? WHERE run_id = ?",
                (_now(), to_json(manifest), run_id),
            )
            if cur.rowcount != 1:
                raise UsageError(f"run {run_id!r} is not in {self.path}")

    # -- trials ----------------------------------------------------------------

    def done(self, cores: int | None = None) -> set[tuple[str, str, str, int]]:
        """(engine, scenario_id, config_id, repeat) of every recorded fit trial, ok or failed
        (with ``cores``: only those measured on that many cores, a ``--cores`` sweep's)."""
        on_cores = "" if cores is None else f" AND n_cores = {int(cores)}"
        rows = self._conn.execute(
            "SELECT DISTINCT engine, scenario_id, config_id, repeat FROM harness_trials"
            " WHERE (phase IS NULL OR phase = 'fit')" + on_cores
        ).fetchall()
        return set(rows)

    def done_predict(self) -> set[tuple[str, str, str, int, int]]:
        """(engine, scenario_id, config_id, batch_rows, repeat) of every recorded predict trial."""
        rows = self._conn.execute(
            "SELECT DISTINCT engine, scenario_id, config_id, batch_rows, repeat FROM harness_trials"
            " WHERE phase = 'predict'"
        ).fetchall()
        return set(rows)

    def record_trial(
        self,
        run_id: str,
        engine: str,
        scenario: Scenario,
        config: ParallelConfig,
        repeat: int,
        result: TrialResult,
        host_manifest: dict | None = None,
        *,
        phase: str = "fit",
        batch_rows: int | None = None,
    ) -> int:
        """Write one trial with all its fits and task traces in one transaction.

        ``host_manifest``: the manifest of the host the trial ran on, where that is not
        the run's machine (a cluster); its machine type is the trial's ``machine``.
        ``phase`` "predict": a predict trial (``config`` a :class:`~harness.predict_config.PredictConfig`)
        on batches of ``batch_rows`` rows; each of its values is one batch of calls."""
        from harness.manifest import machine_type

        wall = _dt.timedelta(seconds=result.wall_s or 0.0)
        if result.started_at is not None:  # the trial's own span, not the time of recording
            started = _dt.datetime.fromtimestamp(result.started_at, _dt.timezone.utc)
            finished = started + wall
        else:
            finished = _dt.datetime.now(_dt.timezone.utc)
            started = finished - wall
        n_cores = result.n_cores
        if n_cores is None:  # the child died before reporting: it ran on this host
            n_cores = available_cores()
        failure_text = result.traceback or (result.stderr_tail if result.status == "failed" else None)
        trial_row = {
            "run_id": run_id,
            "engine": engine,
            "scenario_id": scenario.id,
            **{name: getattr(scenario, name) for name in SCENARIO_FIELDS},
            "scenario": to_json(scenario.to_dict()),
            "config_id": config.id,
            **{name: getattr(config, name) for name in CONFIG_FIELDS},
            "backend": getattr(config, "backend_name", config.backend),  # a predict config's may be the library's
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
            "timeout_s": num(result.spec.timeout_s),
            "trial_wall_s": num(result.wall_s),
            "trial_cpu_s": num(result.trial_cpu_s),
            "worker_cpu_s": num(result.worker_cpu_s),
            "sampler_cpu_s": num(result.sampler_cpu_s),
            "prepare_s": num(result.prepare_s),
            "mem_measure": result.mem_measure,
            "leftovers": to_json(result.leftovers) if result.leftovers else None,
            "oversubscription": result.oversubscription,
            "n_jobs_grid": getattr(config, "n_jobs_grid", None),  # a grid search's level (NULL: a plain fit, a predict)
            "machine": machine_type(host_manifest) if host_manifest else self._run_machines.get(run_id),
            "host_manifest": to_json(host_manifest) if host_manifest else None,
            "phase": phase,
            "batch_rows": batch_rows,
            "started_at": started.isoformat(timespec="milliseconds"),
            "finished_at": finished.isoformat(timespec="milliseconds"),
        }
        fit_rows, task_rows = [], []
        task_names = task_column_names()
        for sample in result.samples:
            extras = dict(sample.extras or {})
            tasks = extras.pop("tasks", None) or []
            cate = extras.pop("cate_rmse", None)
            predict_figures = [num(extras.pop(name, None)) for name in ADDED_FIT_COLUMNS]
            fit_rows.append(
                (
                    sample.index,
                    int(sample.kind == "cold"),
                    num(sample.wall_s),
                    num(sample.cpu_s),
                    num(sample.cpu_util),
                    num(sample.peak_mem_mb),
                    num(sample.base_mem_mb),
                    sample.mem_measure,
                    sample.mem_samples,
                    num(sample.t_start),
                    num(sample.t_end),
                    num(cate),
                    len(tasks) if tasks else None,
                    to_json(extras) if extras else None,
                    *predict_figures,
                )
            )
            for i, task in enumerate(tasks):
                unknown = set(task) - set(task_names)
                if unknown:  # a trace the table cannot hold: say so, never drop it
                    raise UsageError(f"task {i} of fit {sample.index} has fields with no column: {sorted(unknown)}")
                task_rows.append((sample.index, i, *(task.get(name) for name in task_names)))

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
                f" n_tasks, extras, {', '.join(ADDED_FIT_COLUMNS)})"
                f" VALUES ({', '.join('?' for _ in range(15 + len(ADDED_FIT_COLUMNS)))})",
                [(trial_id, *row) for row in fit_rows],
            )
            conn.executemany(
                f"INSERT INTO harness_tasks (trial_id, fit_index, task_index, {', '.join(task_names)})"
                f" VALUES (?, ?, ?, {', '.join('?' for _ in task_names)})",
                [(trial_id, *row) for row in task_rows],
            )
        return trial_id

    def has_trial(self, engine: str, scenario_id: str, config_id: str, repeat: int, cores: int | None = None,
                  batch_rows: int | None = None) -> bool:
        """Whether this measurement is recorded (by any run, any process; with ``cores``: on that
        many cores); with ``batch_rows``, the predict trial on batches of that size."""
        on_cores = "" if cores is None else f" AND n_cores = {int(cores)}"
        phase = "(phase IS NULL OR phase = 'fit')" if batch_rows is None else "phase = 'predict' AND batch_rows = ?"
        row = self._conn.execute(
            "SELECT 1 FROM harness_trials WHERE engine = ? AND scenario_id = ? AND config_id = ?"
            f" AND repeat = ? AND {phase}" + on_cores + " LIMIT 1",
            (engine, scenario_id, config_id, int(repeat), *(() if batch_rows is None else (int(batch_rows),))),
        ).fetchone()
        return row is not None

    def counts(self) -> dict[str, int]:
        """How many runs (that recorded a trial), trials (and failed ones), fits and task rows are stored."""
        q = lambda sql: int(self._conn.execute(sql).fetchone()[0] or 0)  # noqa: E731
        return {
            "runs": q("SELECT COUNT(DISTINCT run_id) FROM harness_trials"),
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
