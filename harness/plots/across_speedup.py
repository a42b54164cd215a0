"""Across scenarios, how much faster: the fastest config's speed-up per scenario beside the library default's.

One row per scenario: a bar for the fastest config (named in or after it; ``auto``
in its own colour), one for the library default (its figure in or after it), and ticks for the ideal bound ``serial / max(work / cores,
span)`` without and with the serial glue kept serial. Fed by a list of
:class:`~harness.analysis.summary.ScenarioAnalysis` of one engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from harness.analysis.summary import ScenarioAnalysis
from harness.config import ParallelConfig
from harness.plots._style import AUTO_COLOR, DEFAULT_COLOR, _figure, _no_data, _short_label

__all__ = ["across_speedup_figure"]

FASTEST_COLOR = "#2ca02c"


def _bar_labels(fig: Figure, ax: Any, labels: list[tuple[float, float, str, bool]]) -> None:
    """Each bar's label inside it (white, from its base) when it fits there, else just
    after its end (dark), so that a short bar's label never sits white on white; the
    x axis widens until every label ends inside the axes (re-placing them, since a
    wider axis shortens the bars)."""
    artists: list[Any] = []
    for _ in range(4):
        for artist in artists:
            artist.remove()
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()
        to_data = ax.transData.inverted()
        artists = []
        for yi, length, text, bold in labels:
            artist = ax.text(0, yi, " " + text + " ", va="center", fontsize=7, zorder=4,
                             fontweight="bold" if bold else "normal")
            box = artist.get_window_extent(renderer)
            width = to_data.transform((box.x1, 0))[0] - to_data.transform((box.x0, 0))[0]
            artist.set_color("white" if width <= length else "black")
            if width > length:
                artist.set_x(length)
            artists.append(artist)
        right = max((t.get_window_extent(renderer).x1 for t in artists), default=0.0)
        box = ax.get_window_extent(renderer)
        if right <= box.x1 - 2:
            return
        lo, hi = ax.get_xlim()
        ax.set_xlim(lo, lo + (hi - lo) * (right - box.x0 + 6) / (box.x1 - box.x0))


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
    auto_won = np.array([ParallelConfig.from_id(a.fastest["config_id"]).is_auto for a in analyses])
    ax.barh(y + 0.18, np.where(auto_won, np.nan, best), 0.36, color=FASTEST_COLOR, label="fastest config")
    if auto_won.any():
        ax.barh(y + 0.18, np.where(auto_won, best, np.nan), 0.36, color=AUTO_COLOR,
                label="fastest config: auto (core picks every level)")
    ax.barh(y - 0.18, default, 0.36, color=DEFAULT_COLOR, alpha=0.7, label="library default")
    for values, color, label in ((ideal, "black", "ideal bound: serial / max(work/cores, span)"),
                                 (ideal_glue, "#8c8c8c", "ideal bound with the serial glue kept serial")):
        if not np.isnan(values).all():  # no legend entry for marks never drawn
            ax.vlines(values, y - 0.4, y + 0.4, color=color, lw=2.5, zorder=3, label=label)
    right = float(np.nanmax(np.concatenate([best, default, ideal, ideal_glue, [1.0]])))
    ax.set_xlim(0, right * 1.08)
    labels = []
    for yi, a, b, d in zip(y, analyses, best, default):
        if not np.isnan(b):
            labels.append((yi + 0.18, b, f"{a.fastest['config_id']}  {b:.2f}x", True))
        if not np.isnan(d):
            labels.append((yi - 0.18, d, f"{d:.2f}x", False))
    ax.axvline(1, color="#888888", lw=0.8, ls=":")
    ax.set_yticks(y, [_short_label(a) for a in analyses], fontsize=8)
    ax.set_xlabel("speed-up vs the serial config m1-f1-s1 (x)")
    ax.set_ylim(-0.6, len(analyses) - 0.4)
    fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.suptitle(
        f"Speed-up of the fastest config and of the library default per scenario "
        f"({analyses[0].engine} engine, {max(a.cores for a in analyses)} cores)",
        fontsize=10,
    )
    _bar_labels(fig, ax, labels)  # on the final layout: titles, ticks and legend are in place
    return fig

