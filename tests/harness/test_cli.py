"""The command line's shared behaviours, on a small store built by hand (no trial runs):
every ``--db`` and ``--out`` checked alike, ``--help`` of every path option, the
export's format/extension check, the sweep's line about the configs it leaves out,
and runs without trials left out of every listing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.cli_parser import build_parser
from harness.config import ParallelConfig
from harness.measure import available_cores
from harness.report import render_report
from harness.store import Store, load_runs
from harness.sweep import plan_trials
from harness.sweep_plan import sweep_configs
from scenarios import load_preset

from .test_store import filled, fit, result  # noqa: F401 -- `filled` is a fixture

COMMANDS = ["list", "measure", "init-preset", "sweep", "tune", "recommend", "export", "report", "compare", "plot",
            "worker"]


def cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse's own errors and --help
        return e.code


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# -- --db ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["report", "plot", "export", "compare", "recommend", "tune", "sweep"])
def test_a_directory_as_db_is_named_a_directory(capsys, tmp_path: Path, command: str):
    extra = {"export": ["--out", str(tmp_path / "m.csv")], "recommend": ["--scenario", "learner=T"],
             "tune": ["--scenario", "learner=T"], "sweep": ["--preset", "smoke"]}.get(command, [])
    rc = cli([command, "--db", str(tmp_path), *extra])
    assert rc == 2
    err = one_error_line(capsys)
    assert "is a directory" in err and "no such results database" not in err and "run `python" not in err


# -- --out ---------------------------------------------------------------------------


def test_report_and_compare_out_create_missing_folders_and_say_when_they_replace(capsys, filled: Path, tmp_path: Path):
    out = tmp_path / "new" / "deeper" / "r.md"
    assert cli(["report", "--db", str(filled), "--format", "md", "--out", str(out)]) == 0
    assert out.read_text().strip() and capsys.readouterr().out.strip() == f"wrote {out}"
    assert cli(["report", "--db", str(filled), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out} (replaced the existing file)"
    table = tmp_path / "other" / "c.txt"
    assert cli(["compare", "--db", str(filled), "--out", str(table)]) == 0
    assert table.is_file()


def test_report_html_needs_out_and_writes_one_page(capsys, filled: Path, tmp_path: Path):
    assert cli(["report", "--db", str(filled), "--format", "html"]) == 2
    assert "--format html needs --out FILE" in one_error_line(capsys)
    out = tmp_path / "html" / "report.html"
    assert cli(["report", "--db", str(filled), "--format", "html", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<figure") >= 4 and "timeout after 0.5s" in page


@pytest.mark.parametrize("command", ["report", "compare", "export"])
def test_a_file_out_that_is_a_directory_or_under_a_file_is_one_line(capsys, filled: Path, tmp_path: Path, command: str):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, expected in ((tmp_path, "is a directory"), (afile / "sub" / "r.csv", f"{afile} is a file")):
        assert cli([command, "--db", str(filled), "--out", str(out)]) == 2
        assert expected in one_error_line(capsys)
    assert afile.read_text() == "x"


def test_plot_out_must_be_a_folder(capsys, filled: Path, tmp_path: Path):
    afile = tmp_path / "figure.png"
    afile.write_bytes(b"not a folder")
    for out, expected in ((afile, "is a file; give a folder"), (afile / "plots", f"{afile} is a file")):
        assert cli(["plot", "--db", str(filled), "--out", str(out)]) == 2
        assert expected in one_error_line(capsys)
    assert afile.read_bytes() == b"not a folder"


# -- export --------------------------------------------------------------------------


def test_export_refuses_an_extension_of_the_other_format(capsys, filled: Path, tmp_path: Path):
    csv = tmp_path / "m.csv"
    csv.write_text("a,b\n1,2\n")
    assert cli(["export", "--db", str(filled), "--format", "parquet", "--out", str(csv)]) == 2
    err = one_error_line(capsys)
    assert "--format parquet" in err and str(csv) in err and "m.parquet" in err
    assert csv.read_text() == "a,b\n1,2\n"  # untouched
    assert cli(["export", "--db", str(filled), "--format", "csv", "--out", str(tmp_path / "m.parquet")]) == 2
    assert "says parquet" in one_error_line(capsys)


def test_export_says_when_it_replaces_a_file(capsys, filled: Path, tmp_path: Path):
    out = tmp_path / "deep" / "m.csv"
    assert cli(["export", "--db", str(filled), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert cli(["export", "--db", str(filled), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out} (replaced the existing file)"
    assert len(pd.read_csv(out)) == 5


# -- --help --------------------------------------------------------------------------


def _subparsers() -> dict:
    parser = build_parser({name: (lambda args: 0) for name in COMMANDS})
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return action.choices


def test_every_command_is_in_the_parser():
    assert sorted(_subparsers()) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_db_and_out_option_has_help_with_its_default(command: str):
    sub = _subparsers()[command]
    for action in sub._actions:
        if set(action.option_strings) & {"--db", "--out", "--plot"}:
            assert action.help, (command, action.option_strings)
            assert "default" in action.help, (command, action.option_strings, action.help)
            if action.default is not None:
                assert str(action.default) in action.help, (command, action.option_strings)
    assert "--db" in sub.format_help() or command in ("list", "measure", "init-preset", "worker")


# -- the sweep's grid ----------------------------------------------------------------


def test_sweep_says_which_configs_it_left_out_and_keeps_serial(capsys, tmp_path: Path):
    """Levels that all ask for more threads than the cores: the sweep names what it left
    out and why, and still measures the serial reference. The store is filled with the
    plan first, so the sweep runs no trial."""
    cores = available_cores()
    too_many = cores + 1  # every split of it asks for more than the cores
    toml = tmp_path / "one.toml"
    toml.write_text('[[scenario]]\nlearner = "T"\nn_rows = 500\nn_variants = 2\nn_folds = 2\nbase_model = "lightgbm_small"\n')
    configs = sweep_configs(cores, [too_many], ("loky",))
    assert ParallelConfig(1, 1, 1, "loky") in configs
    db = tmp_path / "r.db"
    scenarios = load_preset(str(toml))
    with Store(db) as store:
        run = store.start_run({}, "test", "one")
        for t in plan_trials(scenarios, ["core"], configs, 1, 0):
            store.record_trial(run, t.engine, t.scenario, t.config, t.repeat, result([fit(0), fit(1)]))
    rc = cli(["sweep", "--scenarios", str(toml), "--db", str(db), "--levels", str(too_many),
              "--backends", "loky", "--repeats", "1", "--no-report"])
    assert rc == 0
    err = capsys.readouterr().err
    note = [line for line in err.splitlines() if "left out" in line]
    assert len(note) == 1, err
    assert f"m{too_many}-f{too_many}-s{too_many}-loky" in note[0] and f"{cores} cores" in note[0]
    assert "added m1-f1-s1-loky" in note[0]
    assert "nothing to do" in err


# -- runs ----------------------------------------------------------------------------


def test_a_run_without_trials_is_not_listed(filled: Path):
    with Store(filled) as store:
        empty = store.start_run({"hostname": "elsewhere"}, "sweep --preset x", "x")
        store.finish_run(empty, {"hostname": "elsewhere"})
        assert store.counts()["runs"] == 1
    assert empty not in set(load_runs(filled).run_id)
    assert empty in set(load_runs(filled, include_empty=True).run_id)
    assert len(load_runs(filled)) == 1
    report = render_report(filled, fmt="md")
    assert load_runs(filled).run_id[0] in report and empty not in report
    conn = sqlite3.connect(filled)
    assert conn.execute("SELECT COUNT(*) FROM harness_runs").fetchone()[0] == 2  # kept in the file
    conn.close()
