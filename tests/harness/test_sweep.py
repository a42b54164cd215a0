"""``python -m harness sweep``: real sweeps of tiny scenarios in subprocesses.

Each scenario here fits in a fraction of a second; a trial costs about the start-up
of its child (1-2 s on 2 cores), so every sweep is a handful of trials.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.config import ParallelConfig, config_grid
from harness.measure import available_cores
from harness.store import load_fits, load_runs, load_tasks
from harness.sweep import plan_trials
from scenarios import Scenario

from .conftest import finish, kill_marked, run_sweep_cli, start_sweep, sweep_env

TINY = """
    # tiny: a test workload
    [defaults]
    n_rows = 300
    n_features = 3
    n_variants = 2
    n_folds = 2
    base_model = "lightgbm_small"
"""
# --levels 1 --backends loky: the library default, auto and m1-f1-s1-loky.
FAST = ("--levels", "1", "--backends", "loky", "--no-report")
CONFIG_IDS = sorted(c.id for c in config_grid(available_cores(), [1], ("loky",)))
N = len(CONFIG_IDS)  # trials per scenario and repeat


def scenarios_file(tmp_path: Path, name: str, entries: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(textwrap.dedent(TINY) + textwrap.dedent(entries))
    return path


def keys(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT engine, scenario_id, config_id, repeat, trial_id, status FROM harness_trials ORDER BY trial_id"
    ).fetchall()
    conn.close()
    return rows


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def n_trials(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM harness_trials").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0  # the schema is not written yet


# ------------------------------------------------------------------------ planning


def test_plan_interleaves_repeats_and_keeps_scenarios_grouped():
    scenarios = [Scenario(learner=lrn, n_rows=300, n_variants=2, n_folds=2, base_model="lightgbm_small") for lrn in "ST"]
    configs = [ParallelConfig(), ParallelConfig(1, 1, 1), ParallelConfig(1, 2, 1), ParallelConfig(2, 1, 1)]
    plan = plan_trials(scenarios, ["core", "metalearners"], configs, repeats=3, seed=1)
    assert len(plan) == len({t.key for t in plan}) == 2 * 2 * 4 * 3
    assert [t.scenario for t in plan] == [scenarios[0]] * 24 + [scenarios[1]] * 24
    for s in range(2):
        chunk = plan[24 * s : 24 * (s + 1)]
        for r in range(3):  # block r: every (engine, config) once, repeat r
            block = chunk[8 * r : 8 * (r + 1)]
            assert {t.repeat for t in block} == {r}
            assert len({(t.engine, t.config) for t in block}) == 8
        cells = [(t.engine, t.config) for t in chunk]
        assert all(a != b for a, b in zip(cells, cells[1:])), "a repeat runs back to back"
    orders = {tuple(t.key for t in plan_trials(scenarios, ["core"], configs, 3, seed)) for seed in range(5)}
    assert len(orders) > 1  # the order is random...
    assert plan == plan_trials(scenarios, ["core", "metalearners"], configs, repeats=3, seed=1)  # ...and seeded


# ------------------------------------------------------------------ resume, export


def test_resume_after_sigkill_records_each_measurement_once(tmp_path: Path):
    toml = scenarios_file(tmp_path, "one", '[[scenario]]\nlearner = "T"\n')
    db = tmp_path / "r.db"
    args = ("--scenarios", str(toml), "--db", str(db), "--repeats", "2", "--values", "2", *FAST)
    mark = "resume-" + os.urandom(6).hex()
    proc = start_sweep(tmp_path, *args, mark=mark)
    deadline = time.monotonic() + 120
    while n_trials(db) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the supervisor, mid-sweep
    proc.communicate()
    kill_marked(mark)  # its trial in flight (own session) would go on alone
    before = keys(db)
    assert 1 <= len(before) < 2 * N, "the sweep was not killed mid-way"
    assert integrity(db) == "ok"
    runs = load_runs(db)
    assert len(runs) == 1 and runs.finished_at.isna().all()  # killed: never finished

    rc, _, err = run_sweep_cli(tmp_path, *args)
    assert rc == 0, err
    assert f"{2 * N - len(before)} of {2 * N} trials" in err
    after = keys(db)
    assert len(after) == 2 * N and len({k[:4] for k in after}) == 2 * N  # every measurement once
    assert after[: len(before)] == before  # nothing recorded was lost or rewritten
    assert all(k[5] == "ok" for k in after), after
    assert integrity(db) == "ok"
    assert len(load_runs(db)) == 2 and load_runs(db).finished_at.notna().sum() == 1
    finished = load_runs(db).dropna(subset=["finished_at"]).iloc[0]["manifest"]["sweep"]
    assert finished["values"] == 2 and finished["fits_per_trial"] == 3
    # the share of the sweep's wall inside measured (warm) fits, and what it is made of
    assert 0 < finished["efficiency"] < 1
    assert finished["efficiency"] == pytest.approx(finished["warm_fit_s"] / finished["wall_s"], abs=1e-3)
    assert 0 < finished["cold_fit_s"] and finished["warm_fit_s"] + finished["cold_fit_s"] < finished["wall_s"]

    rc, _, err = run_sweep_cli(tmp_path, *args)  # complete: runs nothing
    assert rc == 0 and "nothing to do" in err
    assert keys(db) == after and len(load_runs(db)) == 2

    fits = load_fits(db)  # 3 fits per trial (--values 2), the first cold
    assert len(fits) == 6 * N and fits.cold.sum() == 2 * N
    assert fits.groupby("trial_id").fit_index.apply(list).map(lambda x: x == [0.0, 1.0, 2.0]).all()
    assert sorted(set(fits.config_id)) == CONFIG_IDS
    assert fits.cate_rmse.notna().all() and (fits.wall_s > 0).all()
    tasks = load_tasks(db)  # T-learner, 2 variants, 2 folds + overall: 6 tasks per fit
    assert len(tasks) == 6 * N * 6 and tasks.fold.isna().sum() == 6 * N * 2

    for fmt, read in (("csv", pd.read_csv), ("parquet", pd.read_parquet)):
        out = tmp_path / f"fits.{fmt}"
        assert main(["export", "--db", str(db), "--format", fmt, "--out", str(out)]) == 0
        exported = read(out)
        assert len(exported) == 6 * N
        assert {"run_id", "engine", "scenario_id", "learner", "n_rows", "n_features", "n_variants",
                "n_folds", "base_model", "model_n_jobs", "n_jobs_cross_fitting",
                "n_jobs_base_learners", "backend", "repeat", "cold", "status", "wall_s", "cpu_s",
                "peak_mem_mb", "cate_rmse"} <= set(exported.columns)


def marked_alive(mark: str) -> list[int]:
    import psutil

    from .conftest import SWEEP_MARK_ENV

    alive = []
    for p in psutil.process_iter(["environ", "status"]):
        if (p.info["environ"] or {}).get(SWEEP_MARK_ENV) == mark and p.info["status"] != psutil.STATUS_ZOMBIE:
            alive.append(p.pid)
    return alive


def test_ctrl_c_ends_the_trial_in_flight_and_marks_the_run(tmp_path: Path):
    toml = scenarios_file(tmp_path, "one", '[[scenario]]\nlearner = "T"\n')
    db = tmp_path / "c.db"
    mark = "ctrl-c-" + os.urandom(6).hex()
    proc = start_sweep(tmp_path, "--scenarios", str(toml), "--db", str(db), "--repeats", "3", *FAST, mark=mark)
    try:
        deadline = time.monotonic() + 120
        while (n_trials(db) < 1 or len(marked_alive(mark)) < 2) and time.monotonic() < deadline:
            time.sleep(0.05)  # a trial child is running beside the supervisor
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C reaches: not the trial's session
        rc, _, err = finish(proc, timeout=60)
        assert rc == 130 and "interrupted" in err
        deadline = time.monotonic() + 10
        while marked_alive(mark) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marked_alive(mark) == []  # the trial in flight was ended with the sweep
    finally:
        kill_marked(mark)
    runs = load_runs(db)
    assert runs.finished_at.notna().all() and runs.manifest[0]["sweep"]["interrupted"] is True
    assert 1 <= len(keys(db)) < 3 * N and integrity(db) == "ok"


def test_two_sweeps_write_one_db_at_once(tmp_path: Path):
    db = tmp_path / "shared.db"
    procs = [
        start_sweep(
            tmp_path / name,
            "--scenarios", str(scenarios_file(tmp_path, name, f'[[scenario]]\nlearner = "{learner}"\n')),
            "--db", str(db), "--repeats", "1", *FAST,
        )
        for name, learner in (("a", "T"), ("b", "S"))
    ]  # separate lock files: their trials and writes really overlap
    results = [finish(p) for p in procs]
    assert [rc for rc, _, _ in results] == [0, 0], [err[-2000:] for _, _, err in results]
    fits = load_fits(db)
    assert fits.groupby("learner").trial_id.nunique().to_dict() == {"S": N, "T": N}
    runs = load_runs(db)
    assert len(runs) == 2 and runs.finished_at.notna().all()
    assert sorted(fits.groupby("run_id").learner.first()) == ["S", "T"]
    assert integrity(db) == "ok"


# ------------------------------------------------------------------------ failures


def test_failed_trials_are_recorded_and_the_sweep_goes_on(tmp_path: Path):
    toml = scenarios_file(tmp_path, "mixed", """
        [[scenario]]
        learner = "T"

        # 20 variants on 100 rows: 5 rows per variant cannot be split in 10 folds
        [[scenario]]
        learner = "T"
        n_rows = 100
        n_variants = 20
        n_folds = 10
    """)
    # The first trial child to start crashes (SIGABRT at start-up), the others run.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import os, sys
        if "harness._worker" in getattr(sys, "orig_argv", []):
            try:
                os.close(os.open({str(tmp_path / "crashed")!r}, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os.abort()
    """))
    env = sweep_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    db = tmp_path / "f.db"
    rc, out, err = run_sweep_cli(tmp_path, "--scenarios", str(toml), "--db", str(db), "--repeats", "1", *FAST, env=env)
    assert rc == 0, err
    fits = load_fits(db)
    trials = fits.drop_duplicates("trial_id")
    assert len(trials) == 2 * N
    reasons = trials.reason.dropna().tolist()
    assert sum(r == "crashed: signal SIGABRT" for r in reasons) == 1, reasons
    bad = trials[trials.n_rows == 100]
    assert all(r.startswith("error: ValueError") and "n_splits=10" in r for r in bad.reason if "SIGABRT" not in r)
    assert (bad.status == "failed").all() and bad.wall_s.isna().all()
    good = trials[(trials.n_rows == 300) & trials.reason.isna()]
    assert len(good) >= 1 and (good.status == "ok").all()
    assert err.count("FAILED") == N + 1
    conn = sqlite3.connect(db)
    tracebacks = [r[0] for r in conn.execute("SELECT traceback FROM harness_trials WHERE reason LIKE 'error:%'")]
    conn.close()
    assert tracebacks and all("n_splits=10" in t for t in tracebacks)


def test_timeout_is_recorded(tmp_path: Path):
    toml = scenarios_file(tmp_path, "one", '[[scenario]]\nlearner = "T"\n')
    db = tmp_path / "t.db"
    rc, _, err = run_sweep_cli(tmp_path, "--scenarios", str(toml), "--db", str(db), "--repeats", "1", "--timeout", "0.5", *FAST)
    assert rc == 0, err
    fits = load_fits(db)
    assert len(fits) == N and (fits.status == "failed").all()
    assert (fits.reason == "timeout after 0.5s").all()
    assert "0 failed" not in err and err.count("FAILED") == N


# --------------------------------------------------------------------- bad arguments


def cli(argv: list[str]) -> int:
    """``main(argv)``; argparse's own errors exit via SystemExit."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_values_come_from_the_preset_unless_given(tmp_path: Path):
    from harness.cli_parser import build_parser
    from harness.cli import COMMANDS
    from harness.sweep import SweepOptions

    parse = lambda *a: SweepOptions.from_args(build_parser(COMMANDS).parse_args(["sweep", "--db", str(tmp_path / "x.db"), *a]))  # noqa: E731
    assert (parse().repeats, parse().values) == (3, 2)  # the default preset's [sweep]
    assert parse("--values", "4").values == 4
    assert "--values 4" in parse("--values", "4").command
    toml = scenarios_file(tmp_path, "own", '[sweep]\nvalues = 3\n\n[[scenario]]\nlearner = "T"\n')
    assert parse("--scenarios", str(toml)).values == 3


@pytest.fixture
def existing_db(tmp_path: Path) -> tuple[Path, bytes]:
    from harness.store import Store

    db = tmp_path / "keep.db"
    with Store(db) as store:
        store.start_run({}, "x", None)
    return db, db.read_bytes()


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--preset", "nope"], "available presets: default, grid, large, smoke"),
        (["--repeats", "-1"], "-1 is not allowed"),
        (["--repeats", "0"], "0 is not allowed"),
        (["--values", "0"], "0 is not allowed"),
        (["--engine", "sklearn"], "engine 'sklearn' is not allowed"),
        (["--timeout", "0"], "not allowed"),
        (["--scenarios", "/nonexistent/file.toml"], "no such file"),
    ],
)
def test_bad_arguments_one_line_and_db_untouched(capsys, existing_db, argv, expected):
    db, content = existing_db
    rc = cli(["sweep", "--db", str(db), *argv])
    assert rc != 0
    assert expected in one_error_line(capsys)
    assert db.read_bytes() == content


def test_bad_db_paths(capsys, tmp_path: Path):
    toml = scenarios_file(tmp_path, "one", '[[scenario]]\nlearner = "T"\n')
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = {
        str(tmp_path): "is a directory",
        str(afile / "sub" / "r.db"): "cannot create its folder",  # a file where a folder should be
        "/proc/no-such-root/r.db": "cannot create its folder",  # a root that cannot be written
        str(afile): "not a SQLite database",  # not a results store
    }
    for db, expected in cases.items():
        rc = cli(["sweep", "--scenarios", str(toml), "--db", db, "--no-report"])
        assert rc == 2, db
        assert expected in one_error_line(capsys), db
    assert afile.read_text() == "x"
