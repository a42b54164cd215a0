"""One verdict rule: report and recommend say the same about the same samples,
including samples too few for the test to separate anything."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis.decision import decide
from harness.analysis.stats import TIED, TOO_FEW, SLOWER, verdict
from harness.analysis.summary import analyse
from harness.config import ParallelConfig

from .test_report import fit_rows

FAST, MID, SLOW = ParallelConfig(2, 1, 1, "loky"), ParallelConfig(1, 2, 1, "loky"), ParallelConfig(1, 1, 1, "loky")


def _both(walls: dict[ParallelConfig, list[float]]) -> tuple[dict[str, str], dict[str, str]]:
    rows = [row for config, w in walls.items() for row in fit_rows(config, w)]
    fits = pd.DataFrame(rows)
    [analysis] = analyse(fits)
    report = dict(zip(analysis.table["config_id"], analysis.table["verdict"]))
    warm = fits[~fits["cold"].astype(bool)]
    decision = decide(warm, cores=2)
    recommend = dict(zip(decision.table["config_id"], decision.table["verdict"]))
    return report, recommend


@pytest.mark.parametrize(
    "walls, expected",
    [
        # 2 vs 2: no test can reach p < 0.05, whatever the walls
        ({FAST: [1.0, 1.01], MID: [1.5, 1.52], SLOW: [3.0, 3.1]}, {MID.id: TOO_FEW, SLOW.id: TOO_FEW}),
        # 6 vs 6: separated and overlapping samples
        (
            {FAST: [1.0, 1.01, 0.99, 1.02, 1.0, 0.98], MID: [1.0, 0.99, 1.03, 1.01, 1.02, 0.995],
             SLOW: [2.0, 2.1, 1.9, 2.05, 2.0, 1.95]},
            {MID.id: TIED, SLOW.id: SLOWER},
        ),
    ],
)
def test_report_and_recommend_give_the_same_verdicts(walls, expected):
    report, recommend = _both(walls)
    assert report == recommend
    assert {cid: v for cid, v in report.items() if v != "fastest"} == expected


def test_the_rule_itself():
    rng = np.random.default_rng(0)
    same = rng.normal(1.0, 0.01, 8)
    assert verdict(same, same)[1] == TIED
    assert verdict(same * 2, same)[1] == SLOWER
    assert verdict([2.0, 2.1, 2.2], [1.0, 1.1, 1.2])[1] == TOO_FEW  # 3 vs 3: smallest p is 0.05
    assert verdict([], same)[1] == "no data"
