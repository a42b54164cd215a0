"""The report on constructed fits and traces with known numbers (and on a real smoke store)."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from harness.config import ParallelConfig
from harness.analysis.bound import ideal_bound, work_span
from harness.analysis.stats import design_note, too_few_note
from harness.analysis.summary import analyse, summarise, winners
from harness.render.report import render
from harness.render.tables import format_table
from harness.report import render_report

SCENARIO = dict(
    learner="DR", n_rows=2000, n_features=5, n_variants=2, n_folds=2, base_model="lightgbm_small",
    outcome="continuous", effect="linear", propensity="randomised", seed=0,
)
SID = "DR-2k-test"
CORES = 2


def fit_rows(config: ParallelConfig, walls, cpus=None, rmse=0.5, engine="core", scenario_id=SID, peak=100.0,
             cold=None):
    """One trial per item of ``walls``: a cold fit (``cold`` x its first warm wall, default
    5 x) then its warm fits (a number: one warm fit; a list: several), as load_fits returns them."""
    rows = []
    cpus = cpus if cpus is not None else [w if np.isscalar(w) else w[0] for w in walls]
    for repeat, (trial_walls, cpu) in enumerate(zip(walls, cpus)):
        trial_walls = [trial_walls] if np.isscalar(trial_walls) else list(trial_walls)
        trial_id = f"{engine}-{scenario_id}-{config.id}-{repeat}"
        first = trial_walls[0]
        for fit_index in range(1 + len(trial_walls)):
            wall = first if fit_index == 0 else trial_walls[fit_index - 1]
            factor = (5 if cold is None else cold) if fit_index == 0 else 1
            rows.append(
                dict(
                    run_id="r1", trial_id=trial_id, engine=engine, scenario_id=scenario_id, **SCENARIO,
                    config_id=config.id, model_n_jobs=config.model_n_jobs,
                    n_jobs_cross_fitting=config.n_jobs_cross_fitting,
                    n_jobs_base_learners=config.n_jobs_base_learners,
                    backend=None if config.is_default else config.backend,
                    repeat=repeat, fit_index=fit_index, cold=fit_index == 0, status="ok", reason=None,
                    # the cold fit is slow and must not count (unless cold fits are ranked)
                    wall_s=wall * factor, cpu_s=cpu * factor,
                    cpu_util=cpu / wall / CORES, peak_mem_mb=peak, mem_measure="pss",
                    cate_rmse=rmse, n_cores=CORES,
                )
            )
    return rows


def failed_row(config: ParallelConfig, repeat=0, reason="timeout after 60s", engine="core"):
    return dict(
        run_id="r1", trial_id=f"failed-{config.id}-{repeat}", engine=engine, scenario_id=SID, **SCENARIO,
        config_id=config.id, model_n_jobs=config.model_n_jobs, n_jobs_cross_fitting=config.n_jobs_cross_fitting,
        n_jobs_base_learners=config.n_jobs_base_learners, backend=config.backend, repeat=repeat,
        fit_index=np.nan, cold=np.nan, status="failed", reason=reason, wall_s=np.nan, cpu_s=np.nan,
        cpu_util=np.nan, peak_mem_mb=np.nan, mem_measure=None, cate_rmse=np.nan, n_cores=CORES,
    )


SERIAL = ParallelConfig(1, 1, 1, "loky")
FAST = ParallelConfig(1, 2, 1, "loky")
SAME = ParallelConfig(1, 1, 2, "threading")  # identical samples to FAST
SLOW = ParallelConfig(2, 1, 1, "loky")
BROKEN = ParallelConfig(1, 1, 2, "loky")

FAST_WALLS = [5.0, 5.1, 4.9, 5.05, 4.95]


def task_rows(trial_id, fit_index=1, config_id=SERIAL.id, durations=None):
    """A serial trace: nuisance tasks of 1, 2, 3 s, treatment tasks of 0.5 and 1.5 s."""
    durations = durations or {"nuisance": [1.0, 2.0, 3.0], "treatment": [0.5, 1.5]}
    rows, t = [], 0.0
    for stage, ds in durations.items():
        for i, d in enumerate(ds):
            rows.append(
                dict(
                    trial_id=trial_id, fit_index=fit_index, engine="core", scenario_id=SID, config_id=config_id,
                    repeat=0, stage=stage, model_kind=f"{stage}_model", model_ord=0, fold=float(i), n_rows=1000,
                    start_s=t, end_s=t + d, pid=1, thread=1, model_n_jobs=1, openmp_threads=1,
                )
            )
            t += d
    return rows


@pytest.fixture
def fits() -> pd.DataFrame:
    rows = (
        fit_rows(SERIAL, [10.0, 10.2, 9.8, 10.1, 9.9], cpus=[10.0] * 5)
        + fit_rows(FAST, FAST_WALLS, cpus=[12.5] * 5)
        + fit_rows(SAME, FAST_WALLS, cpus=[12.5] * 5)
        + fit_rows(SLOW, [8.0, 8.1, 7.9, 8.2, 7.8], cpus=[16.0] * 5)
        + fit_rows(ParallelConfig(), [6.0, 6.1, 5.9, 6.2, 5.8], cpus=[12.0] * 5)
        + [failed_row(BROKEN, 0), failed_row(BROKEN, 1, reason="out of memory: killed")]
    )
    return pd.DataFrame(rows)


@pytest.fixture
def tasks(fits) -> pd.DataFrame:
    serial_trials = fits[fits["config_id"] == SERIAL.id]["trial_id"].unique()
    rows = [r for t in serial_trials for r in task_rows(t)]
    # the cold fit's trace is ten times longer and must be ignored
    cold = task_rows(serial_trials[0], fit_index=0, durations={"nuisance": [10.0, 20.0, 30.0], "treatment": [5.0]})
    return pd.DataFrame(rows + cold)


def test_ranking_speedup_and_efficiencies_are_exact(fits):
    table = summarise(fits, cores=CORES).set_index("config_id")
    ranked = summarise(fits, cores=CORES)
    assert ranked.iloc[0]["config_id"] in (FAST.id, SAME.id)  # lowest median first
    assert ranked.iloc[0]["verdict"] == "fastest"
    assert list(ranked["config_id"][2:5]) == ["default", SLOW.id, SERIAL.id]
    assert table.loc[FAST.id, "wall_median"] == pytest.approx(5.0)
    assert table.loc[FAST.id, "wall_q1"] == pytest.approx(4.95)
    assert table.loc[FAST.id, "wall_q3"] == pytest.approx(5.05)
    assert table.loc[FAST.id, "speedup"] == pytest.approx(2.0)
    assert table.loc[FAST.id, "cpu_eff"] == pytest.approx(10.0 / 12.5)
    assert table.loc[FAST.id, "threads"] == 2
    assert table.loc[FAST.id, "par_eff"] == pytest.approx(1.0)
    assert table.loc[SLOW.id, "speedup"] == pytest.approx(10.0 / 8.0)
    assert table.loc[SLOW.id, "par_eff"] == pytest.approx(10.0 / 8.0 / 2)
    assert table.loc[SERIAL.id, "speedup"] == pytest.approx(1.0)
    assert table.loc[SERIAL.id, "threads"] == 1
    assert table.loc["default", "threads"] == CORES  # cores // 1 model threads
    assert table.loc[FAST.id, "n"] == 5  # cold fits are not samples
    assert table.loc[BROKEN.id, "n"] == 0 and table.loc[BROKEN.id, "n_failed"] == 2
    assert np.isnan(table.loc[BROKEN.id, "rank"])


def test_slower_config_is_not_tied_and_identical_samples_are(fits):
    table = summarise(fits, cores=CORES).set_index("config_id")
    fastest = summarise(fits, cores=CORES).iloc[0]["config_id"]
    other = SAME.id if fastest == FAST.id else FAST.id
    assert table.loc[other, "verdict"] == "tied"
    assert table.loc[other, "p_value"] > 0.05
    for slower in (SLOW.id, SERIAL.id, "default"):
        assert table.loc[slower, "verdict"] == "slower"
        assert table.loc[slower, "p_value"] < 1e-4  # 5 vs 5 trials, far apart
        assert table.loc[slower, "effect"] > 1.15


def test_three_trials_separate_clearly_different_configs():
    # the old rank test could not (its smallest p at 3 vs 3 is 0.05): Welch on per-trial means can
    rows = fit_rows(SERIAL, [[10.0, 10.2], [10.1, 9.9], [9.9, 10.0]]) + fit_rows(FAST, [[5.0, 5.1], [5.1, 5.0], [4.9, 5.0]])
    a = analyse(pd.DataFrame(rows))[0]
    row = a.table.set_index("config_id").loc[SERIAL.id]
    assert row["verdict"] == "slower" and row["n"] == 3 and row["values"] == 6
    assert a.values_per_trial == 2


def test_one_trial_is_too_few_and_the_report_says_so():
    rows = fit_rows(SERIAL, [[10.0, 10.1, 9.9]]) + fit_rows(FAST, [5.0, 5.1, 4.9])  # serial: ONE process
    a = analyse(pd.DataFrame(rows))[0]
    assert a.table.set_index("config_id").loc[SERIAL.id, "verdict"] == "too few samples"  # never "tied"
    text = " ".join(render([a]).split())  # unwrapped
    assert f"{SERIAL.id}: {too_few_note()}." in text
    assert design_note() in text  # the design and its minimum repeats, in one sentence


def test_cold_ranking_ranks_the_first_fit_of_each_trial_and_shows_both():
    # FAST is fastest warm but pays a pool start-up cold (x5); SERIAL's cold fit costs no more than its warm ones
    rows = fit_rows(SERIAL, [10.0, 10.1, 9.9], cold=1.0) + fit_rows(FAST, [5.0, 5.1, 4.9], cold=5.0)
    warm = analyse(pd.DataFrame(rows))[0].table.set_index("config_id")
    cold = analyse(pd.DataFrame(rows), rank="cold")[0].table.set_index("config_id")
    assert warm.loc[FAST.id, "verdict"] == "fastest" and warm.loc[SERIAL.id, "verdict"] == "slower"
    assert cold.loc[SERIAL.id, "verdict"] == "fastest" and cold.loc[FAST.id, "verdict"] == "slower"
    for table in (warm, cold):  # both figures in every ranked table
        assert table.loc[FAST.id, "warm_median"] == pytest.approx(5.0)
        assert table.loc[FAST.id, "cold_median"] == pytest.approx(25.0)
    text = render(analyse(pd.DataFrame(rows), rank="cold"))
    assert "ranked by median cold wall" in text and "warm s" in text and "cold s" in text


def test_speed_ups_carry_their_interval(fits):
    table = summarise(fits, cores=CORES).set_index("config_id")
    assert table.loc[FAST.id, "speedup_low"] <= 2.0 <= table.loc[FAST.id, "speedup_high"]
    assert table.loc[FAST.id, "speedup_high"] - table.loc[FAST.id, "speedup_low"] < 0.2
    text = render(analyse(fits))
    assert "2.00x (1." in text  # the interval beside the speed-up


def test_ideal_bound_from_a_constructed_trace(tasks, fits):
    one = pd.DataFrame(task_rows("t"))
    assert work_span(one) == pytest.approx((8.0, 4.5))
    assert ideal_bound(one, cores=2).bound_s == pytest.approx(4.5)  # span-bound
    assert ideal_bound(one, cores=1).bound_s == pytest.approx(8.0)  # work-bound
    assert ideal_bound(one, cores=2).max_speedup == pytest.approx(8.0 / 4.5)
    [a] = analyse(fits, tasks)
    assert a.bound.work_s == pytest.approx(8.0)  # the cold trace is ignored
    assert a.bound.span_s == pytest.approx(4.5)
    assert a.bound.n_fits == 5
    assert a.glue_s == pytest.approx(10.0 - 8.0)
    assert a.bound_reached == pytest.approx(4.5 / 5.0)
    text = " ".join(render([a]).split())
    assert "= 4.500 s" in text and "90% of the ideal" in text
    assert "Serial glue" in text and "2.000 s" in text


def test_no_serial_config_says_so():
    rows = fit_rows(FAST, FAST_WALLS) + fit_rows(SLOW, [8.0] * 5)
    [a] = analyse(pd.DataFrame(rows))
    assert a.table["speedup"].isna().all()
    assert "was not measured" in render([a])


def test_failed_trials_are_listed_with_their_reason(fits):
    text = render(analyse(fits))
    assert "Failed trials" in text
    assert "timeout after 60s" in text and "out of memory: killed" in text
    assert f"{BROKEN.id}" in text


def test_a_scenario_whose_trials_all_failed():
    fits = pd.DataFrame(fit_rows(SERIAL, [1.0] * 3) + [failed_row(BROKEN, 0)])
    fits.loc[fits["status"] == "failed", "scenario_id"] = "X-all-failed"
    analyses = analyse(fits)
    assert [a.fastest is None for a in analyses] == [False, True]
    text = render(analyses)
    assert "No config has a warm measurement." in text and "- (no warm fit)" in text


def test_rmse_mismatch_is_flagged():
    rows = fit_rows(SERIAL, [10.0] * 3, rmse=0.5) + fit_rows(FAST, [5.0] * 3, rmse=0.51)
    [a] = analyse(pd.DataFrame(rows))
    assert not a.table.set_index("config_id").loc[FAST.id, "rmse_ok"]
    assert "CATE RMSE differs" in render([a])


def test_engines_and_scenarios_are_separate_and_summarised(fits, tasks):
    other = pd.DataFrame(
        fit_rows(SERIAL, [3.0] * 3, scenario_id="T-other") + fit_rows(SLOW, [2.0] * 3, scenario_id="T-other")
        + fit_rows(SERIAL, [12.0] * 3, engine="metalearners") + fit_rows(FAST, [7.0] * 3, engine="metalearners")
    )
    analyses = analyse(pd.concat([fits, other], ignore_index=True), tasks)
    assert [(a.engine, a.scenario_id) for a in analyses] == [
        ("core", SID), ("core", "T-other"), ("metalearners", SID)
    ]
    meta = analyses[2]
    # core's traces bound the package too, but its glue would count core's savings as glue
    assert meta.bound is not None and meta.glue_s is None
    assert "Serial glue" not in render([meta]) and "its own bound is higher" in render([meta])
    summary = winners(analyses).set_index(["engine", "scenario_id"])
    assert summary.loc[("core", "T-other"), "fastest"] == SLOW.id
    assert summary.loc[("core", "T-other"), "speedup"] == pytest.approx(1.5)
    assert summary.loc[("core", SID), "vs_default"] == pytest.approx(6.0 / 5.0)
    assert summary.loc[("metalearners", SID), "speedup"] == pytest.approx(12.0 / 7.0)


def test_markdown_has_table_rows(fits, tasks):
    text = render(analyse(fits, tasks), fmt="md")
    lines = text.splitlines()
    assert any(line.startswith("## core | ") for line in lines)
    assert any(line.startswith("| rank | config |") for line in lines)
    assert any(line.startswith("|---:|:---|") for line in lines)
    assert any(line.startswith(f"| 3 | default |") for line in lines)
    assert "## Summary" in text


def test_text_table_is_aligned():
    text = format_table([{"a": "1.5", "name": "x"}, {"a": "10.25", "name": "yy"}])
    header, rule, *rows = text.splitlines()
    assert rows == ["  1.5  x", "10.25  yy"]
    assert rule == "-----  ----"


def test_bad_format_is_a_value_error():
    with pytest.raises(ValueError, match="fmt='html'"):
        render([], fmt="html")


def test_render_report_on_the_smoke_db(smoke_db):
    text = render_report(smoke_db)
    assert "Summary: the fastest config per scenario" in text
    assert "FASTEST" in text
    md = render_report(smoke_db, fmt="md")
    assert "| rank | config |" in md


def test_the_sweep_efficiency_of_each_run_is_reported(fits):
    runs = pd.DataFrame([
        {"run_id": "r1", "preset": "default", "started_at": "2026-01-01T00:00:00+00:00",
         "finished_at": "2026-01-01T00:10:00+00:00", "n_trials": 3,
         "manifest": {"sweep": {"repeats": 3, "values": 2, "wall_s": 600.0, "warm_fit_s": 300.0,
                                "cold_fit_s": 150.0, "efficiency": 0.5}}},
        {"run_id": "r2", "preset": None, "started_at": "2026-01-01T01:00:00+00:00",
         "finished_at": "2026-01-01T01:01:40+00:00", "n_trials": 1, "manifest": {}},
    ])
    rows = fit_rows(SERIAL, [[1.0, 2.0]])  # 3 s of warm fits in run r2's 100 s
    for row in rows:
        row["run_id"] = "r2"
    text = " ".join(render(analyse(fits), runs=runs, fits=pd.concat([fits, pd.DataFrame(rows)])).split())
    assert "3 trials per config x 2 warm value(s) per trial" in text
    assert "efficiency 50% of the wall inside measured warm fits (300.0 of 600.0 s)" in text
    assert "efficiency 3% of the wall inside measured warm fits (3.000 of 100.0 s, estimated from the store)" in text
