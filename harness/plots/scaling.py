"""The scaling plot: speed-up vs threads used per config, against perfect scaling and the ideal bound.

Each config is a point at its thread count (configs with the same count side by
side) with the IQR of its speed-up, coloured by the level it parallelises and marked
by its backend; the lines are perfect scaling, the ideal bound
``serial / max(work / threads, span)`` and that bound with the serial glue kept
serial. Fed by a :class:`~harness.analysis.summary.ScenarioAnalysis`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from harness.analysis.summary import ScenarioAnalysis
from harness.config import LEVELS, ParallelConfig
from harness.plots._style import AUTO_COLOR, DEFAULT_COLOR, LEVEL_NAMES, _figure, _no_data, _suptitle, label_points

__all__ = ["scaling_figure"]


def _level_used(row: pd.Series) -> str:
    if row["config_id"] == "default":
        return "library default"
    if ParallelConfig.from_id(row["config_id"]).is_auto:
        return "auto"
    used = [LEVEL_NAMES[n] for n in LEVELS if (row[n] or 1) > 1]
    if not used:
        return "serial"
    return used[0] + " level" if len(used) == 1 else " + ".join(used)


_USED_COLORS = {  # legend order; mixed levels go before the library default
    "serial": "black",
    "model level": "#1f77b4",
    "fold level": "#ff7f0e",
    "stage level": "#2ca02c",
    "library default": DEFAULT_COLOR,
    "auto": AUTO_COLOR,
}
_MIXED_COLORS = ["#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
#: marker per backend: the library default has none (diamond), auto chooses its own (star)
_MARKERS = {"loky": "o", "threading": "s", None: "D", "auto": "*"}


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
    markers = _MARKERS
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
            color=colors[u], ms=(9 if fastest else 6) * (1.5 if backend == "auto" else 1), mec="black" if fastest else colors[u], mew=1.5 if fastest else 1,
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
    ax.set_xlabel("threads used = model n_jobs x fold workers x stage workers")
    ax.set_ylabel(f"speed-up vs serial ({a.serial_config}: {a.serial_wall_s:.3g} s)")
    order = list(_USED_COLORS)
    present = sorted(dict.fromkeys(used), key=lambda u: (order.index(u) if u in order else 3.5, u))
    shape = {"library default": "D", "auto": "*"}
    level_handles = [Line2D([], [], color=colors[u], marker=shape.get(u, "o"), ls="", ms=9 if u == "auto" else 6,
                            label=u) for u in present]
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
    # labels last, on the final layout; the fastest and the named configs first
    fastest = (ranked["verdict"] == "fastest").to_numpy()
    named = np.isin(used, ["serial", "library default", "auto"])
    order = np.lexsort((-ranked["speedup"].to_numpy(float), np.where(fastest, 0, np.where(named, 1, 2))))
    is_auto = np.asarray(used) == "auto"
    iqr = [(x, a.serial_wall_s / r["wall_q3"], x, a.serial_wall_s / r["wall_q1"]) for (_, r), x in zip(ranked.iterrows(), xs)]
    label_points(ax, lambda text: ax.set_title(text, fontsize=7, color="#606060", loc="right"),
                 xs, ranked["speedup"], list(ranked["config_id"]),
                 colors=["black" if v == "fastest" else "#404040" for v in ranked["verdict"]],
                 radii=np.where(fastest, 5.5, 3.5) * np.where(is_auto, 1.5, 1.0), order=order, obstacles=iqr)
    return fig

