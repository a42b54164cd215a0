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

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from harness.recommend import ratio_ci
from harness.report import ScenarioAnalysis, analyse, format_table, warm_fits

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


def _compare_store(db_path: str | Path) -> pd.DataFrame:
    from harness.report import load

    fits, tasks, _ = load(db_path)
    return compare(fits, tasks)


def geometric_mean(values: pd.Series) -> float:
    values = values.dropna()
    return float(np.exp(np.log(values).mean())) if len(values) else np.nan


def render_compare(db_path: str | Path, fmt: Literal["text", "md"] = "text") -> str:
    table = _compare_store(db_path)
    if table.empty:
        return (
            "No scenario was measured with both engines. Run e.g. "
            "`python -m harness sweep --engine core,metalearners --preset smoke`."
        )
    interval = lambda r, k: f"{r[f'{k}_ratio']:.2f} [{r[f'{k}_low']:.2f}, {r[f'{k}_high']:.2f}]"  # noqa: E731
    rows = [
        {
            "scenario": r["scenario_id"],
            "best vs best": interval(r, "best"),
            "default vs default": interval(r, "default"),
            "ceiling": "" if np.isnan(r["ceiling"]) else f"{r['ceiling']:.2f}",
            "CPU ratio": f"{r['cpu_ratio']:.2f}",
            "RMSE core": f"{r['core_rmse']:.4f}",
            "RMSE metalearners": f"{r['metalearners_rmse']:.4f}",
            "core wins with": r["core_best"],
            "metalearners wins with": r["metalearners_best"],
        }
        for _, r in table.iterrows()
    ]
    heading = "## " if fmt == "md" else ""
    lines = [
        f"{heading}metalearners_core vs metalearners: wall-time ratios (metalearners / core; > 1: core is faster)",
        "",
        "Ratios of median warm walls with 95% percentile-bootstrap intervals; CPU ratio of the best configs.",
        "",
        format_table(rows, fmt),
        "",
        f"Geometric mean, best vs best: {geometric_mean(table['best_ratio']):.2f}; "
        f"default vs default: {geometric_mean(table['default_ratio']):.2f} "
        f"over {len(table)} scenario(s).",
    ]
    if table["ceiling"].notna().any():
        lines += [
            "",
            f"Ceiling: metalearners' best wall / the ideal bound max(work/cores, span) of core's "
            f"base-model fits (its serial traces) on {_cores_text(table)}: the best-vs-best ratio no "
            f"schedule of those fits can beat here. "
            f"Geometric mean of the ceilings: {geometric_mean(table['ceiling']):.2f}.",
        ]
    return "\n".join(lines)


def _cores_text(table: pd.DataFrame) -> str:
    cores = sorted(set(int(c) for c in table["cores"]))
    return " / ".join(map(str, cores)) + (" core" if cores == [1] else " cores")


def plot_compare(db_path: str | Path, out: Path) -> Path | None:
    """Best-vs-best and default-vs-default ratios per scenario, with intervals."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = _compare_store(db_path)
    if table.empty:
        return None
    y = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(11, 1.6 + 0.45 * len(table)))
    for offset, key, color in [(-0.15, "best", "tab:blue"), (0.15, "default", "tab:orange")]:
        ratio = table[f"{key}_ratio"]
        err = np.vstack([ratio - table[f"{key}_low"], table[f"{key}_high"] - ratio])
        ax.errorbar(ratio, y + offset, xerr=err, fmt="o", color=color, capsize=3,
                    label=f"{key} vs {key}")
    if table["ceiling"].notna().any():
        ax.scatter(table["ceiling"], y - 0.15, marker="|", s=200, color="tab:blue", alpha=0.5,
                   label="ceiling of best vs best (ideal bound)")
    ax.axvline(1.0, color="black", lw=1)
    ax.set_xscale("log")  # 2x faster and 2x slower sit equally far from 1
    # log axes label only powers of ten and a few minor ticks: label ratios every 0.1 instead
    low, high = ax.get_xlim()
    ax.set_xticks([t for t in np.round(np.arange(0.1, 10.0, 0.1), 1) if low <= t <= high])
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks(y, table["scenario_id"], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("median wall ratio, metalearners / metalearners_core (log scale; > 1: core is faster; 95% bootstrap CI)")
    ax.set_title("metalearners_core vs metalearners: same data, models and configs")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8)  # below: never over a point
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
