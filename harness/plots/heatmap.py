"""The heatmap: median warm wall (and speed-up vs serial) of every split of the cores.

Fold workers across, stage workers down, one panel per model-level thread count;
each cell holds the better backend of its split, coloured by log2 speed-up (or by the
wall without a serial config), the fastest outlined. Fed by a
:class:`~harness.analysis.summary.ScenarioAnalysis`.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from harness.analysis.summary import ScenarioAnalysis
from harness.config import LEVELS
from harness.plots._style import _figure, _level_key, _level_label, _no_data, _suptitle, _text_color

__all__ = ["heatmap_figure"]


def heatmap_figure(a: ScenarioAnalysis) -> Figure:
    """Median warm wall over fold level (x) x stage level (y), a panel per model level.

    Colour: speed-up vs the serial config (red below 1 = slower than serial, green
    above), or the wall itself without a serial config. Each cell shows the better
    backend of its split; the fastest cell is outlined.
    """
    table = a.ranked.copy()
    for name in LEVELS:
        table[name + "_label"] = table[name].map(_level_label)
    grid = table[table["config_id"] != "default"]
    if grid.empty:
        return _no_data(_figure(figsize=(6, 3)), "no measured grid configs")
    models = sorted(grid["model_n_jobs_label"].unique(), key=_level_key)
    folds = sorted(grid["n_jobs_cross_fitting_label"].unique(), key=_level_key)
    stages = sorted(grid["n_jobs_base_learners_label"].unique(), key=_level_key)
    has_speedup = grid["speedup"].notna().any()
    values = grid["speedup"] if has_speedup else grid["wall_median"]
    vmin, vmax = float(values.min()), float(values.max())
    if has_speedup:  # colour by log2(speed-up), symmetric around 1x
        half = max(abs(math.log2(vmin)), abs(math.log2(vmax)), 0.25)
        norm = Normalize(-half, half)
        cmap = colormaps["RdYlGn"]
    else:
        norm = LogNorm(vmin=vmin, vmax=max(vmax, vmin * 1.0001))
        cmap = colormaps["viridis_r"]
    fastest = a.fastest["config_id"]

    fig = _figure(figsize=(max(6.5, 1.6 + 1.05 * len(models) * len(folds)), 2.2 + 0.75 * len(stages)))
    axes = fig.subplots(1, len(models), squeeze=False, sharey=True)[0]
    for ax, model in zip(axes, models):
        panel = grid[grid["model_n_jobs_label"] == model]
        ax.set_facecolor("#f4f4f4")
        for i, stage in enumerate(stages):
            for j, fold in enumerate(folds):
                cell = panel[(panel["n_jobs_base_learners_label"] == stage) & (panel["n_jobs_cross_fitting_label"] == fold)]
                if cell.empty:
                    asked = math.prod(int(v) if v != "d" else 1 for v in (model, fold, stage))
                    ax.text(j, i, f"> {a.cores} cores" if asked > a.cores else "not run", ha="center", va="center",
                            fontsize=7, color="#a0a0a0")
                    continue
                best = cell.sort_values("wall_median").iloc[0]
                value = math.log2(best["speedup"]) if has_speedup else best["wall_median"]
                rgba = cmap(norm(value))
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=rgba, edgecolor="white", lw=1))
                lines = [f"{best['wall_median']:.3g} s"]
                if has_speedup:
                    lines.insert(0, f"{best['speedup']:.2f}x")
                if (best["n_jobs_cross_fitting"] or 1) * (best["n_jobs_base_learners"] or 1) > 1:
                    lines.append(str(best["backend"]))
                ax.text(j, i, "\n".join(lines), ha="center", va="center", fontsize=8, color=_text_color(rgba))
                if best["config_id"] == fastest:
                    ax.add_patch(Rectangle((j - 0.46, i - 0.46), 0.92, 0.92, fill=False, ec="black", lw=2.5))
        ax.set_xlim(-0.5, len(folds) - 0.5)
        ax.set_ylim(-0.5, len(stages) - 0.5)
        ax.set_xticks(range(len(folds)), folds)
        ax.set_yticks(range(len(stages)), stages)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlabel("fold workers (n_jobs_cross_fitting)", fontsize=9)
        ax.set_title(f"model threads: n_jobs = {model}", fontsize=10)
    axes[0].set_ylabel("stage workers (n_jobs_base_learners)", fontsize=9)
    label = "speed-up vs serial (x)" if has_speedup else "median warm wall (s)"
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), label=label, shrink=0.9)
    if has_speedup:
        nice = [1 / 8, 1 / 4, 1 / 2, 3 / 4, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]
        bar.set_ticks([math.log2(v) for v in nice if abs(math.log2(v)) <= norm.vmax + 1e-9])
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{2 ** v:.3g}x"))
    note = "each cell: the better backend of that split; black box: fastest"
    default = a.ranked[a.ranked["config_id"] == "default"]
    if len(default):
        d = default.iloc[0]
        note += f"; library default: {d['wall_median']:.3g} s" + (
            f" ({d['speedup']:.2f}x)" if not np.isnan(d["speedup"]) else ""
        )
    fig.supxlabel(note, fontsize=8, color="#404040")
    _suptitle(fig, "Median warm wall per split of the cores" + (" (and speed-up vs serial)" if has_speedup else ""), a)
    return fig

