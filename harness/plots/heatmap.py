"""The heatmap: median warm wall (and speed-up vs serial) of every split of the cores.

Fold workers across, stage workers down, one panel per model-level thread count;
each cell holds the better backend of its split, coloured by log2 speed-up (or by the
wall without a serial config), the fastest outlined; the d/d/d cell is the library
default, ``auto`` a panel of its own. A grid search's configs get a panel per (grid level,
model level). Fed by a
:class:`~harness.analysis.summary.ScenarioAnalysis`.
"""

from __future__ import annotations

import math

from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from harness.analysis.summary import ScenarioAnalysis
from harness.config import LEVELS, ParallelConfig
from harness.plots._style import AUTO_COLOR, _figure, _level_key, _level_label, _no_data, _suptitle, _text_color

__all__ = ["heatmap_figure"]


def _draw_cell(ax, x: float, y: float, height: float, best, title: str | None, style: dict) -> None:
    """One cell of height ``height`` rows centred at (x, y): its speed-up, wall and
    (with a pool) backend, headed by ``title`` (a named config: default / auto)."""
    value = math.log2(best["speedup"]) if style["has_speedup"] else best["wall_median"]
    rgba = style["cmap"](style["norm"](value))
    edge = style.get("edge", "white")
    ax.add_patch(Rectangle((x - 0.5, y - height / 2), 1, height, facecolor=rgba, edgecolor=edge,
                           lw=1 if edge == "white" else 2.5))
    lines = [f"{best['wall_median']:.3g} s"]
    if style["has_speedup"]:
        lines.insert(0, f"{best['speedup']:.2f}x")
    if title is None and ParallelConfig.from_id(best["config_id"]).pool_workers > 1:
        lines.append(str(best["backend"]))
    color = _text_color(rgba)
    if title is not None:
        ax.text(x, y, title + "\n\n", ha="center", va="center", fontsize=8, fontweight="bold", color=color)
        lines = ["", *lines]
    ax.text(x, y, "\n".join(lines), ha="center", va="center", fontsize=8, color=color)
    if best["config_id"] == style["fastest"]:
        ax.add_patch(Rectangle((x - 0.46, y - height / 2 + 0.04), 0.92, height - 0.08, fill=False, ec="black", lw=2.5))


def _style_panel(ax, xs: list[str], stages: list[str]) -> None:
    ax.set_facecolor("#f4f4f4")
    ax.set_xlim(-0.5, len(xs) - 0.5)
    ax.set_ylim(-0.5, len(stages) - 0.5)
    ax.set_xticks(range(len(xs)), xs)
    ax.set_yticks(range(len(stages)), stages)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)


def heatmap_figure(a: ScenarioAnalysis) -> Figure:
    """Median warm wall over fold level (x) x stage level (y), a panel per model level.

    Colour: speed-up vs the serial config (red below 1 = slower than serial, green
    above), or the wall itself without a serial config. Each cell shows the better
    backend of its split; the fastest cell is outlined. "d" is the library default at
    that level, so the d/d/d cell is the library default (``default``); metalearners_core's
    ``auto`` (its scheduler picks every level) is no split of the grid and gets a panel
    of its own, framed in its colour.
    """
    table = a.ranked.copy()
    for name in LEVELS:
        table[name + "_label"] = table[name].map(_level_label)
    grid_levels = table["config_id"].map(lambda c: ParallelConfig.from_id(c).n_jobs_grid)
    searched = grid_levels.notna().any()  # a grid search: a panel per grid level and model level
    table["panel"] = [  # "grid|model" ("|model" for a plain fit)
        f"{_level_label(g) if searched else ''}|{m}" for g, m in zip(grid_levels, table["model_n_jobs_label"])
    ]
    is_auto = table["config_id"].map(lambda c: ParallelConfig.from_id(c).is_auto).astype(bool)
    grid, auto = table[~is_auto], table[is_auto]
    if grid.empty and auto.empty:
        return _no_data(_figure(figsize=(6, 3)), "no measured grid configs")
    models = [tuple(p.split("|")) for p in grid["panel"].unique()]
    models.sort(key=lambda p: (_level_key(p[0]) if p[0] else (0, 0), _level_key(p[1])))
    folds = sorted(grid["n_jobs_cross_fitting_label"].unique(), key=_level_key)
    stages = sorted(grid["n_jobs_base_learners_label"].unique(), key=_level_key) or ["auto"]
    has_speedup = table["speedup"].notna().any()
    values = table["speedup"] if has_speedup else table["wall_median"]
    vmin, vmax = float(values.min()), float(values.max())
    if has_speedup:  # colour by log2(speed-up), symmetric around 1x
        half = max(abs(math.log2(vmin)), abs(math.log2(vmax)), 0.25)
        norm = Normalize(-half, half)
        cmap = colormaps["RdYlGn"]
    else:
        norm = LogNorm(vmin=vmin, vmax=max(vmax, vmin * 1.0001))
        cmap = colormaps["viridis_r"]
    style = {"has_speedup": has_speedup, "norm": norm, "cmap": cmap, "fastest": a.fastest["config_id"]}

    ratios = [len(folds)] * len(models) + [1.3] * (not auto.empty)
    fig = _figure(figsize=(max(6.5, 1.6 + 1.05 * sum(ratios)), 2.2 + 0.75 * len(stages)))
    axes = fig.subplots(1, len(ratios), squeeze=False, sharey=True, gridspec_kw={"width_ratios": ratios})[0]
    for ax, (grid_level, model) in zip(axes, models):
        panel = grid[grid["panel"] == f"{grid_level}|{model}"]
        for i, stage in enumerate(stages):
            for j, fold in enumerate(folds):
                cell = panel[(panel["n_jobs_base_learners_label"] == stage) & (panel["n_jobs_cross_fitting_label"] == fold)]
                if cell.empty:
                    asked = math.prod(int(v) if v not in ("d", "") else 1 for v in (grid_level, model, fold, stage))
                    ax.text(j, i, f"> {a.cores} cores" if asked > a.cores else "not run", ha="center", va="center",
                            fontsize=7, color="#a0a0a0")
                    continue
                best = cell.sort_values("wall_median").iloc[0]
                _draw_cell(ax, j, i, 1, best, "default" if best["config_id"] == "default" else None, style)
        _style_panel(ax, folds, stages)
        ax.set_xlabel("fold workers (n_jobs_cross_fitting)", fontsize=9)
        grid_title = f"grid n_jobs = {grid_level}, " if grid_level else ""
        ax.set_title(f"{grid_title}model threads: n_jobs = {model}", fontsize=10)
    if not auto.empty:  # one tall cell: auto is no stage level, no fold level
        ax = axes[-1]
        _draw_cell(ax, 0, (len(stages) - 1) / 2, len(stages), auto.iloc[0], "auto", {**style, "edge": AUTO_COLOR})
        _style_panel(ax, ["auto"], stages)
        ax.tick_params(labelleft=False)
        ax.set_xlabel("core's scheduler", fontsize=9)
        ax.set_title("auto", fontsize=10, color=AUTO_COLOR, fontweight="bold")
    axes[0].set_ylabel("stage workers (n_jobs_base_learners)", fontsize=9)
    label = "speed-up vs serial (x)" if has_speedup else "median warm wall (s)"
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), label=label, shrink=0.9)
    if has_speedup:
        nice = [1 / 8, 1 / 4, 1 / 2, 3 / 4, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]
        bar.set_ticks([math.log2(v) for v in nice if abs(math.log2(v)) <= norm.vmax + 1e-9])
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{2 ** v:.3g}x"))
    note = "each cell: the better backend of that split; black box: fastest\nd: the library default at that level"
    if not grid[grid["config_id"] == "default"].empty:
        note += " (d/d/d: the library default)"
    if not auto.empty:
        note += "; auto: metalearners_core picks every level itself"
    fig.supxlabel(note, fontsize=8, color="#404040")
    _suptitle(fig, "Median warm wall per split of the cores" + (" (and speed-up vs serial)" if has_speedup else ""), a)
    return fig
