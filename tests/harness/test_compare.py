"""Engines side by side: ratios with intervals, on constructed samples with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis.compare import compare, geometric_mean

from .test_report import FAST, SERIAL, fit_rows, task_rows


def _fits() -> pd.DataFrame:
    rows = []
    # metalearners: serial 10 s, its best (FAST) 6 s; core: serial 8 s, best 3 s.
    rows += fit_rows(SERIAL, [10.0, 10.1, 9.9], engine="metalearners", rmse=0.5)
    rows += fit_rows(FAST, [6.0, 6.1, 5.9], engine="metalearners", rmse=0.5)
    rows += fit_rows(SERIAL, [8.0, 8.1, 7.9], engine="core", rmse=0.5)
    rows += fit_rows(FAST, [3.0, 3.1, 2.9], cpus=[4.0, 4.1, 3.9], engine="core", rmse=0.5)
    return pd.DataFrame(rows)


def test_best_vs_best_ratio_and_winners():
    (row,) = compare(_fits()).to_dict("records")
    assert row["best_ratio"] == pytest.approx(6.0 / 3.0)
    assert row["best_low"] <= 2.0 <= row["best_high"]
    assert row["core_best"] == FAST.id and row["metalearners_best"] == FAST.id
    assert row["cpu_ratio"] == pytest.approx(6.0 / 4.0)
    assert row["core_rmse"] == row["metalearners_rmse"] == 0.5
    assert np.isnan(row["default_ratio"])  # no default config measured


def test_ceiling_is_metalearners_best_over_the_ideal_bound_of_the_core_serial_trace():
    fits = _fits()
    serial_trials = fits[(fits["engine"] == "core") & (fits["config_id"] == SERIAL.id)]["trial_id"].unique()
    # work 8 s on 2 cores, span 3 + 1.5 = 4.5 s: the bound is 4.5 s
    tasks = pd.DataFrame([r for t in serial_trials for r in task_rows(t)])
    (row,) = compare(fits, tasks).to_dict("records")
    assert row["ceiling"] == pytest.approx(6.0 / 4.5)
    (without,) = compare(fits).to_dict("records")
    assert np.isnan(without["ceiling"])


def test_scenarios_of_one_engine_are_left_out():
    fits = pd.DataFrame(fit_rows(SERIAL, [1.0, 1.1, 0.9], engine="core"))
    assert compare(fits).empty


def test_geometric_mean_of_ratios():
    assert geometric_mean(pd.Series([2.0, 0.5, np.nan])) == pytest.approx(1.0)


def test_the_hint_without_both_engines_keeps_the_store(tmp_path):
    from harness.render.compare import render_compare
    from harness.store import Store

    db = tmp_path / "mine.db"
    with Store(db):
        pass
    text = render_compare(db)
    assert f"--db {db}" in text and "--engine core,metalearners" in text


def test_verdict_and_cold_ranking_beside_the_ratios(tmp_path):
    fits = _fits()
    (warm,) = compare(fits).to_dict("records")
    assert warm["best_verdict"] == "core faster"  # 6 s vs 3 s, 3 trials a side: THE rule separates them
    assert warm["core_best_warm"] == pytest.approx(3.0) and warm["core_best_cold"] == pytest.approx(15.0)
    (cold,) = compare(fits, rank="cold").to_dict("records")
    assert cold["best_ratio"] == pytest.approx(30.0 / 15.0)  # the cold fits (5 x the warm ones here)
    (strict,) = compare(fits, alpha=1e-12).to_dict("records")
    assert strict["best_verdict"] == "tied"  # not significant at this alpha


def test_cli_compare_rank_and_min_effect(tmp_path, capsys):
    from harness.cli import main
    from harness.config import ParallelConfig
    from scenarios import Scenario

    from .test_recommend import store_with

    scenario = Scenario(learner="DR", n_rows=2000, n_variants=2, n_folds=2, base_model="lightgbm_small", n_features=5)
    db = store_with(tmp_path / "c.db", scenario, {ParallelConfig(1, 1, 1, "loky"): [[1.0, 1.01], [1.02, 0.99]]},
                    engines=("core", "metalearners"))
    assert main(["compare", "--db", str(db), "--rank", "cold", "--min-effect", "5%"]) == 0
    out = capsys.readouterr().out
    assert "Ranked and compared: cold fits" in out and "more than 5% above" in out
    with pytest.raises(SystemExit) as exit_:  # argparse: not a fraction, one line
        main(["compare", "--db", str(db), "--min-effect", "2"])
    assert exit_.value.code == 2
    assert "use a fraction >= 0 and < 1" in capsys.readouterr().err
