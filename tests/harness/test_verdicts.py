"""One verdict rule: report, recommend and compare say the same about the same trials,
including trials too few for the test, in the same words."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.analysis.compare import compare, engines_verdict
from harness.analysis.decision import decide
from harness.analysis.stats import SLOWER, TIED, TOO_FEW, too_few_note, verdict
from harness.analysis.summary import analyse
from harness.config import ParallelConfig

from .test_report import fit_rows

FAST, MID, SLOW = ParallelConfig(2, 1, 1, "loky"), ParallelConfig(1, 2, 1, "loky"), ParallelConfig(1, 1, 1, "loky")


def _both(walls: dict[ParallelConfig, list], rank: str = "warm", min_effect: float = 0.03):
    rows = [row for config, w in walls.items() for row in fit_rows(config, w)]
    fits = pd.DataFrame(rows)
    [analysis] = analyse(fits, rank=rank, min_effect=min_effect)
    report = dict(zip(analysis.table["config_id"], analysis.table["verdict"]))
    decision = decide(fits, cores=2, rank=rank, min_effect=min_effect)
    recommend = dict(zip(decision.table["config_id"], decision.table["verdict"]))
    return report, recommend


@pytest.mark.parametrize(
    "walls, expected",
    [
        # 1 trial a side (however many values it holds): the test cannot run
        ({FAST: [[1.0, 1.01]], MID: [[1.5, 1.52]], SLOW: [[3.0, 3.1]]}, {MID.id: TOO_FEW, SLOW.id: TOO_FEW}),
        # 3 vs 3 trials of 2 values: separated (slower) and overlapping (tied) configs
        (
            {FAST: [[1.0, 1.01], [0.99, 1.02], [1.0, 0.98]], MID: [[1.0, 0.99], [1.03, 1.01], [1.02, 0.995]],
             SLOW: [[2.0, 2.1], [1.9, 2.05], [2.0, 1.95]]},
            {MID.id: TIED, SLOW.id: SLOWER},
        ),
        # 2% slower, precisely measured: significant but under the 3% threshold, so tied
        (
            {FAST: [[1.0, 1.0], [1.001, 1.0], [1.0, 0.999]], MID: [[1.02, 1.02], [1.021, 1.02], [1.02, 1.019]]},
            {MID.id: TIED},
        ),
    ],
)
def test_report_and_recommend_give_the_same_verdicts(walls, expected):
    report, recommend = _both(walls)
    assert report == recommend
    assert {cid: v for cid, v in report.items() if v != "fastest"} == expected


def test_the_same_verdicts_for_cold_ranks_and_other_thresholds():
    walls = {FAST: [[1.0, 1.004], [0.998, 1.002], [1.0, 0.997]], MID: [[1.02, 1.02], [1.021, 1.02], [1.02, 1.019]]}
    report, recommend = _both(walls, min_effect=0.01)
    assert report == recommend and report[MID.id] == SLOWER  # 2% > 1%: now it matters
    report, recommend = _both(walls, rank="cold")
    assert report == recommend


def test_compare_uses_the_same_rule():
    rows = fit_rows(FAST, [[1.0, 1.01], [0.99, 1.02], [1.0, 0.98]], engine="core")
    rows += fit_rows(FAST, [[2.0, 2.1], [1.9, 2.05], [2.0, 1.95]], engine="metalearners")
    (row,) = compare(pd.DataFrame(rows)).to_dict("records")
    assert row["best_verdict"] == "core faster"
    core = pd.DataFrame(fit_rows(FAST, [[1.0, 1.01]], engine="core"))[["trial_id", "wall_s"]]
    ml = pd.DataFrame(fit_rows(FAST, [[2.0, 2.1]], engine="metalearners"))[["trial_id", "wall_s"]]
    assert engines_verdict(ml, core, 0.05, 0.03) == TOO_FEW == verdict(ml, core).verdict


def test_too_few_samples_read_the_same_in_report_recommend_and_compare(tmp_path):
    """The same words in every command's output (one trial per config a side)."""
    from harness.recommend import recommend
    from harness.render.compare import render_compare
    from harness.render.recommend import render_text
    from harness.report import render_report
    from scenarios import Scenario

    from .test_recommend import store_with  # a real store with these trials

    scenario = Scenario(learner="DR", n_rows=2000, n_variants=2, n_folds=2, base_model="lightgbm_small", n_features=5)
    db = store_with(tmp_path / "few.db", scenario, {FAST: [[1.0, 1.01]], SLOW: [[3.0, 3.1]]},
                    engines=("core", "metalearners"))
    note = too_few_note()
    assert note in " ".join(render_report(db).split())
    rec = recommend(db, scenario, remeasure=False, log=None, cores=2)
    assert note in " ".join(render_text(rec).split())
    assert note in " ".join(render_compare(db).split())
