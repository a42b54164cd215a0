"""Across scenarios, how much faster: the fastest config's speed-up per scenario beside the library default's.

One row per scenario: a bar for the fastest config (named in or after it), one for
the library default, and ticks for the ideal bound ``serial / max(work / cores,
span)`` without and with the serial glue kept serial. Fed by a list of
:class:`~harness.analysis.summary.ScenarioAnalysis` of one engine.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from harness.analysis.summary import ScenarioAnalysis
from harness.plots._style import _figure, _no_data, _short_label

__all__ = ["across_speedup_figure"]


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

