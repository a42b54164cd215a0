"""``whatif``, ``recommend --predicted`` and the tune seeds on a tiny store from a real ``--cores`` sweep."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import BACKENDS, config_grid
from harness.measure import available_cores
from harness.whatif.costs import cost_model, learner_needs

from .conftest import run_sweep_cli

CORES = [1, 2] if available_cores() >= 2 else [1]
TINY = """
[sweep]
repeats = 1
values = 1
backends = ["loky"]

[defaults]
n_rows = 1000
n_features = 4
n_variants = 2
n_folds = 2
base_model = "lightgbm_small"

[[scenario]]
learner = "DR"
"""


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory) -> Path:
    """``sweep --cores 1,2 --levels 1,2`` of one tiny DR workload: the serial traces at 1 core,
    the model level at 2 threads (m2-f1-s1) at 2 cores."""
    tmp = tmp_path_factory.mktemp("whatif")
    (tmp / "tiny.toml").write_text(TINY)
    db = tmp / "tiny.db"
    rc, out, err = run_sweep_cli(
        tmp, "--scenarios", str(tmp / "tiny.toml"), "--db", str(db), "--levels", "1,2", "--no-report",
        "--cores", ",".join(map(str, CORES)), timeout=600,
    )
    assert rc == 0, err[-3000:]
    return db


def test_a_cores_sweep_records_each_core_count_and_its_manifest(tiny_db):
    with sqlite3.connect(tiny_db) as conn:
        serial = conn.execute("SELECT n_cores FROM harness_trials WHERE config_id = 'm1-f1-s1-loky'").fetchall()
        manifests = [json.loads(m) for (m,) in conn.execute("SELECT manifest FROM harness_runs")]
    assert sorted(n for (n,) in serial) == CORES  # the serial config measured once per core count
    assert sorted(m["sweep"]["cores_limit"] for m in manifests) == CORES
    assert all(m["sweep"]["cores"] == m["sweep"]["cores_limit"] for m in manifests)


def test_whatif_predicts_every_config_of_each_grid_labelled_predicted(tiny_db, tmp_path, capsys):
    out_json, out_png = tmp_path / "w.json", tmp_path / "w.png"
    rc = main(["whatif", "--db", str(tiny_db), "--cores", "2,4", "--engine", "core,metalearners",
               "--json", str(out_json), "--plot", str(out_png)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "PREDICTED (what-if, not measured) | core |" in text and "| metalearners |" in text
    assert "predicted best on 4 cores:" in text
    payload = json.loads(out_json.read_text())
    assert payload["predicted"] is True and all(p["predicted"] for p in payload["predictions"])
    core4 = {p["config_id"] for p in payload["predictions"] if p["engine"] == "core" and p["cores"] == 4}
    assert core4 == {c.id for c in config_grid(4, None, BACKENDS)}
    package4 = {p["config_id"] for p in payload["predictions"] if p["engine"] == "metalearners" and p["cores"] == 4}
    assert "auto" not in package4 and "m4-f1-s1-loky" in package4
    serial = [p for p in payload["predictions"] if p["config_id"] == "m1-f1-s1-loky"]
    assert all(p["predicted_speedup"] == pytest.approx(1.0) for p in serial)
    assert all(p["predicted_cold_s"] >= p["predicted_warm_s"] for p in payload["predictions"])
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(available_cores() < 2, reason="the 2-thread fits need 2 CPUs")
def test_the_cost_model_fits_thread_scaling_from_the_two_core_trials(tiny_db):
    model = cost_model(tiny_db, _scenario_id(tiny_db))
    assert model.profiled_cores == 1
    assert "fitted at 2 threads" in model.scaling_note
    assert set(model.serial_fractions) == {"propensity_model", "variant_outcome_model", "treatment_model"}
    treatment = [j for j in model.jobs if j.id[0] == "treatment_model"]
    assert treatment and treatment[0].needs == learner_needs("DR", "treatment_model", 0)


def test_fits_that_copied_lightgbm_bins_pay_binning_in_worker_processes_only(tiny_db):
    from harness.config import ParallelConfig
    from harness.whatif.calibrate import PoolCosts
    from harness.whatif.predict import predict_config

    model = cost_model(tiny_db, _scenario_id(tiny_db), binning=lambda rows, features: 1.0)
    by_kind = {j.id[0]: {f.bins_s for f in j.fits} for j in model.jobs}
    assert by_kind["treatment_model"] == {1.0}  # DR's treatment model copies the propensity model's bins
    assert by_kind["propensity_model"] == {0.0}
    free = PoolCosts(loky_start_s=0.0, loky_dispatch_s=0.0, thread_dispatch_s=0.0)
    in_processes, _, _ = predict_config("core", model, ParallelConfig(1, 2, 1, "loky"), 2, free)
    in_threads, _, _ = predict_config("core", model, ParallelConfig(1, 2, 1, "threading"), 2, free)
    n_copied = sum(len(j.fits) for j in model.jobs if j.id[0] == "treatment_model")
    # one more second of work per copied fit, spread over 2 workers: between half of it and all of it
    assert n_copied / 2 - 1e-9 <= in_processes - in_threads <= n_copied + 1e-9


def test_recommend_predicted_says_so_for_a_machine_we_do_not_have(tiny_db, capsys):
    rc = main(["recommend", "--db", str(tiny_db), "--scenario", _scenario_id(tiny_db)[:8], "--cores", "64", "--predicted"])
    assert rc == 0
    text = capsys.readouterr().out
    assert text.startswith("PREDICTED recommendation (what-if, not measured)") and "64 cores" in text


def test_tune_seeds_are_the_predicted_best_configs_of_its_space(tiny_db):
    from harness.tune.command import _whatif_seeds
    from harness.tune.space import search_space

    space = search_space(2, None, BACKENDS)
    said = []
    seeds = _whatif_seeds(tiny_db, _scenario_id(tiny_db), 2, "core", space, 2, said.append)
    assert len(seeds) == 2 and all(s in space for s in seeds)
    assert "predicted best" in said[0]


def test_whatif_without_the_workload_is_one_line(tiny_db, capsys):
    assert main(["whatif", "--db", str(tiny_db), "--scenario", "nope", "--cores", "4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "matches no workload" in err


def _scenario_id(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT DISTINCT scenario_id FROM harness_trials").fetchone()[0]


@pytest.mark.parametrize("learner", ["DR", "X", "R"])
def test_the_dependencies_are_the_learners_own(learner):
    """learner_needs against the library's task graph, built without running it."""
    import numpy as np
    from lightgbm import LGBMClassifier, LGBMRegressor

    from metalearners_core import metalearner_factory

    rng = np.random.default_rng(0)
    n_variants = 3
    X, y, w = rng.normal(size=(300, 3)), rng.normal(size=300), rng.integers(0, n_variants, 300)
    learner_obj = metalearner_factory(learner)(
        nuisance_model_factory=LGBMRegressor, propensity_model_factory=LGBMClassifier,
        treatment_model_factory=LGBMRegressor, is_classification=False, n_variants=n_variants, n_folds=2,
    )
    graph = learner_obj._fit_graph_of(X, y, w, None, False)
    kinds = {"DR": ["treatment_model"], "X": ["treatment_effect_model", "control_effect_model"],
             "R": ["treatment_model"]}[learner]
    for i, deferred in enumerate(graph.deferred):
        for kind in kinds:
            assert deferred.needs == learner_needs(learner, kind, i)
    assert learner_needs("T", "variant_outcome_model", 1) == frozenset()
