"""Engines side by side: metalearners_core against the metalearners package.

Per scenario measured with both engines: the wall-time ratio of each engine's best
config (best vs best) and of each engine's library default (default vs default),
each with a bootstrap interval resampling trials, THE rule's verdict on the two
(:func:`harness.analysis.stats.verdict`: the slower engine's config against the
faster's), the CPU ratio, the CATE RMSE of both and the config each engine wins
with. Ratios are metalearners / core: above 1 means metalearners_core is faster.
``rank`` picks the fits compared (warm: fits 2.. of each trial; cold: the first).

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

from harness.analysis.samples import ranked_fits
from harness.analysis.stats import ALPHA, MIN_EFFECT, SLOWER, ratio_ci, verdict
from harness.analysis.summary import ScenarioAnalysis, analyse

__all__ = ["CANDIDATE", "REFERENCE", "compare", "engines_verdict", "geometric_mean"]

REFERENCE, CANDIDATE = "metalearners", "core"


def _samples(fits: pd.DataFrame, engine: str, scenario_id: str, config_id: str) -> pd.DataFrame:
    """The trials (trial_id, wall_s) of one engine's config."""
    rows = fits[(fits["engine"] == engine) & (fits["scenario_id"] == scenario_id) & (fits["config_id"] == config_id)]
    return rows[["trial_id", "wall_s"]]


def engines_verdict(ref: pd.DataFrame, cand: pd.DataFrame, alpha: float, min_effect: float) -> str:
    """THE rule on two engines' configs: the slower (by median) against the faster."""
    if ref.empty or cand.empty:
        return "no data"
    core_faster = cand["wall_s"].median() <= ref["wall_s"].median()
    slow, fast = (ref, cand) if core_faster else (cand, ref)
    outcome = verdict(slow, fast, alpha, min_effect).verdict
    if outcome == SLOWER:
        return f"{CANDIDATE} faster" if core_faster else f"{REFERENCE} faster"
    return outcome  # tied, too few samples


def compare(
    fits: pd.DataFrame,
    tasks: pd.DataFrame | None = None,
    *,
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    rank: str = "warm",
) -> pd.DataFrame:
    """One row per scenario measured by both engines (on one core count); with the
    task traces, also the ceiling of the best-vs-best ratio on these cores."""
    ranked = ranked_fits(fits, rank)
    by_key: dict[tuple[str, int], dict[str, ScenarioAnalysis]] = {}
    for a in analyse(fits, tasks, alpha=alpha, min_effect=min_effect, rank=rank):
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
            ref_walls = _samples(ranked, REFERENCE, scenario_id, ref_config)
            cand_walls = _samples(ranked, CANDIDATE, scenario_id, cand_config)
            if len(ref_walls) and len(cand_walls):
                point, low, high = ratio_ci(ref_walls, cand_walls)
            else:
                point = low = high = np.nan
            row |= {f"{label}_ratio": point, f"{label}_low": low, f"{label}_high": high,
                    f"{label}_verdict": engines_verdict(ref_walls, cand_walls, alpha, min_effect)}
        row |= {
            "core_best": cand.fastest["config_id"],
            "metalearners_best": ref.fastest["config_id"],
            "core_best_wall": cand.fastest["wall_median"],
            "metalearners_best_wall": ref.fastest["wall_median"],
            "core_best_warm": cand.fastest["warm_median"],
            "core_best_cold": cand.fastest["cold_median"],
            "metalearners_best_warm": ref.fastest["warm_median"],
            "metalearners_best_cold": ref.fastest["cold_median"],
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
