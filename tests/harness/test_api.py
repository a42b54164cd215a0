"""The Python API: a DataFrame benchmarked and recommended through the command line's
path (the frame written once into the data cache, a fresh child per trial)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import harness
from harness import api
from harness.config import ParallelConfig
from harness.errors import NoData, UsageError
from scenarios import files as files_module
from tests.scenarios.events import events_frame

SMALL = {"levels": [1, 2], "backends": ["loky"], "repeats": 2, "values": 1}
WORKLOAD = {
    "outcome": "y", "treatment": "arm", "features": ["age", "visits", "city"], "weights": "wt",
    "learner": "DR", "folds": 2, "model": "lightgbm", "model_params": {"n_estimators": 5, "num_leaves": 7},
    "name": "events",
}


@pytest.fixture(autouse=True)
def _private_cache_and_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HARNESS_LOCK_FILE", str(tmp_path / "trial.lock"))
    files_module._PREPARED.clear()


def weighted_frame() -> pd.DataFrame:
    frame = events_frame(500)
    return frame.assign(wt=np.random.default_rng(3).uniform(0.5, 2.0, len(frame)))


def test_benchmark_then_recommend_a_frame(tmp_path, capsys):
    frame, db = weighted_frame(), tmp_path / "notebook.db"
    result = harness.benchmark(frame, **WORKLOAD, db=db, **SMALL)
    assert result.db == db and result.scenario_id.startswith("DR-events-") and "-weighted-" in result.scenario_id
    m = result.measurements
    assert set(m["scenario_id"]) == {result.scenario_id} and (m["status"] == "ok").all()
    per_trial = m.groupby("trial_id").size()
    assert (per_trial == 1 + SMALL["values"]).all()  # one cold fit + the warm values per trial
    assert len(per_trial) == m["config_id"].nunique() * SMALL["repeats"] >= 2 * SMALL["repeats"]
    assert result.scenario_id in result.report and result.report.lstrip().startswith("#")  # Markdown
    assert result.data.parent == tmp_path / "cache" / "frames" and result.data.name.startswith("events.")

    # The same frame again: the same file, not rewritten, and nothing left to measure.
    stamp = result.data.stat().st_mtime_ns
    again = harness.benchmark(frame.copy(), **WORKLOAD, db=db, **SMALL)
    assert again.data == result.data and again.data.stat().st_mtime_ns == stamp
    assert again.scenario_id == result.scenario_id and len(again.measurements) == len(m)
    assert "nothing to do" in capsys.readouterr().err

    rec = harness.recommend_frame(frame, **WORKLOAD, db=db, remeasure=False)
    assert isinstance(rec.config, ParallelConfig) and rec.config.id in set(m["config_id"])
    assert rec.recommendation.scenario_id == result.scenario_id and rec.config.id in rec.text
    assert isinstance(rec.table, pd.DataFrame) and rec.table["recommended"].sum() == 1
    # The snippet runs as printed, the frame's data as X, y, w, sample_weight.
    assert "fit_params=fit_params" in rec.snippet
    namespace = {
        "X": frame[WORKLOAD["features"]],
        "y": frame["y"].to_numpy(),
        "w": frame["arm"].map({"control": 0, "email": 1, "sms": 2}).to_numpy(),
        "sample_weight": frame["wt"].to_numpy(),
    }
    exec(compile(rec.snippet, "<snippet>", "exec"), namespace)  # noqa: S102 -- the point: it runs as printed
    assert namespace["learner"].predict(namespace["X"], is_oos=False).shape == (500, 2, 1)


def test_a_different_frame_is_a_different_file_and_workload(tmp_path):
    frame = weighted_frame()
    first = api.frame_file(frame, "events")
    changed = frame.assign(y=frame["y"] + 1)
    assert api.frame_file(changed, "events") != first
    assert api.frame_file(frame.reset_index(drop=True), "events") == first  # content, not identity


def test_bad_input_is_one_line_and_nothing_is_written(tmp_path):
    frame, db = weighted_frame(), tmp_path / "notebook.db"
    with pytest.raises(UsageError, match=r"frame: .*unknown model parameter 'num_leafs' for LGBMRegressor \(did you mean 'num_leaves'\?\)"):
        harness.benchmark(frame, **{**WORKLOAD, "model_params": {"num_leafs": 7}}, db=db, **SMALL)
    with pytest.raises(UsageError, match=r"frame: .*weights column 'wt' has 1 negative values"):
        harness.benchmark(frame.assign(wt=np.where(np.arange(500) == 9, -1.0, 1.0)), **WORKLOAD, db=db, **SMALL)
    with pytest.raises(UsageError, match="--repeats 0: is not allowed"):
        harness.benchmark(frame, **WORKLOAD, db=db, **{**SMALL, "repeats": 0})
    with pytest.raises(UsageError, match="frame has type dict; give a pandas DataFrame"):
        harness.benchmark(frame.to_dict(), **WORKLOAD, db=db)
    assert not db.exists() and not (tmp_path / "workloads").exists()
    with pytest.raises(NoData, match=r"from Python: harness.benchmark\(frame, ...\)"):
        harness.recommend_frame(frame, **WORKLOAD, db=db, remeasure=False)
