"""The decision: which config to put into production from a workload's samples.

The fastest config is the one with the lowest median wall of the ranked kind of fit
(warm by default, cold with ``--rank cold``); every other config gets
:func:`harness.analysis.stats.verdict` against it, trial by trial (the rule the report
uses too). Among the fastest and the configs tied with it the simplest wins
(:func:`simplicity_key`, order :data:`SIMPLICITY`): fewer threads in total, fewer
parallel levels in use, fewer pool workers (threads inside the base model need no
pool, no process start-up, no copies), loky before threading, fewer settings.
:func:`leaders` picks the configs worth re-measuring.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis.samples import check_rank, config_from_row, ranked_fits
from harness.analysis.stats import ALPHA, MIN_EFFECT, RANKS, TIED, TOO_FEW, method, verdict
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
    # the grid level (a grid search's n_jobs; None on a plain fit) counts like the others
    levels_used = sum(v > 1 for v in (model, config.n_jobs_cross_fitting or 1, config.n_jobs_base_learners or 1,
                                      config.n_jobs_grid or 1))
    threading = int(pool > 1 and config.backend == "threading")
    settings = sum(v is not None for v in (config.model_n_jobs, config.n_jobs_cross_fitting, config.n_jobs_base_learners,
                                           config.n_jobs_grid))
    return (config.total_threads(cores), levels_used, pool, threading, settings, config.id)


# -- the decision ------------------------------------------------------------------------


@dataclass
class Decision:
    """Which config to recommend from a set of samples, and why.

    ``table``: one row per config (config_id, n trials, values, wall_median of the
    ranked kind, warm_median, cold_median, p_value, effect, verdict, threads,
    simplicity), ranked by median wall; verdicts "fastest", "tied", "slower",
    "too few samples". ``rank``: which fits were ranked ("warm" or "cold").
    """

    recommended: str
    fastest: str
    tied: list[str]
    table: pd.DataFrame
    alpha: float
    min_effect: float = MIN_EFFECT
    rank: str = "warm"

    @property
    def test(self) -> str:
        return method(self.rank)

    @property
    def underpowered(self) -> list[str]:
        return list(self.table.loc[self.table["verdict"] == TOO_FEW, "config_id"])


def _configs(samples: pd.DataFrame) -> dict[str, ParallelConfig]:
    first = samples.drop_duplicates("config_id")
    return {row["config_id"]: config_from_row(row) for _, row in first.iterrows()}


def _ok(fits: pd.DataFrame) -> pd.DataFrame:
    fits = fits[fits["wall_s"].notna()]
    return fits[fits["status"] == "ok"] if "status" in fits else fits


def decide(
    fits: pd.DataFrame,
    cores: int,
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    rank: str = "warm",
) -> Decision:
    """The simplest config tied with the fastest (THE rule: :func:`harness.analysis.stats.verdict`).

    ``fits``: fits rows with ``config_id``, ``trial_id``, ``wall_s``, ``cold`` and the
    config's levels (``model_n_jobs``, ``n_jobs_cross_fitting``,
    ``n_jobs_base_learners``; NaN/None for the library default) and ``backend``. The
    ``rank`` kind of fit (warm: fits 2.. of each trial; cold: the first) is ranked
    and tested; the medians of both kinds are in the table.
    """
    check_rank(rank)
    fits = _ok(fits)
    samples = ranked_fits(fits.assign(status="ok"), rank) if "cold" in fits else fits
    if samples.empty:
        raise NoData(f"no {rank} samples to decide on")
    configs = _configs(samples)
    trials = {cid: g[["trial_id", "wall_s"]] for cid, g in samples.groupby("config_id", sort=False)}
    medians = {cid: float(np.median(t["wall_s"])) for cid, t in trials.items()}
    ranked = sorted(trials, key=lambda cid: (medians[cid], simplicity_key(configs[cid], cores)))
    fastest = ranked[0]
    simple_rank = {cid: i for i, cid in enumerate(sorted(trials, key=lambda c: simplicity_key(configs[c], cores)))}
    kinds = {kind: ranked_fits(fits.assign(status="ok"), kind) if "cold" in fits else fits.iloc[:0] for kind in RANKS}
    rows, tied = [], []
    for cid in ranked:
        p, effect, verdict_ = verdict(trials[cid], trials[fastest], alpha, min_effect, is_fastest=cid == fastest)
        if verdict_ == TIED:
            tied.append(cid)
        both = {f"{kind}_median": _median(k.loc[k["config_id"] == cid, "wall_s"]) for kind, k in kinds.items()}
        rows.append(
            {
                "config_id": cid,
                "n": int(trials[cid]["trial_id"].nunique()),
                "values": len(trials[cid]),
                "wall_median": medians[cid],
                **both,
                "p_value": p,
                "effect": effect,
                "verdict": verdict_,
                "threads": configs[cid].total_threads(cores),
                "simplicity": simple_rank[cid] + 1,
            }
        )
    candidates = [fastest, *tied]
    recommended = min(candidates, key=lambda cid: simplicity_key(configs[cid], cores))
    table = pd.DataFrame(rows)
    table["recommended"] = table["config_id"] == recommended
    return Decision(recommended, fastest, tied, table, alpha, min_effect, rank)


def _median(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.median()) if len(values) else float("nan")


def leaders(samples: pd.DataFrame, top: int) -> list[str]:
    """The ``top`` config ids by median wall of these samples (ties broken by id)."""
    medians = samples.groupby("config_id")["wall_s"].median().reset_index()
    medians = medians.sort_values(["wall_s", "config_id"])
    return list(medians["config_id"].head(top))
