"""The analysis of one workload: configs ranked, compared with the fastest, against the bound.

* :func:`summarise` -- one engine + scenario: one row per config with the median
  wall of the ranked kind of fit (warm or cold) and its IQR, both medians, the
  speed-up against THE serial config
  (:func:`~harness.analysis.samples.serial_reference`) with a bootstrap interval, CPU seconds, CPU and
  parallel efficiency, peak memory, CATE RMSE, and the verdict against the fastest
  (:func:`~harness.analysis.stats.verdict`).
* :func:`analyse` -- a :class:`ScenarioAnalysis` per (engine, scenario, cores), with
  the ideal bound from the core engine's serial traces; :func:`winners` the summary
  across scenarios. Pure functions on the store's DataFrames, shared by the report,
  the plots, compare and the notebook.
"""

from __future__ import annotations

import json

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.bound import IdealBound, ideal_bound
from harness.analysis.samples import (
    check_rank,
    cold_fits,
    config_from_row,
    cores_of,
    is_serial,
    level,
    ranked_fits,
    serial_reference,
    warm_fits,
    warm_tasks,
)
from harness.analysis.stats import ALPHA, MIN_EFFECT, ratio_ci, verdict
from harness.config import LEVELS
from harness.store import SCENARIO_FIELDS

__all__ = ["RMSE_RTOL", "ScenarioAnalysis", "analyse", "summarise", "winners"]

#: relative difference of CATE RMSE between configs above which a config is flagged
RMSE_RTOL = 1e-6


def summarise(
    fits: pd.DataFrame,
    alpha: float = ALPHA,
    cores: int | None = None,
    *,
    min_effect: float = MIN_EFFECT,
    rank: str = "warm",
) -> pd.DataFrame:
    """Per config of ONE engine + scenario: ranked by the median wall of the ``rank`` kind
    of fit (``warm``: fits 2.. of each trial; ``cold``: the first fit of each trial).

    Columns: config_id, the levels and backend, threads (``total_threads`` of the
    config on ``cores``), n (trials with a ranked fit), values (ranked fits), n_failed
    (failed trials), wall_median, wall_q1, wall_q3 (of the ranked fits), warm_median and
    cold_median (both kinds, whatever is ranked), cpu_median, speedup (serial median
    wall over this config's) with speedup_low / speedup_high (95% bootstrap interval
    resampling trials), cpu_eff (serial CPU over this config's), par_eff (speed-up per
    thread), peak_mem_mb (median), cate_rmse (median), rmse_ok (equal to the
    reference config's within :data:`RMSE_RTOL`), p_value, effect (geometric-mean trial
    wall over the fastest's) and verdict ("fastest", "tied", "slower", "too few
    samples") from :func:`harness.analysis.stats.verdict`, oversubscribed (a trial of it
    recorded metalearners_core's OversubscriptionWarning: more threads asked for than cores),
    rank (1 = fastest). Configs with no ranked fit come last with NaN figures.
    """
    check_rank(rank)
    if fits.empty:
        return pd.DataFrame(columns=_SUMMARY_COLUMNS)
    if cores is None:
        cores = cores_of(fits)
    ranked_rows = ranked_fits(fits, rank)
    warm, cold = warm_fits(fits), cold_fits(fits)
    failed = fits[fits["status"] != "ok"].drop_duplicates("trial_id")["config_id"].value_counts()
    rows, trials = [], {}
    for config_id, group in fits.groupby("config_id", sort=False):
        config = config_from_row(group.iloc[0])
        w = ranked_rows[ranked_rows["config_id"] == config_id]
        ok = group[(group["status"] == "ok") & group["cate_rmse"].notna()]
        walls = w["wall_s"].to_numpy(dtype=float)
        trials[config_id] = w[["trial_id", "wall_s"]]
        rows.append(
            {
                "config_id": config_id,
                **{name: level(group.iloc[0][name]) for name in LEVELS},
                "backend": config.backend if config.pool_workers > 1 or not config.is_default else None,
                "threads": config.total_threads(cores),
                "n": int(w["trial_id"].nunique()),
                "values": len(walls),
                "n_failed": int(failed.get(config_id, 0)),
                "wall_median": float(np.median(walls)) if len(walls) else np.nan,
                "wall_q1": float(np.percentile(walls, 25)) if len(walls) else np.nan,
                "wall_q3": float(np.percentile(walls, 75)) if len(walls) else np.nan,
                "warm_median": _median(warm.loc[warm["config_id"] == config_id, "wall_s"]),
                "cold_median": _median(cold.loc[cold["config_id"] == config_id, "wall_s"]),
                "cpu_median": float(w["cpu_s"].median()) if len(w) else np.nan,
                "peak_mem_mb": float(w["peak_mem_mb"].median()) if len(w) else np.nan,
                "cate_rmse": float(ok["cate_rmse"].median()) if len(ok) else np.nan,
                "oversubscribed": "oversubscription" in group and bool(group["oversubscription"].notna().any()),
            }
        )
    table = pd.DataFrame(rows).sort_values(["wall_median", "config_id"], na_position="last")
    table = table.reset_index(drop=True)
    table["rank"] = np.where(table["n"] > 0, np.arange(1, len(table) + 1), np.nan)

    serial_id = serial_reference(ranked_rows)
    serial = table[table["config_id"] == serial_id]
    table["speedup"] = table["speedup_low"] = table["speedup_high"] = np.nan
    if len(serial):
        ref = serial.iloc[0]
        table["cpu_eff"] = ref["cpu_median"] / table["cpu_median"]
        for i, config_id in enumerate(table["config_id"]):
            if table.at[i, "n"] > 0:
                point, low, high = ratio_ci(trials[serial_id], trials[config_id], n_boot=_N_BOOT)
                table.loc[i, ["speedup", "speedup_low", "speedup_high"]] = [point, low, high]
    else:
        table["cpu_eff"] = np.nan
    table["par_eff"] = table["speedup"] / table["threads"]

    # CATE RMSE: one answer whatever the split (reference: serial, else the most common)
    rmse = table["cate_rmse"].dropna()
    if len(serial) and not np.isnan(serial["cate_rmse"].iloc[0]):
        ref_rmse = float(serial["cate_rmse"].iloc[0])
    elif len(rmse):
        ref_rmse = float(rmse.round(12).mode().iloc[0])
    else:
        ref_rmse = np.nan
    table["rmse_ok"] = [
        True if np.isnan(v) or np.isnan(ref_rmse) else bool(abs(v - ref_rmse) <= RMSE_RTOL * max(abs(ref_rmse), 1e-12))
        for v in table["cate_rmse"]
    ]

    # THE rule against the fastest, on the per-trial structure
    fastest = trials[table.iloc[0]["config_id"]]
    tests = [
        verdict(trials[cid], fastest, alpha, min_effect, is_fastest=i == 0) for i, cid in enumerate(table["config_id"])
    ]
    table["p_value"] = [t.p_value for t in tests]
    table["effect"] = [t.effect for t in tests]
    table["verdict"] = [t.verdict for t in tests]
    return table[_SUMMARY_COLUMNS]


#: bootstrap resamples of every speed-up interval in a summary (seeded)
_N_BOOT = 4000


def _median(values: pd.Series) -> float:
    values = values.dropna()
    return float(values.median()) if len(values) else np.nan


_SUMMARY_COLUMNS = [
    "rank",
    "config_id",
    *LEVELS,
    "backend",
    "threads",
    "n",
    "values",
    "n_failed",
    "wall_median",
    "wall_q1",
    "wall_q3",
    "warm_median",
    "cold_median",
    "speedup",
    "speedup_low",
    "speedup_high",
    "cpu_median",
    "cpu_eff",
    "par_eff",
    "peak_mem_mb",
    "cate_rmse",
    "rmse_ok",
    "p_value",
    "effect",
    "verdict",
    "oversubscribed",
]


@dataclass
class ScenarioAnalysis:
    """Everything the report says about one engine + scenario (on one core count)."""

    engine: str
    scenario_id: str
    scenario: dict[str, Any]
    cores: int
    repeats: int
    table: pd.DataFrame
    failures: pd.DataFrame
    bound: IdealBound | None = None
    serial_wall_s: float | None = None
    serial_config: str | None = None
    alpha: float = ALPHA
    notes: list[str] = field(default_factory=list)
    min_effect: float = MIN_EFFECT
    rank: str = "warm"
    #: the library default's median wall / the fastest's, with its 95% interval (None: no default measured)
    vs_default: tuple[float, float, float] | None = None

    @property
    def values_per_trial(self) -> float | None:
        """Median number of ranked fits per trial (1 when cold fits are ranked)."""
        ranked = self.ranked
        if ranked.empty:
            return None
        return float(np.median(ranked["values"] / ranked["n"]))
    #: The learner's out-of-sample ``evaluate`` metrics (median over warm fits) where
    #: there is no true CATE to score (a user's data file).
    evaluate: dict[str, float] = field(default_factory=dict)

    @property
    def ranked(self) -> pd.DataFrame:
        return self.table[self.table["n"] > 0]

    @property
    def fastest(self) -> pd.Series | None:
        return self.ranked.iloc[0] if len(self.ranked) else None

    @property
    def glue_s(self) -> float | None:
        """Serial wall minus work: what the serial fit spends outside base-model fits.

        Only from the engine's own traces (the core engine's): the package's fits do
        more work where core's LightGBM models share binned data.
        """
        warm = self._serial_warm_s
        if self.bound is None or warm is None or self.engine != "core":
            return None
        return warm - self.bound.work_s

    @property
    def _serial_warm_s(self) -> float | None:
        """The serial config's median warm wall (the traces are of warm fits)."""
        if self.serial_config is None:
            return None
        row = self.table[self.table["config_id"] == self.serial_config]
        value = float(row["warm_median"].iloc[0]) if len(row) else float("nan")
        return None if np.isnan(value) else value

    @property
    def ideal_serial_s(self) -> float | None:
        """What ideal speed-ups divide: the engine's own serial wall for core; core's work
        for another engine, so that its ideal speed-up is that of the task graph and not
        also core's savings (binned data shared by LightGBM models)."""
        if self.bound is None:
            return None
        return self._serial_warm_s if self.engine == "core" else self.bound.work_s

    @property
    def bound_reached(self) -> float | None:
        """ideal bound / fastest median wall (1 = the fastest config is ideal)."""
        if self.bound is None or self.fastest is None:
            return None
        return self.bound.bound_s / float(self.fastest["wall_median"])

    @property
    def title(self) -> str:
        return f"{self.engine} | {self.scenario_id}"


def _evaluate_medians(group: pd.DataFrame) -> dict[str, float]:
    """Median of each ``evaluate`` metric over the warm, ok fits (empty when none)."""
    if "evaluate" not in group:
        return {}
    rows = group[(group["status"] == "ok") & ~group["cold"] & group["evaluate"].notna()]
    if rows.empty:
        return {}
    metrics = pd.DataFrame([json.loads(text) for text in rows["evaluate"]])
    return {name: float(value) for name, value in metrics.median().items()}


def analyse(
    fits: pd.DataFrame,
    tasks: pd.DataFrame | None = None,
    alpha: float = ALPHA,
    *,
    min_effect: float = MIN_EFFECT,
    rank: str = "warm",
) -> list[ScenarioAnalysis]:
    """A :class:`ScenarioAnalysis` per (engine, scenario, cores), in a stable order.

    The ideal bound of every engine comes from the core engine's serial traces of
    the same scenario (the metalearners engine records none; the models are the
    same, core's fits do less work where LightGBM models share binned data); the
    serial glue only for the core engine.
    """
    if fits.empty:
        return []
    fits = fits.copy()
    # a failed trial may lack the core count: take the one of its engine + scenario
    fill = fits.groupby(["engine", "scenario_id"])["n_cores"].transform(
        lambda s: s.dropna().mode().iloc[0] if s.notna().any() else np.nan
    )
    fits["n_cores"] = fits["n_cores"].fillna(fill).fillna(1).astype(int)
    tasks = tasks if tasks is not None else pd.DataFrame()
    wtasks = warm_tasks(tasks, fits) if not tasks.empty else tasks

    out = []
    for (engine, scenario_id, cores), group in fits.groupby(["engine", "scenario_id", "n_cores"], sort=True):
        first = group.iloc[0]
        scenario = {name: _plain(first[name]) for name in SCENARIO_FIELDS if name in group}
        table = summarise(group, alpha=alpha, cores=int(cores), min_effect=min_effect, rank=rank)
        failed = group[group["status"] != "ok"].drop_duplicates("trial_id")
        failures = failed[["config_id", "repeat", "trial_id", "reason"]].sort_values(["config_id", "repeat"])
        analysis = ScenarioAnalysis(
            engine=str(engine),
            scenario_id=str(scenario_id),
            scenario=scenario,
            cores=int(cores),
            repeats=int(group["repeat"].nunique()),
            table=table,
            failures=failures.reset_index(drop=True),
            alpha=alpha,
            min_effect=min_effect,
            rank=rank,
        )
        ranked_rows = ranked_fits(group, rank)
        if analysis.fastest is not None and (ranked_rows["config_id"] == "default").any():
            analysis.vs_default = ratio_ci(
                ranked_rows[ranked_rows["config_id"] == "default"],
                ranked_rows[ranked_rows["config_id"] == analysis.fastest["config_id"]],
                n_boot=_N_BOOT,
            )
        serial_id = serial_reference(ranked_rows)
        analysis.evaluate = _evaluate_medians(group)
        if serial_id is not None:
            analysis.serial_config = serial_id
            analysis.serial_wall_s = float(table.loc[table["config_id"] == serial_id, "wall_median"].iloc[0])
        if not wtasks.empty:
            core_trials = fits[
                (fits["engine"] == "core")
                & (fits["scenario_id"] == scenario_id)
                & (fits["n_cores"] == cores)
                & fits["config_id"].map(is_serial)
            ]["trial_id"]
            serial_tasks = wtasks[wtasks["trial_id"].isin(set(core_trials))]
            analysis.bound = ideal_bound(serial_tasks, int(cores))
            if analysis.bound is not None and engine != "core":
                analysis.notes.append(
                    "work and span are from the core engine's serial traces; the package's fits do more "
                    "work where core's LightGBM models share binned data, so its own bound is higher"
                )
        oversubscribed = table[table["oversubscribed"]]["config_id"].tolist()
        if oversubscribed:
            analysis.notes.append(
                f"* oversubscribed: {', '.join(oversubscribed)} asked for more threads in flight than the "
                f"{int(cores)} cores (the library warned in their trials)"
            )
        bad = table[~table["rmse_ok"]]
        if len(bad):
            analysis.notes.append(
                "CATE RMSE differs between configs (it should not): " + ", ".join(bad["config_id"])
            )
        out.append(analysis)
    return out


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def winners(analyses: list[ScenarioAnalysis]) -> pd.DataFrame:
    """The summary across scenarios: per engine + scenario the fastest config."""
    rows = []
    for a in analyses:
        best = a.fastest
        if best is None:
            rows.append({"engine": a.engine, "scenario_id": a.scenario_id, "cores": a.cores, "fastest": None})
            continue
        rows.append(
            {
                "engine": a.engine,
                "scenario_id": a.scenario_id,
                "cores": a.cores,
                "fastest": best["config_id"],
                **{name: best[name] for name in LEVELS},
                "backend": best["backend"],
                "wall_median": best["wall_median"],
                "warm_median": best["warm_median"],
                "cold_median": best["cold_median"],
                "speedup": best["speedup"],
                "speedup_low": best["speedup_low"],
                "speedup_high": best["speedup_high"],
                "vs_default": a.vs_default[0] if a.vs_default else np.nan,
                "vs_default_low": a.vs_default[1] if a.vs_default else np.nan,
                "vs_default_high": a.vs_default[2] if a.vs_default else np.nan,
                "n_tied": int((a.ranked["verdict"] == "tied").sum()),
                "bound_reached": a.bound_reached if a.bound_reached is not None else np.nan,
            }
        )
    return pd.DataFrame(rows)
