"""The A/A and power benchmarks stay runnable: --help, and a tiny invocation of each
(the A/A check measures for real on the smoke preset; the power check resamples a
store with known answers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import ParallelConfig
from scenarios import Scenario

from tests.benchmarks.power_check import power
from tests.harness.test_recommend import store_with

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["aa_check", "power_check"])
def test_help(module):
    out = subprocess.run([sys.executable, "-m", f"tests.benchmarks.{module}", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "target >=" in out.stdout


def test_aa_check_smoke(tmp_path, monkeypatch):
    from tests.benchmarks import aa_check

    monkeypatch.setenv("HARNESS_LOCK_FILE", str(tmp_path / "trial.lock"))  # never wait for another sweep
    out = tmp_path / "aa.md"
    assert aa_check.main(["--preset", "smoke", "--scenarios", "1", "--comparisons", "1", "--repeats", "2",
                          "--values", "1", "--config", "model=1,folds=1,stage=1", "--out", str(out)]) == 0
    text = out.read_text()
    assert "1 comparisons over 1 scenario(s)" in text and "target >= 95%" in text


def test_power_check_on_known_trials(tmp_path):
    scenario = Scenario(learner="DR", n_rows=2000, n_variants=2, n_folds=2, base_model="lightgbm_small", n_features=5)
    fast, slow, same = ParallelConfig(1, 2, 1, "loky"), ParallelConfig(1, 1, 1, "loky"), ParallelConfig(2, 1, 1, "loky")
    trials = lambda level: [[level * (1 + 0.01 * k), level * (1 - 0.01 * k)] for k in range(4)]  # noqa: E731
    db = store_with(tmp_path / "p.db", scenario, {fast: trials(1.0), slow: trials(2.0), same: trials(1.01)})
    from harness.store import load_fits

    table = power(load_fits(db), draws=30, repeats=3)
    # only the pairs >= 10% apart are judged: (fast, slow) and (same, slow), both 2x: always right
    assert sorted(zip(table["faster"], table["slower"])) == sorted([(fast.id, slow.id), (same.id, slow.id)])
    assert (table["correct"] == 1.0).all() and set(table["drawn"]) == {"without replacement"}
    out = subprocess.run([sys.executable, "-m", "tests.benchmarks.power_check", "--db", str(db), "--draws", "10"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "called correctly in 100.0% of draws" in out.stdout and "MET" in out.stdout
