"""Figures of a results store (matplotlib, Agg; PNG files).

Per engine + scenario (file names ``<engine>_<scenario id>_<kind>.png``):

* ``heatmap``  -- median warm wall (and speed-up) over fold level x stage level, one
  panel per model-level thread count, the better backend per cell;
* ``scaling``  -- speed-up vs threads used per config, with the perfect-scaling line
  and the ideal bound ``serial / max(work / workers, span)`` (serial: the engine's own
  serial wall for core; core's work for the package, whose fits do more work);
* ``pareto``   -- CPU seconds vs wall seconds, the Pareto front highlighted;
* ``box``      -- the raw warm samples per config, ranked;
* ``timeline`` -- one warm fit per config as a Gantt chart of its base-model fits
  on their workers (needs task traces: core engine only).

Across scenarios (per engine): ``across_<engine>_winners.png`` -- how the winning
split (model / fold / stage) changes with each scenario factor -- and
``across_<engine>_speedup.png`` -- the winner's speed-up per scenario beside the
library default's and the ideal bound's.

Every ``*_figure`` function returns a :class:`matplotlib.figure.Figure` (no pyplot,
no global state), so the notebook can reuse them; :func:`write_plots` saves them all.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter
from matplotlib.patches import Patch, Rectangle

from harness.analysis.pareto import pareto_front
from harness.analysis.samples import config_from_row, is_serial, warm_fits
from harness.analysis.summary import ScenarioAnalysis, analyse
from harness.config import LEVELS
from harness.store import SCENARIO_FIELDS
from harness.store import load_all as load

__all__ = [
    "across_speedup_figure",
    "across_winners_figure",
    "box_figure",
    "heatmap_figure",
    "pareto_figure",
    "plot_all",
    "scaling_figure",
    "timeline_figure",
    "write_plots",
]

DPI = 110
_MPL = tuple(int(v) for v in re.findall(r"\d+", matplotlib.__version__)[:2])
LEVEL_NAMES = {"model_n_jobs": "model", "n_jobs_cross_fitting": "fold", "n_jobs_base_learners": "stage"}
BACKEND_SHORT = {"loky": "loky", "threading": "thr"}
VERDICT_COLORS = {"fastest": "#2ca02c", "tied": "#8fbcd4", "slower": "#d9d9d9", "no data": "#ffffff"}
VERDICT_DOTS = {"fastest": "#1a661a", "tied": "#2f6f95", "slower": "#7f7f7f"}
STAGE_HATCH = {"nuisance": None, "treatment": "///"}
LOAD_COLOR = "#bdbdbd"


def _figure(**kwargs: Any) -> Figure:
    return Figure(dpi=DPI, layout="constrained", **kwargs)


def place_labels(
    ax: Any, xs: Any, ys: Any, texts: list[str], colors: list[str] | None = None, fontsize: float = 7
) -> None:
    """Label points without overlaps: each label takes the first free spot around
    its point (right, left, above, below, then farther out with a leader line)."""
    fig = ax.figure
    fig.draw_without_rendering()  # the final layout, so that data -> pixels is known
    box = ax.get_window_extent()
    px = fig.dpi / 72.0
    h = fontsize * 1.25 * px
    points = ax.transData.transform(np.column_stack([np.asarray(xs, float), np.asarray(ys, float)]))
    taken = [(x - 4, y - 4, x + 4, y + 4) for x, y in points]

    def free(r: tuple[float, float, float, float]) -> bool:
        inside = r[0] >= box.x0 and r[2] <= box.x1 and r[1] >= box.y0 and r[3] <= box.y1
        return inside and not any(r[0] < o[2] and r[2] > o[0] and r[1] < o[3] and r[3] > o[1] for o in taken)

    colors = colors or ["#303030"] * len(texts)
    for (x, y), text, color in zip(points, texts, colors):
        w = len(text) * fontsize * 0.6 * px
        candidates = [
            (r, d)
            for r in (4, 12, 22, 34, 48, 64, 84)
            for d in [(r, -h / 2), (-r - w, -h / 2), (-w / 2, r), (-w / 2, -r - h),
                      (r, r / 2), (r, -r / 2 - h), (-r - w, r / 2), (-r - w, -r / 2 - h)]
        ]
        r, (dx, dy) = next(
            (c for c in candidates if free((x + c[1][0], y + c[1][1], x + c[1][0] + w, y + c[1][1] + h))),
            candidates[0],
        )
        taken.append((x + dx, y + dy, x + dx + w, y + dy + h))
        ax.annotate(
            text, tuple(ax.transData.inverted().transform((x, y))), xytext=(dx / px, dy / px),
            textcoords="offset points", ha="left", va="bottom", fontsize=fontsize, color=color,
            arrowprops={"arrowstyle": "-", "color": "#a0a0a0", "lw": 0.6, "shrinkA": 0, "shrinkB": 3} if r > 4 else None,
        )


def _short_scenario(a: ScenarioAnalysis) -> str:
    """The readable part of a scenario id (without the digest)."""
    return re.sub(r"-[0-9a-f]{6}$", "", a.scenario_id)


def _suptitle(fig: Figure, what: str, a: ScenarioAnalysis) -> None:
    fig.suptitle(f"{what}\n{a.engine} engine | {a.scenario_id} | {a.cores} cores", fontsize=11)


def _no_data(fig: Figure, text: str) -> Figure:
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, wrap=True)
    return fig


def _level_label(value: Any) -> str:
    return "d" if value is None or (isinstance(value, float) and math.isnan(value)) else str(int(value))


def _level_key(label: str) -> tuple[int, int]:
    return (1, 0) if label == "d" else (0, int(label))


def _text_color(rgba: tuple[float, ...]) -> str:
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


# -- heatmap --------------------------------------------------------------------------


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


# -- scaling ---------------------------------------------------------------------------


def _level_used(row: pd.Series) -> str:
    if row["config_id"] == "default":
        return "library default"
    used = [LEVEL_NAMES[n] for n in LEVELS if (row[n] or 1) > 1]
    if not used:
        return "serial"
    return used[0] + " level" if len(used) == 1 else " + ".join(used)


_USED_COLORS = {  # legend order; mixed levels go before the library default
    "serial": "black",
    "model level": "#1f77b4",
    "fold level": "#ff7f0e",
    "stage level": "#2ca02c",
    "library default": "#d62728",
}
_MIXED_COLORS = ["#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def scaling_figure(a: ScenarioAnalysis) -> Figure:
    """Speed-up vs threads used, with perfect scaling and the ideal bound.

    Configs using the same number of threads are spread side by side around it.
    Linear axes up to 8 threads, log2 axes beyond.
    """
    fig = _figure(figsize=(9.5, 5.8))
    ranked = a.ranked
    if a.serial_wall_s is None or ranked.empty:
        _suptitle(fig, "Speed-up vs threads used", a)
        return _no_data(fig, "the serial config m1-f1-s1-* was not measured: no speed-ups")
    ax = fig.add_subplot()
    max_threads = max(int(ranked["threads"].max()), a.cores)
    log = max_threads > 8
    w = np.geomspace(1, max_threads, 200) if log else np.linspace(1, max_threads, 200)
    line_handles = [ax.plot(w, w, color="#888888", ls=":", label="perfect scaling (speed-up = threads)")[0]]
    if a.bound is not None:
        ideal = a.ideal_serial_s / np.array([a.bound.wall_with(x) for x in w])
        line_handles += ax.plot(w, ideal, color="black", lw=1.5,
                                label="ideal bound: serial / max(work/threads, span)")
        if a.glue_s is not None and a.glue_s > 0:
            with_glue = a.ideal_serial_s / (a.glue_s + np.array([a.bound.wall_with(x) for x in w]))
            line_handles += ax.plot(w, with_glue, color="black", lw=1, ls="--",
                                    label="ideal bound if the serial glue stays serial")
    ax.axvline(a.cores, color="#bbbbbb", lw=1)
    ax.text(a.cores, 0.99, f" {a.cores} cores", transform=ax.get_xaxis_transform(), fontsize=8, color="#707070",
            va="top")
    ax.axhline(1, color="#bbbbbb", lw=0.8)

    used = ranked.apply(_level_used, axis=1)
    mixed = [u for u in dict.fromkeys(used) if u not in _USED_COLORS]
    colors = {**_USED_COLORS, **{u: _MIXED_COLORS[i % len(_MIXED_COLORS)] for i, u in enumerate(mixed)}}
    markers = {"loky": "o", "threading": "s", None: "D"}
    # configs with the same thread count side by side around it (fastest on the left)
    k = ranked.groupby("threads").cumcount().to_numpy()
    n = ranked.groupby("threads")["threads"].transform("size").to_numpy()
    spread = (k - (n - 1) / 2) / np.maximum(n - 1, 1) * np.where(n > 1, 0.5, 0)
    xs = ranked["threads"].to_numpy(float) * 2.0 ** (spread * 0.8) if log else ranked["threads"].to_numpy(float) + spread * 0.6
    for (_, r), u, x in zip(ranked.iterrows(), used, xs):
        lo, hi = a.serial_wall_s / r["wall_q3"], a.serial_wall_s / r["wall_q1"]
        fastest = r["verdict"] == "fastest"
        backend = r["backend"] if isinstance(r["backend"], str) else None
        ax.errorbar(
            x, r["speedup"], yerr=[[r["speedup"] - lo], [hi - r["speedup"]]], fmt=markers.get(backend, "o"),
            color=colors[u], ms=9 if fastest else 6, mec="black" if fastest else colors[u], mew=1.5 if fastest else 1,
            capsize=2, zorder=3, elinewidth=0.8,
        )
    top = float(np.nanmax([*(a.serial_wall_s / ranked["wall_q1"]), 1.0]))
    if a.bound is not None:
        top = max(top, a.serial_wall_s / a.bound.wall_with(max_threads))
    if log:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log", base=2)
        ax.set_xlim(0.8, max_threads * 1.6)
        ax.set_ylim(min(0.8, float(ranked["speedup"].min()) * 0.8), top * 1.4)
        ticks = [2**i for i in range(int(math.log2(max_threads)) + 1)]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        ax.set_xlim(0.5, max_threads + 0.6)
        ax.set_ylim(0, top * 1.12)
        ax.set_xticks(range(1, max_threads + 1))
    place_labels(ax, xs, ranked["speedup"], list(ranked["config_id"]),
                 colors=["black" if v == "fastest" else "#404040" for v in ranked["verdict"]])
    ax.set_xlabel("threads used = model n_jobs x fold workers x stage workers")
    ax.set_ylabel(f"speed-up vs serial ({a.serial_config}: {a.serial_wall_s:.3g} s)")
    order = list(_USED_COLORS)
    present = sorted(dict.fromkeys(used), key=lambda u: (order.index(u) if u in order else 3.5, u))
    level_handles = [Line2D([], [], color=colors[u], marker="D" if u == "library default" else "o", ls="", label=u)
                     for u in present]
    backend_handles = [Line2D([], [], color="#505050", marker=markers[b], ls="", label=b)
                       for b in ("loky", "threading") if (ranked["backend"] == b).any()]
    backend_handles.append(Line2D([], [], color="white", marker="o", mec="black", mew=1.5, ms=9, ls="", label="fastest"))
    fig.legend(handles=line_handles, loc="outside lower center", ncols=len(line_handles), fontsize=8)
    fig.legend(handles=level_handles + [Line2D([], [], ls="")] + backend_handles,
               labels=[h.get_label() for h in level_handles] + [""] + [h.get_label() for h in backend_handles],
               loc="outside right upper", fontsize=8, title="parallel level\n(colour) / backend\n(marker)",
               title_fontsize=8)
    ax.grid(alpha=0.3)
    _suptitle(fig, "Speed-up vs threads used (median; bars: IQR)", a)
    return fig


# -- Pareto -----------------------------------------------------------------------------


def pareto_figure(a: ScenarioAnalysis) -> Figure:
    """Cost (CPU s) vs time (wall s); the Pareto front: nothing is both faster and cheaper."""
    fig = _figure(figsize=(9, 5.8))
    ranked = a.ranked.dropna(subset=["cpu_median"])
    if ranked.empty:
        _suptitle(fig, "CPU cost vs wall time", a)
        return _no_data(fig, "no warm measurements")
    ax = fig.add_subplot()
    front = pareto_front(ranked)
    on_front = ranked.index.isin(front.index)
    ax.scatter(ranked.loc[~on_front, "wall_median"], ranked.loc[~on_front, "cpu_median"], color="#a0a0a0", s=30,
               label="dominated: another config is both faster and cheaper", zorder=2)
    ax.scatter(front["wall_median"], front["cpu_median"], color="#d62728", s=45,
               label="Pareto front: no config is both faster and cheaper", zorder=3)
    best = a.fastest
    ax.scatter([best["wall_median"]], [best["cpu_median"]], marker="o", s=220, facecolor="none", edgecolor="black",
               lw=1.5, label="fastest", zorder=4)
    if a.serial_config is not None:
        serial = a.ranked[a.ranked["config_id"] == a.serial_config].iloc[0]
        ax.axhline(serial["cpu_median"], color="#888888", ls=":", lw=1,
                   label=f"serial CPU ({serial['cpu_median']:.3g} s): above it, parallelism costs extra CPU")
    ax.margins(x=0.12, y=0.15)
    # the front as a staircase: everything up and to the right of it is dominated
    x_right = ax.get_xlim()[1]
    xs, ys = list(front["wall_median"]), list(front["cpu_median"])
    step_x = [v for x in xs for v in (x, x)][1:] + [x_right]
    step_y = [v for y in ys for v in (y, y)]
    ax.plot(step_x, step_y, color="#d62728", lw=1, alpha=0.5)
    ax.set_xlim(right=x_right)
    ax.set_xlabel("median warm wall time per fit (s)")
    ax.set_ylabel("median CPU time per fit, whole process tree (s)")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    place_labels(ax, ranked["wall_median"], ranked["cpu_median"], list(ranked["config_id"]),
                 colors=["#b22222" if on else "#505050" for on in on_front])
    _suptitle(fig, "CPU cost vs wall time per config (down-left is better)", a)
    return fig


# -- box plots -------------------------------------------------------------------------------


def box_figure(a: ScenarioAnalysis, fits: pd.DataFrame) -> Figure:
    """Raw warm samples per config, fastest on top, coloured by the test's verdict."""
    ranked = a.ranked
    fig = _figure(figsize=(9, 2.2 + 0.34 * max(len(ranked), 1)))
    if ranked.empty:
        _suptitle(fig, "Warm wall time samples", a)
        return _no_data(fig, "no warm measurements")
    warm = warm_fits(fits)
    warm = warm[(warm["engine"] == a.engine) & (warm["scenario_id"] == a.scenario_id)]
    ax = fig.add_subplot()
    samples = [warm.loc[warm["config_id"] == c, "wall_s"].to_numpy(float) for c in ranked["config_id"]]
    positions = np.arange(len(ranked))[::-1]
    horizontal = {"orientation": "horizontal"} if _MPL >= (3, 10) else {"vert": False}
    box = ax.boxplot(samples, positions=positions, widths=0.6, patch_artist=True, showfliers=False,
                     medianprops={"color": "black"}, **horizontal)
    rng = np.random.default_rng(0)
    for patch, verdict, pos, s in zip(box["boxes"], ranked["verdict"], positions, samples):
        patch.set_facecolor(VERDICT_COLORS.get(verdict, "#ffffff"))
        ax.scatter(s, pos + rng.uniform(-0.15, 0.15, len(s)), s=14, color=VERDICT_DOTS.get(verdict, "#202020"),
                   edgecolor="black", linewidth=0.4, zorder=3)
    labels = [
        f"{c}  ({t} thr, n={n})" for c, t, n in zip(ranked["config_id"], ranked["threads"], ranked["n"])
    ]
    ax.set_yticks(positions, labels, fontsize=8)
    for label, verdict in zip(ax.get_yticklabels(), ranked["verdict"]):
        if verdict == "fastest":
            label.set_fontweight("bold")
    if a.bound is not None:
        ax.axvline(a.bound.bound_s, color="black", ls="--", lw=1)
    if a.serial_wall_s is not None:
        ax.axvline(a.serial_wall_s, color="#888888", ls=":", lw=1)
    handles = [Patch(facecolor=VERDICT_COLORS[v], edgecolor="black", label=lab) for v, lab in
               [("fastest", "fastest (lowest median)"), ("tied", "tied with the fastest (p >= alpha)"),
                ("slower", "slower (p < alpha)")]]
    handles.append(Line2D([], [], color="#808080", mec="black", mew=0.4, marker="o", ls="", ms=4, label="one warm fit"))
    if a.bound is not None:
        handles.append(Line2D([], [], color="black", ls="--", label=f"ideal bound {a.bound.bound_s:.3g} s"))
    if a.serial_wall_s is not None:
        handles.append(Line2D([], [], color="#888888", ls=":", label=f"serial median {a.serial_wall_s:.3g} s"))
    fig.legend(handles=handles, fontsize=8, loc="outside lower center", ncols=3)
    ax.set_xlabel("warm wall time per fit (s)")
    # zoomed on the samples (and the reference lines), so that the spreads are visible
    shown = np.concatenate([s for s in samples if len(s)] + [[a.bound.bound_s] if a.bound is not None else []])
    lo, hi = float(shown.min()), float(shown.max())
    ax.set_xlim(max(0.0, lo - 0.06 * (hi - lo)), hi + 0.06 * (hi - lo) + 1e-9)
    ax.grid(axis="x", alpha=0.3)
    _suptitle(fig, f"Warm wall time per config, ranked (one-sided Mann-Whitney U vs the fastest, alpha {a.alpha:g})", a)
    return fig


# -- timeline ----------------------------------------------------------------------------------


def _kind_colors(kinds: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    from matplotlib import colormaps

    palette = colormaps["tab10"]
    return {k: palette(i % 10) for i, k in enumerate(kinds)}


def _median_fit(warm: pd.DataFrame) -> pd.Series:
    ordered = warm.sort_values("wall_s")
    return ordered.iloc[(len(ordered) - 1) // 2]


def _pick_fits(a: ScenarioAnalysis, fits: pd.DataFrame, tasks: pd.DataFrame, max_configs: int) -> list[tuple]:
    """Per config (ranked), its warm fit with the median wall that has a trace."""
    warm = warm_fits(fits)
    warm = warm[(warm["engine"] == a.engine) & (warm["scenario_id"] == a.scenario_id)]
    tr = tasks[(tasks["engine"] == a.engine) & (tasks["scenario_id"] == a.scenario_id)] if not tasks.empty else tasks
    chosen = []
    for config_id in a.ranked["config_id"]:
        w = warm[warm["config_id"] == config_id]
        while len(w):
            candidate = _median_fit(w)
            t = tr[(tr["trial_id"] == candidate["trial_id"]) & (tr["fit_index"] == candidate["fit_index"])]
            if len(t):
                chosen.append((config_id, candidate, t))
                break
            w = w.drop(candidate.name)
    if len(chosen) > max_configs:  # the fastest ones, and always the serial and default configs
        must = [c for c in chosen if is_serial(c[0]) or c[0] == "default"]
        rest = [c for c in chosen if c not in must][: max_configs - len(must)]
        chosen = [c for c in chosen if c in rest or c in must]
    return chosen


def timeline_figure(a: ScenarioAnalysis, fits: pd.DataFrame, tasks: pd.DataFrame, max_configs: int = 12) -> Figure:
    """A Gantt chart of one warm fit per config (the one with the median wall).

    Each bar is one base-model fit on its worker (process p / thread t), coloured by
    model kind (hatched: the treatment stage); the time axis is shared, so lengths
    compare across panels, except for configs more than 3x slower than the fastest
    shown (own axis, marked in red). The grey band at the bottom is the load: threads busy /
    cores over time (red where more threads than cores are busy); white gaps are
    idle cores.
    """
    chosen = _pick_fits(a, fits, tasks, max_configs)
    if not chosen:
        fig = _figure(figsize=(8, 3))
        _suptitle(fig, "Timeline of one warm fit per config", a)
        return _no_data(fig, f"no task traces for the {a.engine} engine")

    stage_order = {"nuisance": 0, "treatment": 1}
    kinds = sorted(
        {(s, k) for _, _, t in chosen for s, k in zip(t["stage"], t["model_kind"])},
        key=lambda sk: (stage_order.get(sk[0], 2), sk[0], sk[1]),
    )
    colors = {k: colormaps["tab10"](i % 10) for i, k in enumerate(kinds)}
    ncols = 1 if len(chosen) == 1 else 2 if len(chosen) <= 4 else 3
    nrows = math.ceil(len(chosen) / ncols)
    n_workers = max(len(t.groupby(["pid", "thread"])) for _, _, t in chosen)
    panel_h = 1.0 + 0.2 * (n_workers + 2)
    fig = _figure(figsize=(5.2 * ncols, 1.6 + panel_h * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    # one time axis for all, unless a config is much slower than the fastest: it gets its own
    ends = [float(t["end_s"].max()) for _, _, t in chosen]
    x_shared = min(max(ends), 3.0 * min(ends))
    load_h = 1.3  # the load band is as tall as this many worker rows
    for ax, (config_id, fit, t) in zip(axes.flat, chosen):
        order = t.groupby(["pid", "thread"])["start_s"].min().sort_values()
        pids = list(dict.fromkeys(p for p, _ in order.index))
        n = len(order)
        row_of = {key: n - 1 - i for i, key in enumerate(order.index)}  # first worker on top
        labels = []
        for pid, thread in order.index:
            in_pid = [k for k in order.index if k[0] == pid]
            labels.append(f"p{pids.index(pid) + 1}.t{in_pid.index((pid, thread)) + 1}")
        for r in t.itertuples(index=False):
            y = row_of[(r.pid, r.thread)]
            ax.broken_barh([(r.start_s, r.end_s - r.start_s)], (y + 0.1, 0.8), facecolors=colors[(r.stage, r.model_kind)],
                           edgecolor="white", linewidth=0.4, hatch=STAGE_HATCH.get(r.stage))
        # the load band below the rows: threads busy / cores, 0 at -load_h - 0.2, 100% at -0.2
        edges = np.unique(np.concatenate([t["start_s"].to_numpy(float), t["end_s"].to_numpy(float)]))
        threads = t["model_n_jobs"].fillna(1).to_numpy(float)
        starts, ends = t["start_s"].to_numpy(float), t["end_s"].to_numpy(float)
        busy = np.array([threads[(starts <= e) & (ends > e)].sum() for e in edges])
        load = busy / a.cores
        base = -load_h - 0.2
        ax.fill_between(edges, base, base + np.minimum(load, 1.0) * load_h, step="post", color=LOAD_COLOR, lw=0)
        if (load > 1.0).any():
            ax.fill_between(edges, base, base + np.where(load > 1.0, load_h, 0), step="post", color="#d62728",
                            alpha=0.45, lw=0)
        ax.axhline(-0.2, color="#9a9a9a", lw=0.6, ls=":")
        ax.set_yticks([base + load_h / 2] + [row_of[k] + 0.5 for k in order.index], ["load"] + labels, fontsize=7)
        ax.set_ylim(base - 0.1, n + 0.05)
        busy_share = float(((ends - starts) * threads).sum()) / (float(ends.max()) * a.cores)
        m = sorted({int(x) for x in t["model_n_jobs"].dropna()})
        own = ends.max() > x_shared * 1.001
        ax.set_title(
            f"{config_id}: wall {fit['wall_s']:.3g} s, base models {ends.max():.3g} s, "
            f"cores {busy_share:.0%} busy, {m[0] if len(m) == 1 else m} thr/model"
            + ("\n(slow: its own time axis)" if own else ""),
            fontsize=8, color="#8b0000" if own else "black",
        )
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlim(0, (ends.max() if own else x_shared) * 1.02)
        ax.tick_params(axis="x", labelsize=7)
    for i, ax in enumerate(axes.flat):
        if i >= len(chosen):
            ax.axis("off")
        elif i + ncols >= len(chosen):  # the lowest panel of its column
            ax.set_xlabel("seconds since the fit's first base-model fit", fontsize=8)
    handles = [Patch(facecolor=colors[k], hatch=STAGE_HATCH.get(k[0]), edgecolor="white", label=f"{k[0]}: {k[1]}")
               for k in kinds]
    handles.append(Patch(facecolor=LOAD_COLOR, label=f"load: threads busy / {a.cores} cores (dotted: 100%)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=8)
    _suptitle(
        fig,
        "One warm fit per config (its median-wall fit): each base-model fit on its worker "
        "(p = process, t = thread); gaps = idle",
        a,
    )
    return fig


# -- across scenarios --------------------------------------------------------------------------


def _factor_groups(analyses: list[ScenarioAnalysis]) -> tuple[ScenarioAnalysis, dict[str, list[ScenarioAnalysis]]]:
    """The centre scenario (fewest differences to the others) and, per field, the
    scenarios that differ from it only there; the rest under "other"."""
    fields = [f for f in SCENARIO_FIELDS if any(f in a.scenario for a in analyses)]

    def diff(x: ScenarioAnalysis, y: ScenarioAnalysis) -> list[str]:
        return [f for f in fields if x.scenario.get(f) != y.scenario.get(f)]

    centre = min(analyses, key=lambda c: (sum(len(diff(c, o)) for o in analyses), analyses.index(c)))
    groups: dict[str, list[ScenarioAnalysis]] = {}
    for a in analyses:
        if a is centre:
            continue
        d = diff(a, centre)
        groups.setdefault(d[0] if len(d) == 1 else "other", []).append(a)
    return centre, groups


def _effective_levels(row: pd.Series, cores: int) -> tuple[int, int, int]:
    config = config_from_row(row)
    folds, stage = config.n_jobs_cross_fitting or 1, config.n_jobs_base_learners or 1
    model = config.model_n_jobs or max(1, cores // (folds * stage))
    return model, folds, stage


def _value_label(field: str, value: Any) -> str:
    if field == "n_rows":
        return f"{value // 1000}k" if value % 1000 == 0 else str(value)
    return str(value)


def _scenario_label(a: ScenarioAnalysis, centre: ScenarioAnalysis) -> str:
    diff = [f for f in SCENARIO_FIELDS if a.scenario.get(f) != centre.scenario.get(f)]
    return "\n".join(f"{f}={_value_label(f, a.scenario.get(f))}" for f in diff) or "centre"


FACTOR_NAMES = {
    "learner": "learner",
    "n_rows": "rows",
    "n_features": "features",
    "n_variants": "treatment variants",
    "n_folds": "folds",
    "base_model": "base model",
    "outcome": "outcome",
    "effect": "effect",
    "propensity": "propensity",
    "seed": "seed",
}


def across_winners_figure(analyses: list[ScenarioAnalysis], max_row_cells: int = 8) -> Figure:
    """Which level wins: the fastest config's model / fold / stage split per scenario.

    A panel per factor the scenarios vary one at a time around a centre scenario
    (the one with the fewest differences to the others), the centre in each panel;
    scenarios that differ in several factors in a last panel.
    """
    analyses = [a for a in analyses if a.fastest is not None]
    if not analyses:
        return _no_data(_figure(figsize=(6, 3)), "no measured scenarios")
    centre, groups = _factor_groups(analyses)
    panels: list[tuple[str, list[tuple[str, ScenarioAnalysis]]]] = []
    preferred = ["n_rows", "n_variants", "n_folds", "learner", "base_model"]
    for field_name in sorted(groups, key=lambda f: (preferred.index(f) if f in preferred else len(preferred), f)):
        members = groups[field_name]
        if field_name == "other":
            continue
        cols = [(c[1].scenario[field_name], c) for c in
                [(_value_label(field_name, centre.scenario[field_name]) + "\n(centre)", centre)]
                + [(_value_label(field_name, m.scenario[field_name]), m) for m in members]]
        cols.sort(key=lambda c: _sort_value(c[0]))
        panels.append((FACTOR_NAMES.get(field_name, field_name), [c for _, c in cols]))
    others = groups.get("other", [])
    if not panels:  # no one-factor design: every scenario side by side, labelled by what differs
        labels = _distinct_labels(analyses)
        panels.append(("scenarios", list(zip(labels, analyses))))
    elif others:
        panels.append(("other scenarios (vs centre)", [(_scenario_label(o, centre), o) for o in others]))

    # panels wrap into rows of at most max_row_cells scenarios
    rows: list[list[tuple[str, list]]] = [[]]
    for panel in panels:
        if rows[-1] and sum(len(c) for _, c in rows[-1]) + len(panel[1]) > max_row_cells:
            rows.append([])
        rows[-1].append(panel)
    width_cells = max(sum(len(c) for _, c in row) for row in rows)
    cores = max(a.cores for a in analyses)
    norm = Normalize(0, max(1.0, math.log2(cores)))
    cmap = colormaps["Blues"]
    fig = _figure(figsize=(max(9.0, 1.3 + 1.35 * width_cells), 1.2 + 3.3 * len(rows)))
    subfigs = fig.subfigures(len(rows), 1, squeeze=False)[:, 0]
    for subfig, row in zip(subfigs, rows):
        ratios = [len(c) for _, c in row]
        pad = max(width_cells, 4) - sum(ratios)  # cells keep one width, at most a quarter of the figure
        axes = subfig.subplots(1, len(row) + (pad > 0), squeeze=False, gridspec_kw={"width_ratios": ratios + [pad] * (pad > 0)})[0]
        if pad > 0:
            axes[-1].axis("off")
        for ax, (title, cols) in zip(axes, row):
            for j, (_, a) in enumerate(cols):
                levels = _effective_levels(a.fastest, a.cores)
                for i, v in enumerate(levels):
                    rgba = cmap(norm(math.log2(v)))
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=rgba, edgecolor="white", lw=1.5))
                    ax.text(j, i, str(v), ha="center", va="center", fontsize=11, fontweight="bold",
                            color=_text_color(rgba))
                best = a.fastest
                speed = f"{best['speedup']:.2f}x" if not np.isnan(best["speedup"]) else "no serial"
                n_tied = int((a.ranked["verdict"] == "tied").sum())
                ax.text(j, 2.6, f"{best['config_id']}\n{speed}\n{n_tied} tied", ha="center", va="top", fontsize=7,
                        color="#303030")
            ax.set_xlim(-0.5, len(cols) - 0.5)
            ax.set_ylim(3.45, -0.5)
            ax.set_xticks(range(len(cols)), [c[0] for c in cols], fontsize=8)
            ax.xaxis.set_ticks_position("top")
            ax.set_yticks(range(3), ["model\nthreads", "fold\nworkers", "stage\nworkers"], fontsize=8)
            ax.tick_params(length=0)
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.set_title(title, fontsize=10, fontweight="bold")
    engine = analyses[0].engine
    design = (
        f"centre: {_short_label(centre)}" if panels[0][0] != "scenarios"
        else "(these scenarios do not vary one factor at a time)"
    )
    fig.suptitle(
        f"Which level wins: the fastest config's split of the {cores} cores, per scenario ({engine} engine)\n"
        f"{design}; under each: the winner, its speed-up vs serial, configs tied with it",
        fontsize=10,
    )
    return fig


def _sort_value(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def _distinct_labels(analyses: list[ScenarioAnalysis], per_line: int = 3) -> list[str]:
    """Short labels: the parts of the readable scenario ids that differ between them."""
    parts = [_short_scenario(a).split("-") for a in analyses]
    if len({len(p) for p in parts}) != 1 or len(parts) == 1:
        return ["\n".join(textwrap.wrap(_short_label(a).replace("-", " "), 18)) for a in analyses]
    keep = [i for i in range(len(parts[0])) if len({p[i] for p in parts}) > 1]
    out = []
    for p in parts:
        tokens = [p[i] for i in keep]
        out.append("\n".join("-".join(tokens[i:i + per_line]) for i in range(0, len(tokens), per_line)))
    return out


def _short_label(a: ScenarioAnalysis) -> str:
    return _short_scenario(a).replace("-cont-lin-rand-s0", "")


def across_speedup_figure(analyses: list[ScenarioAnalysis]) -> Figure:
    """Per scenario: the fastest config's speed-up vs serial, the library default's,
    and the ideal bound's (without and with the serial glue) on these cores."""
    analyses = [a for a in analyses if a.fastest is not None]
    fig = _figure(figsize=(10, 1.8 + 0.62 * max(len(analyses), 2)))
    if not analyses:
        return _no_data(fig, "no measured scenarios")
    ax = fig.add_subplot()
    y = np.arange(len(analyses))[::-1].astype(float)
    best = np.array([a.fastest["speedup"] for a in analyses], dtype=float)
    default, ideal, ideal_glue = [], [], []
    for a in analyses:
        d = a.ranked[a.ranked["config_id"] == "default"]
        default.append(float(d["speedup"].iloc[0]) if len(d) else np.nan)
        if a.bound is not None and a.ideal_serial_s:
            ideal.append(a.ideal_serial_s / a.bound.bound_s)
            # no glue without the engine's own traces (the package): no second mark
            ideal_glue.append(np.nan if a.glue_s is None else a.ideal_serial_s / (max(a.glue_s, 0.0) + a.bound.bound_s))
        else:
            ideal.append(np.nan)
            ideal_glue.append(np.nan)
    ax.barh(y + 0.18, best, 0.36, color="#2ca02c", label="fastest config")
    ax.barh(y - 0.18, default, 0.36, color="#d62728", alpha=0.7, label="library default")
    for values, color, label in ((ideal, "black", "ideal bound: serial / max(work/cores, span)"),
                                 (ideal_glue, "#8c8c8c", "ideal bound with the serial glue kept serial")):
        if not np.isnan(values).all():  # no legend entry for marks never drawn
            ax.vlines(values, y - 0.4, y + 0.4, color=color, lw=2.5, zorder=3, label=label)
    right = np.nanmax(np.concatenate([best, default, ideal, [1.0]]))
    for yi, a, b, d in zip(y, analyses, best, default):
        if not np.isnan(b):  # the winner inside its bar when it fits, else after it
            text = f"{a.fastest['config_id']}  {b:.2f}x"
            inside = b > right * 0.03 * len(text) / 4
            ax.text(right * 0.01 if inside else b, yi + 0.18, text if inside else " " + text, va="center", fontsize=7,
                    color="white" if inside else "black", fontweight="bold" if inside else "normal", zorder=4)
        if not np.isnan(d):
            ax.text(right * 0.01, yi - 0.18, f"{d:.2f}x", va="center", fontsize=7, color="white", zorder=4)
    ax.axvline(1, color="#888888", lw=0.8, ls=":")
    ax.set_yticks(y, [_short_label(a) for a in analyses], fontsize=8)
    ax.set_xlabel("speed-up vs the serial config m1-f1-s1 (x)")
    ax.set_xlim(0, right * 1.08)
    ax.set_ylim(-0.6, len(analyses) - 0.4)
    fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.suptitle(
        f"Speed-up of the fastest config and of the library default per scenario "
        f"({analyses[0].engine} engine, {max(a.cores for a in analyses)} cores)",
        fontsize=10,
    )
    return fig


# -- writing ------------------------------------------------------------------------------------


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def plot_all(
    fits: pd.DataFrame,
    tasks: pd.DataFrame,
    out_dir: str | Path,
    analyses: list[ScenarioAnalysis] | None = None,
) -> list[Path]:
    """Write every figure as PNG into ``out_dir``; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    analyses = analyses if analyses is not None else analyse(fits, tasks)
    written: list[Path] = []

    def save(fig: Figure, name: str) -> None:
        path = out / f"{_safe(name)}.png"
        fig.savefig(path, dpi=DPI)
        written.append(path)

    per_scenario: list[tuple[str, Callable[[ScenarioAnalysis], Figure]]] = [
        ("heatmap", heatmap_figure),
        ("scaling", scaling_figure),
        ("pareto", pareto_figure),
        ("box", lambda a: box_figure(a, fits)),
        ("timeline", lambda a: timeline_figure(a, fits, tasks)),
    ]
    for a in analyses:
        stem = f"{a.engine}_{a.scenario_id}" + (f"_{a.cores}cores" if _several_core_counts(analyses, a) else "")
        for kind, make in per_scenario:
            if kind == "timeline" and (tasks.empty or a.engine not in set(tasks["engine"])):
                continue
            save(make(a), f"{stem}_{kind}")
    for engine in dict.fromkeys(a.engine for a in analyses):
        group = [a for a in analyses if a.engine == engine]
        save(across_winners_figure(group), f"across_{engine}_winners")
        save(across_speedup_figure(group), f"across_{engine}_speedup")
    return written


def _several_core_counts(analyses: list[ScenarioAnalysis], a: ScenarioAnalysis) -> bool:
    return sum(1 for o in analyses if o.engine == a.engine and o.scenario_id == a.scenario_id) > 1


def write_plots(db_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Every figure of a results store as PNG files in ``out_dir``; returns their paths."""
    fits, tasks, _ = load(db_path)
    return plot_all(fits, tasks, out_dir)
