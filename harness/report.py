"""The report: per engine and scenario, the parallel configs ranked by warm wall time.

Everything here is a pure function on the DataFrames of :mod:`harness.store`
(``load_fits``, ``load_tasks``, ``load_runs``), so that the notebook, the plots and
other commands reuse the numbers the report prints:

* :func:`warm_fits` -- the samples that count: fits that are ``ok`` and not the
  cold warm-up fit of their trial.
* :func:`summarise` -- one engine + scenario: one row per config with the median
  warm wall and its IQR, speed-up against the serial config ``m1-f1-s1-*``, CPU
  seconds, CPU and parallel efficiency, peak memory, CATE RMSE, and the one-sided
  Mann-Whitney U test of each config against the fastest ("tied" or "slower").
* :func:`work_span` / :func:`ideal_bound` -- from the task traces of the serial
  config: work (sum of base-model fit durations), span (the longest fit of each
  stage, summed: stages run one after the other) and the ideal wall
  ``max(work / cores, span)``; ``serial wall - work`` is the serial glue.
* :func:`analyse` -- all of it for every (engine, scenario, cores) group, as
  :class:`ScenarioAnalysis` objects; :func:`winners` the summary across scenarios.
* :func:`render_report` -- text (aligned columns) or Markdown.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from harness.config import LEVELS, ParallelConfig
from harness.store import SCENARIO_FIELDS

__all__ = [
    "ALPHA",
    "IdealBound",
    "ScenarioAnalysis",
    "analyse",
    "config_from_row",
    "format_table",
    "ideal_bound",
    "is_serial",
    "mann_whitney_p",
    "min_attainable_p",
    "render",
    "render_report",
    "repeats_needed",
    "summarise",
    "warm_fits",
    "warm_tasks",
    "winners",
    "work_span",
]

ALPHA = 0.05
#: relative difference of CATE RMSE between configs above which a config is flagged
RMSE_RTOL = 1e-6
#: exact permutation p-values up to this many splits of the pooled samples
_EXACT_SPLITS = 20_000


# -- configs -------------------------------------------------------------------------


def _level(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return int(value)


def config_from_row(row: Any) -> ParallelConfig:
    """The :class:`ParallelConfig` of a fits row (NaN level = library default)."""
    backend = row["backend"]
    if not isinstance(backend, str):
        backend = "loky"
    return ParallelConfig(*(_level(row[name]) for name in LEVELS), backend=backend)


def is_serial(config_id: str) -> bool:
    """``m1-f1-s1-<backend>``: one thread, no worker pool."""
    return config_id.startswith("m1-f1-s1-")


# -- samples ---------------------------------------------------------------------------


def warm_fits(fits: pd.DataFrame) -> pd.DataFrame:
    """The measured samples: status ``ok``, not the cold fit, with a wall time."""
    if fits.empty:
        return fits
    cold = fits["cold"].astype("boolean").fillna(True).astype(bool)
    keep = (fits["status"] == "ok") & ~cold & fits["wall_s"].notna()
    return fits[keep]


def warm_tasks(tasks: pd.DataFrame, fits: pd.DataFrame) -> pd.DataFrame:
    """The task-trace rows of warm, ok fits (joined on trial and fit index)."""
    if tasks.empty:
        return tasks
    keys = warm_fits(fits)[["trial_id", "fit_index"]].drop_duplicates()
    keys = keys.astype({"fit_index": tasks["fit_index"].dtype}, errors="ignore")
    return tasks.merge(keys, on=["trial_id", "fit_index"], how="inner")


# -- the significance test -------------------------------------------------------------


def min_attainable_p(n1: int, n2: int) -> float:
    """Smallest one-sided p-value a rank test of n1 vs n2 samples can give: 1 / C(n1+n2, n1)."""
    return 1.0 / math.comb(n1 + n2, n1)


def repeats_needed(alpha: float = ALPHA) -> int:
    """Fewest repeats per config (equal sizes) for which p < alpha is attainable."""
    n = 1
    while min_attainable_p(n, n) >= alpha:
        n += 1
    return n


def mann_whitney_p(slower: Any, fastest: Any) -> float:
    """One-sided Mann-Whitney U p-value that ``slower``'s walls are larger than ``fastest``'s.

    Exact (every split of the pooled samples, ties handled) for small samples, the
    normal approximation beyond. Identical samples give p = 1.
    """
    from scipy import stats

    x = np.asarray(slower, dtype=float)
    y = np.asarray(fastest, dtype=float)
    if len(x) == 0 or len(y) == 0:
        return float("nan")
    method: Any = "asymptotic"
    if math.comb(len(x) + len(y), len(x)) <= _EXACT_SPLITS:
        permutation = getattr(stats, "PermutationMethod", None)
        if permutation is not None:
            method = permutation(n_resamples=_EXACT_SPLITS)
        elif len(np.unique(np.concatenate([x, y]))) == len(x) + len(y):
            method = "exact"
    try:
        p = stats.mannwhitneyu(x, y, alternative="greater", method=method).pvalue
    except (TypeError, ValueError):  # an old scipy without PermutationMethod support
        p = stats.mannwhitneyu(x, y, alternative="greater").pvalue
    return 1.0 if np.isnan(p) else float(p)


# -- one engine + scenario ---------------------------------------------------------------


def summarise(fits: pd.DataFrame, alpha: float = ALPHA, cores: int | None = None) -> pd.DataFrame:
    """Per config of ONE engine + scenario: ranked by median warm wall (fastest first).

    Columns: config_id, the levels and backend, threads (``total_threads`` of the
    config on ``cores``), n (warm samples), n_failed (failed trials), wall_median,
    wall_q1, wall_q3, cpu_median, speedup / cpu_eff (serial median wall or CPU over
    this config's; NaN without a measured serial config), par_eff (speed-up per
    thread), peak_mem_mb (median), cate_rmse (median), rmse_ok (equal to the
    reference config's within :data:`RMSE_RTOL`), p_value (one-sided Mann-Whitney U
    vs the fastest; NaN for the fastest), verdict ("fastest", "tied", "slower"),
    rank (1 = fastest). Configs with no warm sample come last with NaN figures.
    """
    if fits.empty:
        return pd.DataFrame(columns=_SUMMARY_COLUMNS)
    if cores is None:
        cores = _cores(fits)
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
                **{name: _level(group.iloc[0][name]) for name in LEVELS},
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

    serial = table[table["config_id"].map(is_serial) & (table["n"] > 0)]
    if len(serial):
        ref = serial.sort_values(["n", "config_id"], ascending=[False, True]).iloc[0]
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
    p_values, verdicts = [], []
    fastest = table.iloc[0]["_walls"] if table.iloc[0]["n"] > 0 else None
    for i, walls in enumerate(table["_walls"]):
        if fastest is None or len(walls) == 0:
            p_values.append(np.nan)
            verdicts.append("no data")
        elif i == 0:
            p_values.append(np.nan)
            verdicts.append("fastest")
        else:
            p = mann_whitney_p(walls, fastest)
            p_values.append(p)
            verdicts.append("slower" if p < alpha else "tied")
    table["p_value"] = p_values
    table["verdict"] = verdicts
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


# -- the ideal bound ---------------------------------------------------------------------


def work_span(tasks_of_one_fit: pd.DataFrame) -> tuple[float, float]:
    """(work, span) of one fit's trace: the sum of task durations; the longest task
    of each stage, summed over the stages (they run one after the other)."""
    if tasks_of_one_fit.empty:
        return 0.0, 0.0
    duration = tasks_of_one_fit["end_s"] - tasks_of_one_fit["start_s"]
    work = float(duration.sum())
    span = float(duration.groupby(tasks_of_one_fit["stage"]).max().sum())
    return work, span


@dataclass(frozen=True)
class IdealBound:
    """The ideal wall of a fit on ``cores`` from the serial config's traces.

    ``work_s`` and ``span_s`` are medians over the ``n_fits`` warm serial fits;
    ``bound_s = max(work / cores, span)``: no split of the cores can fit faster
    (the serial glue outside the base-model fits not counted).
    """

    work_s: float
    span_s: float
    cores: int
    n_fits: int

    @property
    def bound_s(self) -> float:
        return max(self.work_s / self.cores, self.span_s)

    def wall_with(self, workers: float) -> float:
        """The ideal wall with ``workers`` threads: max(work / workers, span)."""
        return max(self.work_s / max(workers, 1e-12), self.span_s)

    @property
    def max_speedup(self) -> float:
        """work / span: the speed-up no number of cores can beat."""
        return self.work_s / self.span_s if self.span_s > 0 else float("inf")


def ideal_bound(tasks_of_serial: pd.DataFrame, cores: int) -> IdealBound | None:
    """The :class:`IdealBound` from the (warm) task traces of the serial config.

    Each fit (``trial_id``, ``fit_index``) gives a work and a span; their medians
    are used. None without traces.
    """
    if tasks_of_serial is None or tasks_of_serial.empty:
        return None
    per_fit = [work_span(t) for _, t in tasks_of_serial.groupby(["trial_id", "fit_index"])]
    works, spans = zip(*per_fit)
    return IdealBound(float(np.median(works)), float(np.median(spans)), int(cores), len(per_fit))


# -- all scenarios -------------------------------------------------------------------------


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


def _cores(fits: pd.DataFrame) -> int:
    cores = fits["n_cores"].dropna()
    return int(cores.mode().iloc[0]) if len(cores) else 1


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
        serial = table[table["config_id"].map(is_serial) & (table["n"] > 0)]
        if len(serial):
            ref = serial.sort_values(["n", "config_id"], ascending=[False, True]).iloc[0]
            analysis.serial_config = ref["config_id"]
            analysis.serial_wall_s = float(ref["wall_median"])
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


# -- formatting ----------------------------------------------------------------------------


def format_table(rows: list[dict[str, str]] | pd.DataFrame, fmt: Literal["text", "md"] = "text") -> str:
    """Strings in, a table out: aligned columns (text) or a Markdown pipe table.

    Columns whose cells all look numeric are right-aligned.
    """
    if isinstance(rows, pd.DataFrame):
        rows = rows.astype(str).to_dict("records")
    if not rows:
        return "(none)"
    headers = list(rows[0])
    cells = [[str(r.get(h, "")) for h in headers] for r in rows]
    right = [all(_numeric_cell(row[i]) for row in cells) for i in range(len(headers))]
    if fmt == "md":
        esc = lambda s: s.replace("|", "\\|")  # noqa: E731
        lines = ["| " + " | ".join(esc(h) for h in headers) + " |"]
        lines.append("|" + "|".join("---:" if r else ":---" for r in right) + "|")
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(row) for row in cells)])


def _numeric_cell(text: str) -> bool:
    text = text.strip().rstrip("x%!*").strip()
    if text in ("", "-", "n/a"):
        return True
    try:
        float(text.split(" ")[0].split("..")[0])
        return True
    except ValueError:
        return False


def _num(value: Any, digits: int = 3, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.{digits}f}{suffix}"


def _seconds(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.3f}" if value < 100 else f"{value:.1f}"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{value:.0%}"


def _config_rows(a: ScenarioAnalysis) -> list[dict[str, str]]:
    rows = []
    for _, r in a.table.iterrows():
        verdict = r["verdict"]
        if verdict == "fastest":
            verdict = "FASTEST"
        if r["n_failed"]:
            verdict += f" ({r['n_failed']} failed)"
        rows.append(
            {
                "rank": "-" if np.isnan(r["rank"]) else str(int(r["rank"])),
                "config": r["config_id"],
                "threads": str(r["threads"]),
                "n": str(r["n"]),
                "wall s": _seconds(r["wall_median"]),
                "IQR s": f"{_seconds(r['wall_q1'])}..{_seconds(r['wall_q3'])}" if r["n"] else "-",
                "speed-up": _num(r["speedup"], 2, "x"),
                "CPU s": _seconds(r["cpu_median"]),
                "CPU eff": _pct(r["cpu_eff"]),
                "par eff": _pct(r["par_eff"]),
                "peak MiB": _num(r["peak_mem_mb"], 0),
                "CATE RMSE": _num(r["cate_rmse"], 4) + ("" if r["rmse_ok"] else " !"),
                "p": _num(r["p_value"], 3),
                "vs fastest": verdict,
            }
        )
    return rows


def _heading(text: str, level: int, fmt: str) -> list[str]:
    if fmt == "md":
        return ["#" * level + " " + text, ""]
    return [text, ("#" if level == 1 else "=") * len(text), ""]


def _prose(lines: list[str], fmt: str) -> list[str]:
    """Sentences one per line (text) or as a Markdown list (so they do not run together)."""
    return [f"- {line}" for line in lines] if fmt == "md" else lines


def _scenario_section(a: ScenarioAnalysis, fmt: str) -> list[str]:
    fields = ", ".join(f"{k}={v}" for k, v in a.scenario.items())
    repeats = a.ranked["n"]
    if len(repeats) == 0:
        n_text = "0"
    elif repeats.min() == repeats.max():
        n_text = str(repeats.min())
    else:
        n_text = f"{repeats.min()}-{repeats.max()}"
    out = _heading(f"{a.engine} | {a.scenario_id}", 2, fmt)
    out += _prose([fields, f"cores: {a.cores}; repeats: {a.repeats} (warm samples per config: {n_text})"], fmt)
    out.append("")
    out.append("No config has a warm measurement." if a.ranked.empty else format_table(_config_rows(a), fmt))
    out.append("")
    notes = []
    best = a.fastest
    if best is not None:
        notes.append(f"Fastest: {best['config_id']} at {_seconds(best['wall_median'])} s (median of {best['n']}).")
        if a.serial_config is None:
            notes.append("Speed-ups: the serial config m1-f1-s1-* was not measured, so there are none.")
        else:
            notes.append(
                f"Speed-up vs serial {a.serial_config} ({_seconds(a.serial_wall_s)} s): {_num(best['speedup'], 2, 'x')}."
            )
        tied = a.ranked[a.ranked["verdict"] == "tied"]["config_id"].tolist()
        notes.append("Tied with the fastest: " + (", ".join(tied) if tied else "none") + ".")
        notes.append(_test_note(a))
    if a.bound is not None:
        b = a.bound
        notes.append(
            f"Ideal bound on {a.cores} cores: max(work/cores, span) = max({_seconds(b.work_s)}/{a.cores}, "
            f"{_seconds(b.span_s)}) = {_seconds(b.bound_s)} s (work and span: median of {b.n_fits} warm serial "
            f"fits; max speed-up work/span = {_num(b.max_speedup, 2, 'x')})."
        )
        if a.glue_s is not None:
            notes.append(
                f"Serial glue (serial wall - work, outside base-model fits): {_seconds(a.glue_s)} s "
                f"({_pct(a.glue_s / a.serial_wall_s)} of the serial wall)."
            )
        if a.bound_reached is not None:
            notes.append(
                f"The fastest config reaches {_pct(a.bound_reached)} of the ideal "
                f"({_seconds(b.bound_s)} s bound vs {_seconds(best['wall_median'])} s)."
            )
    else:
        notes.append("Ideal bound: no task traces of the serial config (core engine) to compute it from.")
    notes += [f"Note: {note}." for note in a.notes]
    out += _prose(notes, fmt)
    if len(a.failures):
        out += ["", "Failed trials:", ""]
        out.append(
            format_table(
                [
                    {
                        "config": f["config_id"],
                        "repeat": _num(f["repeat"], 0),
                        "trial": str(f["trial_id"]),
                        "reason": str(f["reason"]),
                    }
                    for _, f in a.failures.iterrows()
                ],
                fmt,
            )
        )
    out.append("")
    return out


def _test_note(a: ScenarioAnalysis) -> str:
    n = a.ranked["n"]
    nf = int(a.fastest["n"])
    floor = min_attainable_p(int(n.min()), nf) if len(n) else float("nan")
    needed = repeats_needed(a.alpha)
    text = (
        f"Test: one-sided Mann-Whitney U of each config's warm walls against the fastest's "
        f"(H1: the config is slower), exact for small samples; 'slower' if p < {a.alpha:g}, else 'tied'. "
        f"With {int(n.min())} vs {nf} samples the smallest attainable p is {floor:.3g}"
    )
    if floor >= a.alpha:
        text += (
            f", so the test cannot separate any config: at least {needed} repeats per config "
            f"are needed (smallest p then {min_attainable_p(needed, needed):.3g})."
        )
    else:
        text += "."
    return text


def _summary_section(analyses: list[ScenarioAnalysis], fmt: str) -> list[str]:
    table = winners(analyses)
    out = _heading("Summary: the fastest config per scenario", 2, fmt)
    rows = []
    for _, w in table.iterrows():
        measured = isinstance(w["fastest"], str)
        rows.append(
            {
                "engine": w["engine"],
                "scenario": w["scenario_id"],
                "cores": str(w["cores"]),
                "fastest": w["fastest"] if measured else "- (no warm fit)",
                "wall s": _seconds(w.get("wall_median")),
                "speed-up vs serial": _num(w.get("speedup"), 2, "x"),
                "vs default": _num(w.get("vs_default"), 2, "x"),
                "tied": str(int(w["n_tied"])) if measured else "-",
                "of ideal": _pct(w.get("bound_reached")),
            }
        )
    out.append(format_table(rows, fmt))
    out += [
        "",
        "speed-up vs serial: serial median wall / fastest median wall; vs default: the library "
        "default's median wall / fastest's; tied: configs the test cannot tell from the fastest; "
        "of ideal: ideal bound / fastest wall.",
    ]
    return out


def _runs_section(runs: pd.DataFrame | None, fmt: str) -> list[str]:
    if runs is None or runs.empty:
        return []
    out = []
    for _, run in runs.iterrows():
        manifest = run.get("manifest") or {}
        if not isinstance(manifest, dict):
            manifest = {}
        machine = [str(manifest[k]) for k in ("hostname", "cpu_model") if manifest.get(k)]
        if manifest.get("cores_available"):
            machine.append(f"{manifest['cores_available']} cores available")
        if manifest.get("python"):
            machine.append(f"Python {manifest['python']}")
        packages = manifest.get("packages") or {}
        machine += [f"{name} {packages[name]}" for name in ("lightgbm", "scikit-learn") if packages.get(name)]
        commit = manifest.get("commit") or manifest.get("git_commit")
        if commit:
            machine.append(f"commit {str(commit)[:10]}" + (" (dirty)" if manifest.get("dirty") or manifest.get("git_dirty") else ""))
        finished = run.get("finished_at") or "unfinished"
        out.append(
            f"- run {run.get('run_id')}: preset {run.get('preset')}, {run.get('started_at')} -> {finished}"
            + (f"; {', '.join(machine)}" if machine else "")
        )
    return out + [""]


def render(
    analyses: list[ScenarioAnalysis],
    fmt: Literal["text", "md"] = "text",
    runs: pd.DataFrame | None = None,
) -> str:
    """The report for these analyses (see :func:`analyse`)."""
    if fmt not in ("text", "md"):
        raise ValueError(f"fmt={fmt!r} is not allowed; choose 'text' or 'md'.")
    title = "Harness report: parallel configs ranked by median warm wall time"
    out = _heading(title, 1, fmt)
    out += _runs_section(runs, fmt)
    out += [
        "Warm fits only (fit 0 of every trial is a cold warm-up and is not ranked). "
        "speed-up: serial median wall / config median wall; CPU eff: serial CPU s / config CPU s "
        "(below 100%: the config burns extra CPU); par eff: speed-up / threads used; "
        "peak MiB: peak memory of the process tree (median).",
        "",
    ]
    if not analyses:
        out.append("No fits in this store.")
        return "\n".join(out) + "\n"
    for a in analyses:
        out += _scenario_section(a, fmt)
    out += _summary_section(analyses, fmt)
    text = "\n".join(out).rstrip() + "\n"
    return text if fmt == "md" else _wrap(text)


def _wrap(text: str, width: int = 100) -> str:
    """Wrap the prose lines of a text report (tables and rules stay as they are)."""
    lines = []
    for line in text.splitlines():
        prose = len(line) > width and "  " not in line.strip()
        lines += textwrap.wrap(line, width, subsequent_indent="  ") if prose else [line]
    return "\n".join(lines) + "\n"


def load(db_path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """(fits, tasks, runs) of a store."""
    from harness import store

    fits = store.load_fits(db_path)
    tasks = store.load_tasks(db_path)
    try:
        runs = store.load_runs(db_path)
    except Exception:  # the runs table is decoration here
        runs = None
    return fits, tasks, runs


def render_report(db_path: str | Path, fmt: Literal["text", "md"] = "text", alpha: float = ALPHA) -> str:
    """The report of a results store as text (aligned columns) or Markdown."""
    if fmt not in ("text", "md"):
        raise ValueError(f"fmt={fmt!r} is not allowed; choose 'text' or 'md'.")
    fits, tasks, runs = load(db_path)
    return render(analyse(fits, tasks, alpha=alpha), fmt=fmt, runs=runs)
