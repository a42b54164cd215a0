"""Scenarios on a data file: reading, conversion, the content-keyed cache, ids, and
identical fits to the synthetic scenario with the same data."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pandas as pd
import pytest

from harness.workloads.scenario import FitScenario
from scenarios import Scenario, generate, load_data
from scenarios import files as files_module
from scenarios.files import file_scenario

from .events import write_events

SERIAL = {"model_n_jobs": 1, "n_jobs_cross_fitting": 1, "n_jobs_base_learners": 1, "backend": "loky"}
FEATURES = ["age", "visits", "city"]


@pytest.fixture(autouse=True)
def _fresh_memo():
    files_module._PREPARED.clear()  # each test reads its files as a new process would
    yield
    files_module._PREPARED.clear()


def events_scenario(path, cache, **data):
    fields = {"learner": "T", "n_folds": 2, "base_model": "lightgbm_small"}
    return file_scenario(
        {**fields, "data": {"path": str(path), "outcome": "y", "treatment": "arm", "features": FEATURES, **data}},
        cache_dir=cache,
    )


def fit(scenario, cache):
    workload = FitScenario("core", scenario.to_dict(), SERIAL, data_dir=str(cache))
    workload.prepare()
    workload.run_once()
    return workload


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_file_gives_the_fits_of_the_synthetic_scenario(tmp_path, suffix):
    synthetic = Scenario(learner="DR", n_rows=600, n_variants=3, n_folds=3, base_model="lightgbm_small", n_features=4)
    data = generate(synthetic)
    frame = pd.DataFrame(data.X, columns=[f"x{i}" for i in range(4)]).assign(y=data.y, w=data.w)
    path = tmp_path / f"same{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    on_file = file_scenario(
        {"learner": "DR", "n_folds": 3, "base_model": "lightgbm_small",
         "data": {"path": str(path), "outcome": "y", "treatment": "w", "test_fraction": 0}},
        cache_dir=tmp_path / "cache",
    )
    assert (on_file.n_rows, on_file.n_features, on_file.n_variants) == (600, 4, 3)
    a, b = fit(synthetic, tmp_path / "cache"), fit(on_file, tmp_path / "cache")
    assert np.array_equal(a.learner.predict(data.X_test, is_oos=True), b.learner.predict(data.X_test, is_oos=True))
    assert b.result_extras().get("cate_rmse") is None  # no true CATE: no RMSE, never 0


def test_labels_mapped_categoricals_kept_and_memory_mapped(tmp_path):
    scenario = events_scenario(write_events(tmp_path / "events.csv"), tmp_path / "cache", control="control")
    assert scenario.data.treatment_labels == ("control", "email", "sms")
    assert scenario.n_variants == 3 and scenario.n_features == 3
    assert (scenario.effect, scenario.propensity) == ("n/a", "n/a")
    assert scenario.id.startswith("T-events-") and scenario.data.key.startswith("file-events-")
    assert Scenario.from_dict(json.loads(json.dumps(scenario.to_dict()))) == scenario
    table = load_data(scenario, cache_dir=tmp_path / "cache")
    assert isinstance(table.y, np.memmap) and isinstance(table.w, np.memmap)
    assert str(table.X["city"].dtype) == "category" and list(table.X.columns) == FEATURES
    frame = pd.read_csv(tmp_path / "events.csv")
    assert sorted(np.bincount(np.concatenate([table.w, table.w_test]))) == sorted(frame["arm"].value_counts())
    assert len(table.X) + len(table.X_test) == len(frame) and len(table.X_test) == round(0.2 * len(frame))
    extras = fit(scenario, tmp_path / "cache").result_extras()
    assert "cate_rmse" not in extras and extras["evaluate"]  # the learner's own out-of-sample scores


def test_control_label_comes_first(tmp_path):
    scenario = events_scenario(write_events(tmp_path / "events.csv"), tmp_path / "cache", control="sms")
    assert scenario.data.treatment_labels == ("sms", "control", "email")


@pytest.mark.parametrize("encoding, n_columns", [("onehot", 5), ("ordinal", 3)])
def test_encoded_categoricals_are_numeric(tmp_path, encoding, n_columns):
    scenario = events_scenario(write_events(tmp_path / "e.parquet"), tmp_path / "cache", encode_categoricals=encoding)
    table = load_data(scenario, cache_dir=tmp_path / "cache")
    assert isinstance(table.X, np.ndarray) and table.X.dtype == np.float64 and table.X.shape[1] == n_columns


def test_zipped_csv_and_subsample(tmp_path):
    frame = pd.read_csv(write_events(tmp_path / "events.csv", n_rows=500))
    frame.to_csv(tmp_path / "events.csv.zip", index=False)
    scenario = events_scenario(tmp_path / "events.csv.zip", tmp_path / "cache", n_rows=300, test_fraction=0.1)
    assert scenario.n_rows == 270


def test_converted_once_and_again_when_the_file_changes(tmp_path):
    path = write_events(tmp_path / "events.parquet")
    cache = tmp_path / "cache"
    first = events_scenario(path, cache)
    meta = cache / first.data.key / "meta.json"
    stamp = meta.stat().st_mtime_ns
    files_module._PREPARED.clear()
    assert events_scenario(path, cache) == first and meta.stat().st_mtime_ns == stamp  # not converted again
    time.sleep(0.01)
    write_events(path, seed=1)  # edited: new content, new key and id
    files_module._PREPARED.clear()
    edited = events_scenario(path, cache)
    assert edited.data.content != first.data.content and edited.id != first.id
    assert (cache / edited.data.key / "meta.json").is_file()


def test_unchanged_file_is_not_hashed_again(tmp_path):
    path = write_events(tmp_path / "events.csv")
    cache = tmp_path / "cache"
    digest = files_module.content_hash(path, cache)
    index = next((cache / "file-hashes").iterdir())
    record = json.loads(index.read_text())
    index.write_text(json.dumps({**record, "sha256": "remembered"}))  # proves the index is used
    assert files_module.content_hash(path, cache) == "remembered"
    os.utime(path, ns=(record["mtime_ns"] + 10**9, record["mtime_ns"] + 10**9))  # touched: hashed again
    assert files_module.content_hash(path, cache) == digest
