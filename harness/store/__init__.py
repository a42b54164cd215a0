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

Modules: :mod:`~harness.store.schema` (the tables and their columns, opening a file,
its schema version), :mod:`~harness.store.writer` (:class:`Store`, the one writer)
and :mod:`~harness.store.readers` (the DataFrames and the export).
"""

from harness.store.readers import export, load_all, load_fits, load_hosts, load_runs, load_tasks
from harness.store.schema import SCENARIO_FIELDS, SCHEMA_VERSION
from harness.store.writer import Store

__all__ = [
    "SCENARIO_FIELDS",
    "SCHEMA_VERSION",
    "Store",
    "export",
    "load_all",
    "load_fits",
    "load_hosts",
    "load_runs",
    "load_tasks",
]
