"""tune on a cluster, two tune processes sharing one study on a real PostgreSQL server.

Each process is what a second machine would run: its own results database, its own
cluster (``local:1``), the same ``--storage postgresql://...`` and ``--study``. Together
they finish with the trials asked, no config measured twice, and ``recommend`` reads
the study. No timing is checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the cluster extra (dask[distributed]) is not installed")
pytest.importorskip("psycopg", reason="the cluster extra (psycopg) is not installed")

import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from harness.store import load_fits  # noqa: E402
from harness.tune.storage import is_shared, storage_url  # noqa: E402

from .conftest import kill_marked, sweep_env  # noqa: E402
from .postgres_server import postgres_url  # noqa: E402,F401 -- the fixture

SCENARIO = "learner=T,n_rows=300,n_features=3,n_folds=2,base_model=lightgbm_small"
REPO = Path(__file__).resolve().parents[2]


def test_storage_urls():
    assert storage_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert storage_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert storage_url("sqlite:///x.db") == "sqlite:///x.db" and storage_url(None) is None
    assert is_shared("postgresql+psycopg://u@h/db") and not is_shared("sqlite:///x.db") and not is_shared(None)


def _tune(tmp_path: Path, name: str, url: str, mark: str) -> subprocess.Popen:
    env = {**sweep_env(tmp_path, mark), "HARNESS_LOCK_FILE": str(tmp_path / f"{name}.lock")}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "tune", "--scenario", SCENARIO, "--db", str(tmp_path / f"{name}.db"),
         "--storage", url, "--study", "shared", "--trials", "2", "--repeats", "1", "--values", "1",
         "--levels", "1,2", "--backends", "loky", "--cluster", "local:1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO, start_new_session=True,
    )


def test_two_tune_processes_share_one_postgres_study(tmp_path: Path, postgres_url: str, capsys):  # noqa: F811
    mark = "tune-" + os.urandom(6).hex()
    # Optuna's tables made once first: two processes creating them at the same instant can
    # collide in PostgreSQL's catalog (a first tune process makes them in real use).
    optuna.storages.RDBStorage(storage_url(postgres_url)).engine.dispose()
    procs = [_tune(tmp_path, name, postgres_url, mark) for name in ("a", "b")]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=400)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, 9)
        kill_marked(mark)
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-3000:] for o in outs)

    study = optuna.load_study(study_name="shared", storage=storage_url(postgres_url))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    configs = [t.params["config"] for t in complete]
    assert len(complete) == 4, [(t.number, t.state, t.params, t.user_attrs.get("reason")) for t in study.trials]
    assert len(set(configs)) == 4  # no config measured twice
    others = [t for t in study.trials if t.state != TrialState.COMPLETE]
    assert all(t.state == TrialState.FAIL and t.user_attrs.get("reason", "").startswith("duplicate") for t in others), (
        "\n".join(f"{t.number} {t.state.name} {t.params} {t.user_attrs.get('reason')} {t.system_attrs}" for t in study.trials))
    measured = [load_fits(tmp_path / f"{n}.db") for n in ("a", "b")]
    stored = sorted(c for f in measured for c in f.drop_duplicates("trial_id").config_id)
    assert stored == sorted(configs)  # each process recorded what it measured, in its own store
    assert all(f.hostname.nunique() == 1 and f.machine.notna().all() for f in measured)

    from harness.cli import main

    capsys.readouterr()
    rc = main(["recommend", "--scenario", SCENARIO, "--db", str(tmp_path / "empty.db"), "--storage", postgres_url,
               "--study", "shared", "--no-remeasure", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    rec = json.loads(out.out)
    assert rec["recommended"]["config_id"] in configs
    leaders = {c["config_id"] for c in rec["candidates"]}
    assert len(leaders) == 3 and leaders <= set(configs)  # the top 3 of the study's configs
    assert "from the study in" in out.err


def test_a_config_another_process_runs_is_never_measured_again(tmp_path: Path):
    """The race two processes of one study can run into, set up by hand: ``auto`` RUNNING
    (another process measures it) and queued once more. The cluster tune tells the queued
    one FAIL as a duplicate, unmeasured, and measures the next config instead."""
    from harness.engines import supports
    from harness.measure import available_cores
    from harness.tune.space import PARAM, search_space

    ids = [c.id for c in search_space(available_cores(), [1, 2], ("loky",)) if supports("core", c)]
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=url, study_name="dup")
    study.enqueue_trial({PARAM: "auto"})
    other = study.ask()  # another process's trial, in flight
    assert other.suggest_categorical(PARAM, ids) == "auto"
    study.enqueue_trial({PARAM: "auto"})  # ...queued again by a process that did not see it yet

    mark = "dup-" + os.urandom(6).hex()
    env = {**sweep_env(tmp_path, mark), "HARNESS_LOCK_FILE": str(tmp_path / "dup.lock")}
    done = subprocess.run(
        [sys.executable, "-m", "harness", "tune", "--scenario", SCENARIO, "--db", str(tmp_path / "dup.db"),
         "--storage", url, "--study", "dup", "--trials", "1", "--repeats", "1", "--values", "1",
         "--levels", "1,2", "--backends", "loky", "--cluster", "local:1"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )
    kill_marked(mark)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    trials = optuna.load_study(study_name="dup", storage=url).trials
    duplicate = [t for t in trials if t.user_attrs.get("reason", "").startswith("duplicate")]
    assert len(duplicate) == 1 and duplicate[0].params[PARAM] == "auto" and duplicate[0].state == TrialState.FAIL
    complete = [t.params[PARAM] for t in trials if t.state == TrialState.COMPLETE]
    assert complete == ["m1-f1-s1-loky"]  # the next baseline, measured instead
    assert set(load_fits(tmp_path / "dup.db").config_id) == {"m1-f1-s1-loky"}  # auto was not measured here


def test_duplicate_baselines_nobody_asked_for_are_told_fail_and_others_stay_queued(tmp_path: Path):
    """Two processes that opened the study at once both queued ``auto``; one copy ran. The
    copy left WAITING is told FAIL as a duplicate; a queued config nobody ran stays queued."""
    from harness.tune.ask_tell import _drop_queued_duplicates
    from harness.tune.space import PARAM

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=url, study_name="queue")
    for config_id in ("auto", "auto", "default"):
        study.enqueue_trial({PARAM: config_id})
    ran = study.ask()
    ran.suggest_categorical(PARAM, ["auto", "default"])
    study.tell(ran, 1.0)
    _drop_queued_duplicates(study, url)
    states = {t.number: (t.state, t.user_attrs.get("reason", "")) for t in study.trials}
    assert states[0] == (TrialState.COMPLETE, "")
    assert states[1][0] == TrialState.FAIL and states[1][1].startswith("duplicate")
    assert states[2] == (TrialState.WAITING, "")
