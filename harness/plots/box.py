"""The box plot: every warm wall sample per config, ranked, coloured by the test's verdict.

Boxes show the quartiles, dots the single warm fits, colours THE rule's verdict
against the fastest (two-sided Welch t-test on per-trial means and the practical
threshold: :func:`harness.analysis.stats.verdict`); the ideal bound and the serial median are
reference lines. Fed by a :class:`~harness.analysis.summary.ScenarioAnalysis` and
the store's fits (for the raw samples).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from harness.analysis.samples import warm_fits
from harness.analysis.summary import ScenarioAnalysis
from harness.plots._style import _MPL, VERDICT_COLORS, VERDICT_DOTS, _figure, _no_data, _suptitle

__all__ = ["box_figure"]


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
    _suptitle(fig, f"Warm wall time per config, ranked (Welch t on per-trial means vs the fastest, "
                   f"alpha {a.alpha:g}, min effect {a.min_effect:.0%})", a)
    return fig

