"""Engines side by side: metalearners_core against the metalearners package.

Per scenario measured with both engines: the wall-time ratio of each engine's best
config (best vs best) and of each engine's library default (default vs default),
each with a bootstrap interval from the raw warm samples, the CPU ratio, the CATE
RMSE of both and the config each engine wins with. Ratios are metalearners / core:
above 1 means metalearners_core is faster.

Where the core engine's serial task traces are stored, the ceiling says how far a
better schedule of core's fits could go on these cores: metalearners' best wall over
the ideal bound max(work / cores, span) of core's base-model fits. Both libraries fit
the same models; core's fits do less work where LightGBM models share binned data,
which the bound already counts, so no split and no scheduler of those fits can beat
it (it even leaves out the serial glue).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.samples import warm_fits
from harness.analysis.stats import ratio_ci
from harness.analysis.summary import ScenarioAnalysis, analyse

__all__ = ["CANDIDATE", "REFERENCE", "compare", "geometric_mean"]

REFERENCE, CANDIDATE = "metalearners", "core"


def _samples(warm: pd.DataFrame, engine: str, scenario_id: str, config_id: str, column: str) -> np.ndarray:
    rows = warm[(warm["engine"] == engine) & (warm["scenario_id"] == scenario_id) & (warm["config_id"] == config_id)]
    return rows[column].to_numpy(dtype=float)


def compare(fits: pd.DataFrame, tasks: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per scenario measured by both engines (on one core count); with the
    task traces, also the ceiling of the best-vs-best ratio on these cores."""
    warm = warm_fits(fits)
    by_key: dict[tuple[str, int], dict[str, ScenarioAnalysis]] = {}
    for a in analyse(fits, tasks):
        by_key.setdefault((a.scenario_id, a.cores), {})[a.engine] = a
    rows = []
    for (scenario_id, cores), engines in sorted(by_key.items()):
        if not {REFERENCE, CANDIDATE} <= set(engines):
            continue
        ref, cand = engines[REFERENCE], engines[CANDIDATE]
        if ref.fastest is None or cand.fastest is None:
            continue
        row: dict = {"scenario_id": scenario_id, "cores": cores, "learner": cand.scenario.get("learner")}
        for label, ref_config, cand_config in [
            ("best", ref.fastest["config_id"], cand.fastest["config_id"]),
            ("default", "default", "default"),
        ]:
            ref_walls = _samples(warm, REFERENCE, scenario_id, ref_config, "wall_s")
            cand_walls = _samples(warm, CANDIDATE, scenario_id, cand_config, "wall_s")
            if len(ref_walls) and len(cand_walls):
                point, low, high = ratio_ci(ref_walls, cand_walls)
            else:
                point = low = high = np.nan
            row |= {f"{label}_ratio": point, f"{label}_low": low, f"{label}_high": high}
        row |= {
            "core_best": cand.fastest["config_id"],
            "metalearners_best": ref.fastest["config_id"],
            "core_best_wall": cand.fastest["wall_median"],
            "metalearners_best_wall": ref.fastest["wall_median"],
            "cpu_ratio": ref.fastest["cpu_median"] / cand.fastest["cpu_median"],
            "ceiling": (
                ref.fastest["wall_median"] / cand.bound.bound_s if cand.bound is not None else np.nan
            ),
            "core_rmse": cand.fastest["cate_rmse"],
            "metalearners_rmse": ref.fastest["cate_rmse"],
        }
        rows.append(row)
    return pd.DataFrame(rows)


def geometric_mean(values: pd.Series) -> float:
    values = values.dropna()
    return float(np.exp(np.log(values).mean())) if len(values) else np.nan
