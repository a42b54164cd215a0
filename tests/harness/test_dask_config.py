"""The dask<N> config level: a fit on a local Dask cluster of N worker processes started in the trial child."""

from __future__ import annotations

import pytest

from harness.cli_parser import _backends
from harness.config import BACKENDS, ParallelConfig, config_grid
from harness.trial import TrialSpec, run_trial
from scenarios import Scenario

pytest.importorskip("distributed")


def test_a_dask_config_names_its_worker_count_and_round_trips():
    config = ParallelConfig.parse("model=1,folds=2,stage=1,backend=dask2")
    assert (config.id, config.dask_workers) == ("m1-f2-s1-dask2", 2)
    assert ParallelConfig.from_id(config.id) == config
    # The existing ids and grids are unchanged: dask is asked for, never added.
    assert ParallelConfig(1, 1, 1, "loky").dask_workers is None
    assert {c.backend for c in config_grid(2)} <= {*BACKENDS, "auto"}
    assert _backends("loky,dask2") == ("loky", "dask2")


@pytest.mark.parametrize("backend", ["dask0", "dask", "dask-2", "daskx"])
def test_a_dask_backend_without_a_worker_count_is_refused(backend):
    with pytest.raises(ValueError, match=r"dask<N> \(a local Dask cluster of N worker processes"):
        ParallelConfig(1, 2, 1, backend)


def _trial(config: ParallelConfig, scenario: Scenario):
    spec = TrialSpec("scenario", {"engine": "core", "scenario": scenario.to_dict(), "config": config.to_dict()}, repeats=1, timeout_s=180)
    result = run_trial(spec)
    assert result.ok, (result.reason, result.stderr_tail[-2000:])
    return result.samples[0]


def test_a_dask2_trial_fits_on_the_cluster_with_the_serial_answer():
    scenario = Scenario(learner="T", n_rows=600, n_features=4, n_variants=2, n_folds=2, base_model="lightgbm")
    on_cluster = _trial(ParallelConfig(1, 2, 1, "dask2"), scenario)
    serial = _trial(ParallelConfig(1, 1, 1, "loky"), scenario)
    workers = {task["worker"] for task in on_cluster.extras["tasks"]}
    assert len(on_cluster.extras["tasks"]) == 2 * 3 and None not in workers and len(workers) <= 2
    assert {task["worker"] for task in serial.extras["tasks"]} == {None}
    assert on_cluster.extras["cate_rmse"] == pytest.approx(serial.extras["cate_rmse"], rel=1e-9)
