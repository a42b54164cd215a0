"""The analysis of one workload: configs ranked, compared with the fastest, against the bound.

* :func:`summarise` -- one engine + scenario: one row per config with the median
  warm wall and its IQR, speed-up against THE serial config
  (:func:`~harness.analysis.samples.serial_reference`), CPU seconds, CPU and
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
from harness.analysis.samples import config_from_row, cores_of, is_serial, level, serial_reference, warm_fits, warm_tasks
from harness.analysis.stats import ALPHA, verdict
from harness.config import LEVELS
from harness.store import SCENARIO_FIELDS

__all__ = ["RMSE_RTOL", "ScenarioAnalysis", "analyse", "summarise", "winners"]

#: relative difference of CATE RMSE between configs above which a config is flagged
RMSE_RTOL = 1e-6


def summarise(fits: pd.DataFrame, alpha: float = ALPHA, cores: int | None = None) -> pd.DataFrame:
    """Per config of ONE engine + scenario: ranked by median warm wall (fastest first).

    Columns: config_id, the levels and backend, threads (``total_threads`` of the
    config on ``cores``), n (warm samples), n_failed (failed trials), wall_median,
    wall_q1, wall_q3, cpu_median, speedup / cpu_eff (serial median wall or CPU over
    this config's; NaN without a measured serial config), par_eff (speed-up per
    thread), peak_mem_mb (median), cate_rmse (median), rmse_ok (equal to the
    reference config's within :data:`RMSE_RTOL`), p_value (one-sided Mann-Whitney U
    vs the fastest; NaN for the fastest), verdict ("fastest", "tied", "slower",
    "too few samples"),
    rank (1 = fastest). The verdicts are :func:`harness.analysis.stats.verdict`'s. Configs with no warm sample come last with NaN figures.
    """
    if fits.empty:
        return pd.DataFrame(columns=_SUMMARY_COLUMNS)
    if cores is None:
        cores = cores_of(fits)
    warm = warm_fits(fits)
    failed = fits[fits["status"] != "ok"].drop_duplicates("trial_id")["config_id"].value_counts()
    rows = []
    for config_id, group in fits.groupby("config_id", sort=False):
        config = config_from_row(group.iloc[0])
        w = warm[warm["config_id"] == config_id]
        ok = group[(group["status"] == "ok") & group["cate_rmse"].notna()]
        walls = w["wall_s"].to_numpy(dtype=float)
        rows.append(
            {
                "config_id": config_id,
                **{name: level(group.iloc[0][name]) for name in LEVELS},
                "backend": config.backend if config.pool_workers > 1 or not config.is_default else None,
                "threads": config.total_threads(cores),
                "n": len(walls),
                "n_failed": int(failed.get(config_id, 0)),
                "wall_median": float(np.median(walls)) if len(walls) else np.nan,
                "wall_q1": float(np.percentile(walls, 25)) if len(walls) else np.nan,
                "wall_q3": float(np.percentile(walls, 75)) if len(walls) else np.nan,
                "cpu_median": float(w["cpu_s"].median()) if len(w) else np.nan,
                "peak_mem_mb": float(w["peak_mem_mb"].median()) if len(w) else np.nan,
                "cate_rmse": float(ok["cate_rmse"].median()) if len(ok) else np.nan,
                "_walls": walls,
            }
        )
    table = pd.DataFrame(rows).sort_values(["wall_median", "config_id"], na_position="last")
    table = table.reset_index(drop=True)
    table["rank"] = np.where(table["n"] > 0, np.arange(1, len(table) + 1), np.nan)

    serial_id = serial_reference(warm)
    serial = table[table["config_id"] == serial_id]
    if len(serial):
        ref = serial.iloc[0]
        table["speedup"] = ref["wall_median"] / table["wall_median"]
        table["cpu_eff"] = ref["cpu_median"] / table["cpu_median"]
    else:
        table["speedup"] = np.nan
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

    # ties with the fastest
    fastest = table.iloc[0]["_walls"]
    tests = [verdict(walls, fastest, alpha, is_fastest=i == 0) for i, walls in enumerate(table["_walls"])]
    table["p_value"] = [p for p, _ in tests]
    table["verdict"] = [v for _, v in tests]
    return table.drop(columns="_walls")[_SUMMARY_COLUMNS]


_SUMMARY_COLUMNS = [
    "rank",
    "config_id",
    *LEVELS,
    "backend",
    "threads",
    "n",
    "n_failed",
    "wall_median",
    "wall_q1",
    "wall_q3",
    "speedup",
    "cpu_median",
    "cpu_eff",
    "par_eff",
    "peak_mem_mb",
    "cate_rmse",
    "rmse_ok",
    "p_value",
    "verdict",
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
        if self.bound is None or self.serial_wall_s is None or self.engine != "core":
            return None
        return self.serial_wall_s - self.bound.work_s

    @property
    def ideal_serial_s(self) -> float | None:
        """What ideal speed-ups divide: the engine's own serial wall for core; core's work
        for another engine, so that its ideal speed-up is that of the task graph and not
        also core's savings (binned data shared by LightGBM models)."""
        if self.bound is None:
            return None
        return self.serial_wall_s if self.engine == "core" else self.bound.work_s

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


def analyse(fits: pd.DataFrame, tasks: pd.DataFrame | None = None, alpha: float = ALPHA) -> list[ScenarioAnalysis]:
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
        table = summarise(group, alpha=alpha, cores=int(cores))
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
        )
        analysis.evaluate = _evaluate_medians(group)
        serial_id = serial_reference(warm_fits(group))
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
        default = a.ranked[a.ranked["config_id"] == "default"]
        rows.append(
            {
                "engine": a.engine,
                "scenario_id": a.scenario_id,
                "cores": a.cores,
                "fastest": best["config_id"],
                **{name: best[name] for name in LEVELS},
                "backend": best["backend"],
                "wall_median": best["wall_median"],
                "speedup": best["speedup"],
                "vs_default": (
                    float(default["wall_median"].iloc[0]) / best["wall_median"] if len(default) else np.nan
                ),
                "n_tied": int((a.ranked["verdict"] == "tied").sum()),
                "bound_reached": a.bound_reached if a.bound_reached is not None else np.nan,
            }
        )
    return pd.DataFrame(rows)
