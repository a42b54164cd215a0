"""Sweeps on a Dask cluster (``--cluster local:2``: two worker processes posing as two hosts).

Real sweeps of a tiny workload in subprocesses, real Dask workers, real trial children:
every planned trial recorded once, never two trials of one host at once, each host's
manifest with its trials, report and ``compare --by host``; a worker killed mid-trial
gives one failed and one re-run trial; a supervisor killed mid-sweep resumes. No timing
is checked (two workers on a 2-core box compete).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import psutil
import pytest

pytest.importorskip("distributed", reason="the cluster extra (dask[distributed]) is not installed")

from harness.cli import main  # noqa: E402
from harness.cluster import parse_address  # noqa: E402
from harness.errors import UsageError  # noqa: E402
from harness.store import load_fits, load_hosts, load_runs  # noqa: E402
from harness.trial_processes import TAG_ENV  # noqa: E402

from .conftest import SWEEP_MARK_ENV, finish, kill_marked, start_sweep, sweep_env  # noqa: E402
from .test_sweep import CONFIG_IDS, FAST, N, integrity, keys, n_trials, scenarios_file  # noqa: E402


def cluster_env(tmp_path: Path, mark: str) -> dict[str, str]:
    return {**sweep_env(tmp_path, mark), "HARNESS_DATA_DIR": str(tmp_path / "data")}


def trial_rows(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT engine, scenario_id, config_id, repeat, status, reason, hostname, started_at, finished_at,"
            " machine, host_manifest FROM harness_trials ORDER BY trial_id"
        ).fetchall()
    finally:
        conn.close()


def test_cluster_addresses_are_checked():
    assert parse_address("local:2") == ("local", 2)
    assert parse_address("tcp://10.0.0.5:8786") == ("tcp://10.0.0.5:8786", None)
    assert parse_address("10.0.0.5:8786") == ("tcp://10.0.0.5:8786", None)
    for bad in ("local:0", "local:x", "myhost", "tcp://host"):
        with pytest.raises(UsageError, match="--cluster"):
            parse_address(bad)


def test_sweep_on_two_hosts_killed_and_resumed(tmp_path: Path, capsys, monkeypatch):
    """The supervisor SIGKILLed mid-sweep, then the same command: every planned trial once,
    one host's trials never overlapping, a manifest per host, report and compare --by host;
    then recommend re-measures the leaders on the cluster."""
    toml = scenarios_file(tmp_path, "one", '[[scenario]]\nlearner = "T"\n')
    db = tmp_path / "c.db"
    args = ("--scenarios", str(toml), "--db", str(db), "--repeats", "2", *FAST, "--cluster", "local:2")
    mark = "cluster-" + os.urandom(6).hex()
    proc = start_sweep(tmp_path, *args, env=cluster_env(tmp_path, mark))
    deadline = time.monotonic() + 180
    while n_trials(db) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the supervisor and its local cluster, mid-sweep
    proc.communicate()
    kill_marked(mark)
    before = keys(db)
    assert 1 <= len(before) < 2 * N, "the sweep was not killed mid-way"
    assert integrity(db) == "ok"

    rc, _, err = finish(start_sweep(tmp_path, *args, env=cluster_env(tmp_path, mark)), timeout=300)
    kill_marked(mark)
    assert rc == 0, err[-3000:]
    assert f"{2 * N - len(before)} of {2 * N} trials" in err
    after = keys(db)
    assert len(after) == 2 * N and len({k[:4] for k in after}) == 2 * N  # every planned trial once
    assert after[: len(before)] == before  # nothing recorded was lost or rewritten
    assert all(k[5] == "ok" for k in after), after
    assert sorted({k[2] for k in after}) == CONFIG_IDS

    rows = trial_rows(db)
    hosts = sorted({r[6] for r in rows})
    assert len(hosts) == 2, hosts  # two workers, two "hosts"
    for host in hosts:  # one trial at a time per host, from the stored spans
        spans = sorted((r[7], r[8]) for r in rows if r[6] == host)
        assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:])), spans
    assert all(r[9] and r[10] for r in rows)  # each trial carries its machine type and host manifest
    listed = load_hosts(db)
    assert sorted(listed.hostname) == hosts
    for h in listed.itertuples():
        assert h.manifest["hostname"] == h.hostname
        assert h.manifest["cpu_model"] and h.manifest["cores_available"] >= 1
        assert h.manifest["packages"]["lightgbm"] and h.manifest["memory_total_mb"] > 0
    fits = load_fits(db)
    assert fits.machine.notna().all() and fits.hostname.isin(hosts).all()
    for host in hosts:  # the data was generated on each host, into its own cache
        assert any((tmp_path / f"data.{host}").glob("*.npz")), host
    finished = load_runs(db).dropna(subset=["finished_at"]).iloc[-1]["manifest"]["sweep"]
    assert finished["cluster"] == {"address": "local:2", "hosts": 2}

    capsys.readouterr()
    assert main(["report", "--db", str(db)]) == 0
    assert "m1-f1-s1-loky" in capsys.readouterr().out
    assert main(["compare", "--db", str(db), "--by", "host"]) == 0
    out = capsys.readouterr().out
    assert all(host in out for host in hosts) and "Machine types side by side" in out
    assert listed.machine.iloc[0] in out and "fastest" in out

    monkeypatch.setenv("HARNESS_LOCK_FILE", str(tmp_path / "recommend.lock"))
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "data"))  # the posing hosts' caches: data.<host>
    assert main(["recommend", "--scenario", after[0][1], "--db", str(db), "--cluster", "local:2", "--top", "2",
                 "--repeats", "2", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["recommended"]["config_id"] in CONFIG_IDS and rec["samples"].startswith("re-measured")
    remeasured = [r for r in trial_rows(db)[len(rows):]]
    assert len(remeasured) >= 2 * 2 and {r[6] for r in remeasured} <= set(hosts)  # on the posing hosts
    assert all(r[4] == "ok" and r[10] for r in remeasured)


def _trial_child_of_a_worker(mark: str) -> psutil.Process | None:
    for p in psutil.process_iter(["environ"]):
        env = p.info["environ"] or {}
        if env.get(SWEEP_MARK_ENV) == mark and TAG_ENV in env:
            try:
                return p.parent()
            except psutil.Error:
                return None
    return None


def test_a_worker_lost_mid_trial_is_recorded_and_requeued_once(tmp_path: Path):
    toml = scenarios_file(tmp_path, "one", '[[scenario]]\nlearner = "T"\n')
    db = tmp_path / "k.db"
    mark = "lost-" + os.urandom(6).hex()
    proc = start_sweep(tmp_path, "--scenarios", str(toml), "--db", str(db), "--repeats", "1", *FAST,
                       "--cluster", "local:2", env=cluster_env(tmp_path, mark))
    deadline, worker = time.monotonic() + 180, None
    while worker is None and proc.poll() is None and time.monotonic() < deadline:
        worker = _trial_child_of_a_worker(mark)
        time.sleep(0.02)
    assert worker is not None, "no trial started on a worker"
    worker.kill()  # the host dies mid-trial (its trial child dies with it)
    rc, _, err = finish(proc, timeout=300)
    kill_marked(mark)
    assert rc == 0, err[-3000:]
    rows = trial_rows(db)
    failed = [r for r in rows if r[4] == "failed"]
    assert len(failed) == 1 and failed[0][5].startswith("worker lost"), failed
    again = [r for r in rows if r[:4] == failed[0][:4] and r[4] == "ok"]
    assert len(again) == 1  # re-queued once, and it ran
    assert len(rows) == N + 1 and len({r[:4] for r in rows}) == N  # every other trial once
    assert "re-queued once on another host" in err


def test_the_worker_command_joins_a_scheduler_ready_for_trials(tmp_path: Path):
    """``python -m harness worker --scheduler tcp://...``: one thread, host=1, no memory limit;
    a sweep with ``--cluster tcp://...`` runs its trials there."""
    import subprocess
    import sys

    from distributed import Client, LocalCluster

    mark = "worker-" + os.urandom(6).hex()
    env = cluster_env(tmp_path, mark)
    with LocalCluster(n_workers=0, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        worker = subprocess.Popen(
            [sys.executable, "-m", "harness", "worker", "--scheduler", cluster.scheduler_address, "--name", "host-a"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            client.wait_for_workers(1, timeout=120)
            (info,) = client.scheduler_info()["workers"].values()
            assert info["name"] == "host-a" and info["nthreads"] == 1
            assert info["resources"] == {"host": 1} and not info["memory_limit"]
            toml = scenarios_file(tmp_path, "one", '[[scenario]]\nlearner = "T"\n')
            db = tmp_path / "w.db"
            rc, _, err = finish(start_sweep(tmp_path, "--scenarios", str(toml), "--db", str(db), "--repeats", "1",
                                            *FAST, "--cluster", cluster.scheduler_address, env=env), timeout=300)
            assert rc == 0, err[-3000:]
            assert len(keys(db)) == N and all(k[5] == "ok" for k in keys(db))
            assert set(load_fits(db).hostname) == {os.uname().nodename}  # the real host's name
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
            kill_marked(mark)


def test_a_data_file_reaches_a_host_as_bytes_keyed_by_its_content(tmp_path: Path, monkeypatch):
    """The worker side of a data file on a host that lacks it: the bytes sent once are kept
    under their content hash and converted into that host's cache; other bytes are refused."""
    import numpy as np
    import pandas as pd

    from harness.cluster import _file_on_host
    from scenarios import load_data
    from scenarios.files import file_scenario

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"]).assign(
        w=rng.integers(0, 2, 300), y=rng.normal(size=300))
    path = tmp_path / "events.csv"
    frame.to_csv(path, index=False)
    scenario = file_scenario({"learner": "T", "n_folds": 2, "base_model": "lightgbm_small",
                              "data": {"path": str(path), "outcome": "y", "treatment": "w"}},
                             cache_dir=tmp_path / "supervisor-cache")
    sent = path.read_bytes()
    path.rename(tmp_path / "gone.csv")  # the host does not have the file
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "host-cache"))
    with pytest.raises(ValueError, match="not on this host"):
        _file_on_host(scenario, None)
    with pytest.raises(ValueError, match="another content"):
        _file_on_host(scenario, sent.replace(b"\n", b"\n\n", 1) + b"0,0,0,0,0\n")
    _file_on_host(scenario, sent)
    stored = list((tmp_path / "host-cache" / "files").glob("*/events.csv"))
    assert len(stored) == 1 and stored[0].read_bytes() == sent and stored[0].parent.name == scenario.data.content[:16]
    on_host = load_data(scenario)  # from the host's cache, as the trial's child loads it
    here = load_data(scenario, cache_dir=tmp_path / "supervisor-cache")
    assert np.array_equal(np.asarray(on_host.y), np.asarray(here.y)) and len(on_host.y) > 0


def test_a_sweep_on_a_data_file_sends_it_to_each_host(tmp_path: Path):
    """``sweep --data FILE --cluster local:2``: each posing host gets the file as bytes (never
    its path), keeps it under its content hash and converts it into its own cache."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"]).assign(
        w=rng.integers(0, 2, 300), y=rng.normal(size=300))
    path = tmp_path / "events.csv"
    frame.to_csv(path, index=False)
    mark = "file-" + os.urandom(6).hex()
    db = tmp_path / "f.db"
    rc, _, err = finish(start_sweep(
        tmp_path, "--data", str(path), "--outcome", "y", "--treatment", "w", "--learner", "T", "--folds", "2",
        "--model", "lightgbm_small", "--db", str(db), "--repeats", "1", *FAST, "--cluster", "local:2",
        env=cluster_env(tmp_path, mark)), timeout=300)
    kill_marked(mark)
    assert rc == 0, err[-3000:]
    rows = trial_rows(db)
    assert len(rows) == N and all(r[4] == "ok" for r in rows), rows
    for host in {r[6] for r in rows}:  # every host that ran a trial got the bytes once, by content
        (kept,) = (tmp_path / f"data.{host}" / "files").glob("*/events.csv")
        assert kept.read_bytes() == path.read_bytes()
