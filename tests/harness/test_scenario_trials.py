"""Real fits measured by the trial runner: work does not vanish, answers do not change."""

from __future__ import annotations

import statistics
import subprocess
import sys

import pytest

from harness.config import ParallelConfig
from harness.trial import TrialResult, TrialSpec, run_trial
from scenarios import Scenario

# Big enough that a fit's CPU dwarfs the 10 ms tick, small enough for the suite.
SCENARIO = Scenario(learner="T", n_rows=6000, n_features=10, n_variants=3, n_folds=3, base_model="lightgbm")
CONFIGS = {
    "serial": ParallelConfig(1, 1, 1, "loky"),
    "folds": ParallelConfig(1, 2, 1, "loky"),
    "stage": ParallelConfig(1, 1, 2, "threading"),
    "model": ParallelConfig(2, 1, 1, "loky"),
    "auto": ParallelConfig.auto(),
}


def measure(config: ParallelConfig, engine: str = "core", scenario: Scenario = SCENARIO) -> TrialResult:
    spec = TrialSpec(
        "scenario",
        {"engine": engine, "scenario": scenario.to_dict(), "config": config.to_dict()},
        repeats=3,
        timeout_s=120,
    )
    result = run_trial(spec)
    assert result.ok, (result.reason, result.stderr_tail[-2000:])
    return result


@pytest.fixture(scope="module")
def core_trials() -> dict[str, TrialResult]:
    return {name: measure(config) for name, config in CONFIGS.items()}


def _warm(result: TrialResult):
    return [s for s in result.samples if s.kind == "warm"][0]


def _warm_cpu_s(result: TrialResult) -> float:
    return statistics.median(s.cpu_s for s in result.samples if s.kind == "warm")


# A fit's CPU varies by a few 10 ms ticks and, on a loaded machine, by contention;
# CPU lost with worker processes would take a loky config to near zero (checked
# below: its fits all run in workers), far under this bar.
KEPT_CPU_SHARE = 0.6


def test_parallel_configs_do_not_lose_cpu(core_trials):
    # The same base-model fits run in every config: their CPU must be found wherever
    # it was spent (threads, worker processes).
    assert _fits_ran_in_workers(core_trials["folds"])
    serial_cpu = _warm_cpu_s(core_trials["serial"])
    for name, result in core_trials.items():
        assert _warm_cpu_s(result) >= KEPT_CPU_SHARE * serial_cpu, (name, _warm_cpu_s(result), serial_cpu)


def _fits_ran_in_workers(result: TrialResult) -> bool:
    pids = {t["pid"] for s in result.samples for t in s.extras["tasks"]}
    return bool(pids) and result.pid not in pids


def test_cate_rmse_identical_across_configs(core_trials):
    rmses = {name: _warm(r).extras["cate_rmse"] for name, r in core_trials.items()}
    assert len(set(round(v, 12) for v in rmses.values())) == 1, rmses
    assert 0 < next(iter(rmses.values())) < 1


def test_trace_records_every_fit_with_its_threads(core_trials):
    tasks = _warm(core_trials["folds"]).extras["tasks"]
    assert len(tasks) == 3 * (3 + 1)  # 3 variant outcome models x (3 folds + overall)
    assert {t["model_n_jobs"] for t in tasks} == {1}
    assert all(t["openmp_threads"] is not None for t in tasks)
    assert all(0 <= t["start_s"] <= t["end_s"] for t in tasks)
    model_level = _warm(core_trials["model"]).extras["tasks"]
    assert {t["model_n_jobs"] for t in model_level} == {2}


def test_metalearners_engine_counts_its_worker_cpu():
    pytest.importorskip("metalearners")
    serial = measure(CONFIGS["serial"], engine="metalearners")
    folds = measure(CONFIGS["folds"], engine="metalearners")
    assert _warm_cpu_s(folds) >= KEPT_CPU_SHARE * _warm_cpu_s(serial)
    assert "tasks" not in _warm(serial).extras  # no trace from the package
    core = measure(CONFIGS["serial"])
    assert _warm(serial).extras["cate_rmse"] == pytest.approx(_warm(core).extras["cate_rmse"], rel=1e-9)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=180)


def test_measure_cli_prints_figures_and_json():
    fields = "learner=DR,n_rows=2000,n_features=5,n_folds=2,base_model=lightgbm_small"
    text = _cli("measure", "--scenario", fields, "--config", "model=1,folds=2,stage=1,backend=threading", "--repeats", "2")
    assert text.returncode == 0, text.stderr
    assert "m1-f2-s1-threading" in text.stdout
    assert "fit 0 (cold): wall" in text.stdout and "fit 1 (warm): wall" in text.stdout
    as_json = _cli("measure", "--scenario", fields, "--json", "--repeats", "1")
    assert as_json.returncode == 0, as_json.stderr
    result = TrialResult.from_json(as_json.stdout)
    assert result.ok and result.samples[0].extras["cate_rmse"] > 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["measure", "--scenario", "no-such-id"], "matches no scenario"),
        (["measure", "--scenario", "learner=Q"], "learner='Q' is not allowed"),
        (["measure", "--scenario", "learner=T", "--config", "model=0"], "model_n_jobs=0 is not allowed"),
        (["measure", "--scenario", "learner=T", "--config", "backend=dask"], "backend='dask' is not allowed"),
        (["measure", "--scenario", "learner=T", "--repeats", "0"], "0 is not allowed"),
    ],
)
def test_measure_cli_bad_input_is_one_line(args, message):
    done = _cli(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
