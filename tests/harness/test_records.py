from __future__ import annotations

import pytest

from harness.trial import TrialResult, TrialSpec
from harness.workloads import WORKLOADS, make_workload, resolve_workload


def test_result_round_trips_through_json(burn_processes_trial):
    again = TrialResult.from_json(burn_processes_trial.to_json())
    assert again == burn_processes_trial
    assert again.samples[1].kind == "warm"


def test_spec_round_trips_and_validates():
    spec = TrialSpec("sleep", {"seconds": 0.1}, repeats=2, env={"OMP_NUM_THREADS": "1"})
    assert TrialSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="repeats"):
        TrialSpec("sleep", repeats=0)
    with pytest.raises(ValueError, match="timeout_s"):
        TrialSpec("sleep", timeout_s=0)
    with pytest.raises(ValueError, match="JSON"):
        TrialSpec("sleep", {"x": object()})
    with pytest.raises(ValueError, match="unknown TrialSpec fields"):
        TrialSpec.from_dict({"workload": "sleep", "repeat": 3})


def test_registry_resolves_names_and_paths():
    assert resolve_workload("sleep") is resolve_workload(WORKLOADS["sleep"])
    assert make_workload("harness.workloads.calibration:Sleep", {"seconds": 1}).seconds == 1
    with pytest.raises(ValueError, match="unknown workload"):
        resolve_workload("nope")
    with pytest.raises(ValueError, match="cannot be loaded"):
        resolve_workload("harness.no_module:X")


def test_a_real_fits_task_records_reach_the_store_and_the_export(tmp_path):
    # DR with LightGBM under threads: the propensity and treatment models on the same
    # rows share the bins, so the trace says "copied" for some tasks, "built" for others.
    import pandas as pd

    from harness.config import ParallelConfig
    from harness.store import Store, export, load_fits, load_tasks
    from harness.store.schema import task_column_names
    from harness.trial import run_trial
    from scenarios import Scenario

    scenario = Scenario(learner="DR", n_rows=2000, n_variants=2, n_folds=2, base_model="lightgbm_small")
    config = ParallelConfig(1, 2, 1, "threading")
    spec = TrialSpec("scenario", {"engine": "core", "scenario": scenario.to_dict(), "config": config.to_dict()},
                     repeats=2, timeout_s=120)
    result = run_trial(spec)
    assert result.ok, (result.reason, result.stderr_tail[-2000:])
    for sample in result.samples:  # the workload's task dicts are rows of the task table
        assert all(list(task) == list(task_column_names()) for task in sample.extras["tasks"])
    db = tmp_path / "r.db"
    with Store(db) as store:
        store.record_trial(store.start_run({}, "test", None), "core", scenario, config, 0, result)
    tasks = load_tasks(db)
    assert set(tasks.bins) == {"built", "copied"}
    assert len(tasks) == sum(len(s.extras["tasks"]) for s in result.samples)
    assert (tasks.groupby("fit_index").start_s.min() == 0).all()
    out = tmp_path / "fits.csv"
    export(db, "csv", out)
    exported = pd.read_csv(out)
    counts = tasks.groupby("fit_index").bins.value_counts().unstack()
    assert exported.bins_copied.tolist() == counts["copied"].tolist() == load_fits(db).bins_copied.tolist()
    assert exported.bins_built.tolist() == counts["built"].tolist()
    assert (exported.bins_copied > 0).all()
