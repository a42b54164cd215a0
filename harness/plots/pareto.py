"""The Pareto plot: CPU seconds vs wall seconds per config, the Pareto front highlighted.

A config is on the front (:func:`harness.analysis.pareto.pareto_front`) when no
other config is both faster and cheaper; the front is drawn as a staircase, the
serial config's CPU as a dotted line. Fed by a
:class:`~harness.analysis.summary.ScenarioAnalysis`.
"""

from __future__ import annotations

from matplotlib.figure import Figure

from harness.analysis.pareto import pareto_front
from harness.analysis.summary import ScenarioAnalysis
from harness.plots._style import _figure, _no_data, _suptitle, place_labels

__all__ = ["pareto_figure"]


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

