"""One trial at a time per host: a sweep and a tune started at once take turns,
proven from the trial start/end times their stores record."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from pathlib import Path

from .conftest import finish, start_sweep, sweep_env
from .test_sweep import FAST, N, scenarios_file
from .test_tune import TINY

REPO = Path(__file__).resolve().parents[2]


def _spans(db: Path) -> list[tuple[dt.datetime, dt.datetime]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT started_at, finished_at FROM harness_trials").fetchall()
    return [(dt.datetime.fromisoformat(a), dt.datetime.fromisoformat(b)) for a, b in rows]


def test_a_sweep_and_a_tune_started_at_once_never_overlap(tmp_path):
    env = sweep_env(tmp_path)  # one private host lock file for both
    toml = scenarios_file(tmp_path, "one", '[[scenario]]\nlearner = "T"\nseed = 1\n')
    sweep_db, tune_db = tmp_path / "sweep.db", tmp_path / "tune.db"
    sweep = start_sweep(tmp_path, "--scenarios", str(toml), "--db", str(sweep_db), "--repeats", "2", *FAST, env=env)
    tune = subprocess.Popen(
        [sys.executable, "-m", "harness", "tune", "--scenario", TINY, "--trials", "3", "--repeats", "1",
         "--levels", "1", "--backends", "loky", "--db", str(tune_db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env, cwd=REPO,
    )
    rc, _, err = finish(sweep, timeout=300)
    assert rc == 0, err[-3000:]
    rc, _, err = finish(tune, timeout=300)
    assert rc == 0, err[-3000:]
    sweep_spans, tune_spans = _spans(sweep_db), _spans(tune_db)
    assert len(sweep_spans) == 2 * N and len(tune_spans) == 3  # both measured
    spans = sorted(sweep_spans + tune_spans)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end, f"two trials overlapped: one ended {end}, the next started {start}"
    # and they did run interleaved in time, not one command after the other
    assert min(s for s, _ in tune_spans) < max(e for _, e in sweep_spans)
