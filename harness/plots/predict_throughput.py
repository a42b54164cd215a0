"""The predict figure: throughput against batch size, one line per (engine, predict config).

One figure per scenario (:func:`harness.analysis.predict.analyse_predict`'s groups of
that scenario, one per batch size): rows per second (the median over values) on a
log-log plot against the rows of one predict call, so the small batches (latency:
rows/s = batch / call latency) and the large ones (throughput) sit on one axis. The
serial reference is black, ``p-auto`` purple, the metalearners package dashed; the
fastest core config of each batch size is ringed.
"""

from __future__ import annotations

import math

from matplotlib.figure import Figure

from harness.analysis.predict import CORE, PredictGroup
from harness.plots._style import AUTO_COLOR, _figure

__all__ = ["predict_throughput_figure", "predict_throughput_figures"]


def _style(engine: str, config_id: str) -> dict:
    if engine != CORE:
        return {"color": "tab:red", "linestyle": "--", "marker": "s"}
    if config_id == "p-serial":
        return {"color": "black", "marker": "o"}
    if config_id == "p-auto":
        return {"color": AUTO_COLOR, "marker": "D"}
    return {"marker": "o"}


def predict_throughput_figure(scenario_id: str, groups: list[PredictGroup]) -> Figure:
    """Rows/s against batch rows for every (engine, config) of one scenario's ``groups``."""
    groups = sorted(groups, key=lambda g: g.batch_rows)
    lines: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for g in groups:
        for c in g.cells:
            if math.isfinite(c.rows_per_s):
                lines.setdefault((c.engine, c.config_id), []).append((g.batch_rows, c.rows_per_s))
    fig = _figure(figsize=(8, 5))
    ax = fig.add_subplot()
    for (engine, config_id), points in lines.items():
        xs, ys = zip(*points)
        label = config_id if engine == CORE else f"{engine} (package) {config_id}"
        ax.plot(xs, ys, label=label, lw=1.5, ms=5, **_style(engine, config_id))
    for g in groups:
        best = g.fastest
        if best is not None and math.isfinite(best.rows_per_s):
            ax.scatter([g.batch_rows], [best.rows_per_s], s=180, facecolors="none", edgecolors="#2ca02c", lw=2, zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows per predict call (log scale)")
    ax.set_ylabel("rows predicted per second (median over values, log scale)")
    ax.set_title(f"{scenario_id}\npredict throughput by batch size (ringed: fastest core config)", fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    fig.legend(loc="outside right center", fontsize=8)
    return fig


def predict_throughput_figures(groups: list[PredictGroup]) -> list[tuple[str, Figure]]:
    """(scenario_id, figure) for every scenario of ``groups``."""
    by_scenario: dict[str, list[PredictGroup]] = {}
    for g in groups:
        by_scenario.setdefault(g.scenario_id, []).append(g)
    return [(sid, predict_throughput_figure(sid, gs)) for sid, gs in by_scenario.items()]
