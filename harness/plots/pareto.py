"""The Pareto plot: CPU seconds vs wall seconds per config, the Pareto front highlighted.

A config is on the front (:func:`harness.analysis.pareto.pareto_front`) when no
other config is both faster and cheaper; the front is drawn as a staircase, the
serial config's CPU as a dotted line. Labels never overlap: the fastest, the front and
the named baselines (serial, default, auto) are placed first, a dominated config
left without room goes unlabelled (counted in a footnote). Fed by a
:class:`~harness.analysis.summary.ScenarioAnalysis`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from harness.analysis.pareto import pareto_front
from harness.analysis.summary import ScenarioAnalysis
from harness.config import ParallelConfig
from harness.plots._style import _figure, _no_data, _suptitle, label_points

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
    # labels keep off the staircase and the serial CPU line
    lines = [(x0, y0, x1, y1) for x0, y0, x1, y1 in zip(step_x[:-1], step_y[:-1], step_x[1:], step_y[1:])]
    if a.serial_config is not None:
        lines.append((ax.get_xlim()[0], serial["cpu_median"], x_right, serial["cpu_median"]))
    ax.set_xlabel("median warm wall time per fit (s)")
    ax.set_ylabel("median CPU time per fit, whole process tree (s)")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    # the front, the fastest and the named baselines get the spots next to their points first
    named = ranked["config_id"].map(lambda c: c in ("default", a.serial_config) or ParallelConfig.from_id(c).is_auto)
    fastest = (ranked["config_id"] == best["config_id"]).to_numpy()
    rank = np.where(fastest, 0, np.where(on_front, 1, np.where(named, 2, 3)))
    order = np.lexsort((ranked["wall_median"].to_numpy(float), rank))
    label_points(
        ax, lambda text: fig.supxlabel(text, fontsize=7, color="#606060"),
        ranked["wall_median"], ranked["cpu_median"], list(ranked["config_id"]),
        colors=["#b22222" if on else "#505050" for on in on_front],
        radii=np.where(fastest, 8.0, np.where(on_front, 3.8, 3.1)), order=order, obstacles=lines,
    )
    _suptitle(fig, "CPU cost vs wall time per config (down-left is better)", a)
    return fig

