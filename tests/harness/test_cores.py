"""``--cores N``: a trial really limited to N CPUs, everything derived following it, bad input refused."""

from __future__ import annotations

import argparse
import os

import pytest

from harness.cli import main
from harness.cores import parse_cores
from harness.measure import available_cores
from harness.trial import TrialSpec, run_trial

PROBE = "tests.harness._cores_probe:CoresProbe"


def test_one_core_limits_a_two_thread_burn_to_one_core_of_cpu_per_second():
    result = run_trial(TrialSpec("burn_threads", {"n_threads": 2, "cpu_s": 1.0}, repeats=2, timeout_s=60, cores=1))
    assert result.ok, result.reason
    assert result.n_cores == 1
    for s in result.samples:
        assert s.cpu_s / s.wall_s <= 1.2, (s.cpu_s, s.wall_s)


@pytest.mark.skipif(available_cores() < 2, reason="needs 2 CPUs")
def test_two_cores_are_two_and_not_asserted_faster():
    # The machine is shared: cpu/wall above 1 is likely, not asserted.
    result = run_trial(TrialSpec("burn_threads", {"n_threads": 2, "cpu_s": 0.5}, repeats=1, timeout_s=60, cores=2))
    assert result.ok, result.reason
    assert result.n_cores == 2


def test_the_child_and_joblib_see_the_limit_and_omp_is_left_to_the_affinity():
    result = run_trial(TrialSpec(PROBE, {}, repeats=1, timeout_s=60, cores=1))
    assert result.ok, result.reason
    seen = result.samples[0].extras
    assert len(seen["affinity"]) == 1
    assert seen["joblib_cpu_count"] == 1 and seen["available_cores"] == 1
    assert seen["omp_num_threads"] == os.environ.get("OMP_NUM_THREADS")  # not set by --cores
    unlimited = run_trial(TrialSpec(PROBE, {}, repeats=1, timeout_s=60))
    assert unlimited.samples[0].extras["available_cores"] == available_cores()


@pytest.mark.parametrize("text, allowed", [("1", [1]), ("1,2", [1, 2]), ("2, 1, 2", [2, 1]), ("1,", [1])])
def test_core_lists_parse(text, allowed):
    assert parse_cores(text) == allowed


@pytest.mark.parametrize("text, says", [("0", "integers >= 1"), ("x", "not an integer"), ("", "no core count"), ("-1", ">= 1")])
def test_bad_core_lists_are_refused(text, says):
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        parse_cores(text)


@pytest.mark.parametrize("command", [
    ["measure", "--scenario", "learner=T,n_rows=500"],
    ["sweep", "--preset", "smoke"],
    ["tune", "--scenario", "learner=T,n_rows=500"],
    ["recommend", "--scenario", "learner=T,n_rows=500"],
])
def test_more_cores_than_available_is_one_line_and_exit_2(command, tmp_path, capsys):
    too_many = available_cores() + 1
    db = [] if command[0] == "measure" else ["--db", str(tmp_path / "h.db")]
    assert main([*command, *db, "--cores", str(too_many)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"--cores {too_many}" in err and "choose 1.." in err
    assert not (tmp_path / "h.db").exists()  # refused before anything is written


@pytest.mark.parametrize("value, says", [("0", "integers >= 1"), ("two", "not an integer"), ("1,2", "one core count")])
def test_bad_cores_on_measure_exit_2(value, says, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["measure", "--scenario", "learner=T", "--cores", value])
    assert exit_.value.code == 2
    assert says in capsys.readouterr().err
