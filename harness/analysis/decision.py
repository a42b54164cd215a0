"""The decision: which config to put into production from a workload's samples.

The fastest config is the one with the lowest median warm wall; every other config
gets :func:`harness.analysis.stats.verdict` against it (the rule the report uses
too). Among the fastest and the configs tied with it the simplest wins
(:func:`simplicity_key`, order :data:`SIMPLICITY`): fewer threads in total, fewer
parallel levels in use, fewer pool workers (threads inside the base model need no
pool, no process start-up, no copies), loky before threading, fewer settings.
:func:`leaders` picks the configs worth re-measuring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.samples import config_from_row
from harness.analysis.stats import ALPHA, TEST_NAME, TIED, TOO_FEW, verdict
from harness.config import ParallelConfig
from harness.errors import NoData

__all__ = ["SIMPLICITY", "Decision", "decide", "leaders", "simplicity_key"]

SIMPLICITY = (
    "fewer threads in total, then fewer parallel levels in use, then fewer pool workers, "
    "then loky before threading, then fewer settings (library default first)"
)


def simplicity_key(config: ParallelConfig, cores: int) -> tuple[int, int, int, int, int, str]:
    """Sort key: smaller is simpler (see the module docstring, step 4)."""
    pool = config.pool_workers
    model = config.model_threads(cores)
    levels_used = sum(v > 1 for v in (model, config.n_jobs_cross_fitting or 1, config.n_jobs_base_learners or 1))
    threading = int(pool > 1 and config.backend == "threading")
    settings = sum(v is not None for v in (config.model_n_jobs, config.n_jobs_cross_fitting, config.n_jobs_base_learners))
    return (config.total_threads(cores), levels_used, pool, threading, settings, config.id)


# -- the decision ------------------------------------------------------------------------


@dataclass
class Decision:
    """Which config to recommend from a set of samples, and why.

    ``table``: one row per config (config_id, n, wall_median, p_value, verdict,
    simplicity), ranked by median wall; verdicts "fastest", "tied", "slower",
    "too few samples".
    """

    recommended: str
    fastest: str
    tied: list[str]
    table: pd.DataFrame
    alpha: float
    test: str = TEST_NAME

    @property
    def underpowered(self) -> list[str]:
        return list(self.table.loc[self.table["verdict"] == TOO_FEW, "config_id"])


def _configs(samples: pd.DataFrame) -> dict[str, ParallelConfig]:
    first = samples.drop_duplicates("config_id")
    return {row["config_id"]: config_from_row(row) for _, row in first.iterrows()}


def decide(samples: pd.DataFrame, cores: int, alpha: float = ALPHA) -> Decision:
    """The simplest config statistically tied with the fastest.

    ``samples``: one row per warm fit with columns ``config_id``, ``wall_s`` and the
    config's levels (``model_n_jobs``, ``n_jobs_cross_fitting``,
    ``n_jobs_base_learners``; NaN/None for the library default) and ``backend``.
    """
    samples = samples[samples["wall_s"].notna()]
    if samples.empty:
        raise NoData("no warm samples to decide on")
    configs = _configs(samples)
    walls = {cid: g["wall_s"].to_numpy(dtype=float) for cid, g in samples.groupby("config_id", sort=False)}
    ranked = sorted(walls, key=lambda cid: (float(np.median(walls[cid])), simplicity_key(configs[cid], cores)))
    fastest = ranked[0]
    simple_rank = {cid: i for i, cid in enumerate(sorted(walls, key=lambda c: simplicity_key(configs[c], cores)))}
    rows, tied = [], []
    for cid in ranked:
        p, verdict_ = verdict(walls[cid], walls[fastest], alpha, is_fastest=cid == fastest)
        if verdict_ == TIED:
            tied.append(cid)
        rows.append(
            {
                "config_id": cid,
                "n": len(walls[cid]),
                "wall_median": float(np.median(walls[cid])),
                "p_value": p,
                "verdict": verdict_,
                "threads": configs[cid].total_threads(cores),
                "simplicity": simple_rank[cid] + 1,
            }
        )
    candidates = [fastest, *tied]
    recommended = min(candidates, key=lambda cid: simplicity_key(configs[cid], cores))
    table = pd.DataFrame(rows)
    table["recommended"] = table["config_id"] == recommended
    return Decision(recommended, fastest, tied, table, alpha)



def leaders(warm: pd.DataFrame, top: int) -> list[str]:
    """The ``top`` config ids by median warm wall (ties broken by id)."""
    medians = warm.groupby("config_id")["wall_s"].median().reset_index()
    medians = medians.sort_values(["wall_s", "config_id"])
    return list(medians["config_id"].head(top))
