"""Which figures a results store has, and writing them as PNG files.

:func:`scenario_figures` draws, per engine + scenario, the heatmap, scaling, Pareto,
box and (with task traces) timeline figures; :func:`across_figures` per engine the two
across-scenario figures; both from the store's DataFrames and their
:func:`~harness.analysis.summary.analyse` objects, and both are what the HTML report
embeds. :func:`plot_all` saves them all (adding the core count to a file name where a
scenario was measured on several); :func:`write_plots` reads a store and calls it, and
writes the predict trials' throughput figures (:mod:`harness.plots.predict_throughput`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from harness.analysis.summary import ScenarioAnalysis, analyse
from harness.plots._style import DPI
from harness.plots.across_speedup import across_speedup_figure
from harness.plots.across_winners import across_winners_figure
from harness.plots.box import box_figure
from harness.plots.heatmap import heatmap_figure
from harness.plots.pareto import pareto_figure
from harness.plots.scaling import scaling_figure
from harness.plots.timeline import timeline_figure
from harness.store import load_all as load

__all__ = ["across_figures", "plot_all", "scenario_figures", "write_plots"]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def scenario_figures(a: ScenarioAnalysis, fits: pd.DataFrame, tasks: pd.DataFrame) -> Iterator[tuple[str, Figure]]:
    """(kind, figure) of one engine + scenario, drawn one at a time; the timeline only
    where that engine has task traces."""
    yield "heatmap", heatmap_figure(a)
    yield "scaling", scaling_figure(a)
    yield "pareto", pareto_figure(a)
    yield "box", box_figure(a, fits)
    if not tasks.empty and a.engine in set(tasks["engine"]):
        yield "timeline", timeline_figure(a, fits, tasks)


def across_figures(analyses: list[ScenarioAnalysis]) -> Iterator[tuple[str, Figure]]:
    """(name, figure) of the figures across scenarios, two per engine."""
    for engine in dict.fromkeys(a.engine for a in analyses):
        group = [a for a in analyses if a.engine == engine]
        yield f"across_{engine}_winners", across_winners_figure(group)
        yield f"across_{engine}_speedup", across_speedup_figure(group)


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

    for a in analyses:
        stem = f"{a.engine}_{a.scenario_id}" + (f"_{a.cores}cores" if _several_core_counts(analyses, a) else "")
        for kind, fig in scenario_figures(a, fits, tasks):
            save(fig, f"{stem}_{kind}")
    for name, fig in across_figures(analyses):
        save(fig, name)
    return written


def _several_core_counts(analyses: list[ScenarioAnalysis], a: ScenarioAnalysis) -> bool:
    return sum(1 for o in analyses if o.engine == a.engine and o.scenario_id == a.scenario_id) > 1


def write_plots(db_path: str | Path, out_dir: str | Path, phase: str | None = None) -> list[Path]:
    """Every figure of a results store as PNG files in ``out_dir`` (only ``phase``'s, "fit"
    or "predict", when given); returns their paths."""
    written: list[Path] = []
    if phase in (None, "fit"):
        fits, tasks, _ = load(db_path)
        written += plot_all(fits, tasks, out_dir)
    if phase in (None, "predict"):
        written += write_predict_plots(db_path, out_dir)
    return written


def write_predict_plots(db_path: str | Path, out_dir: str | Path) -> list[Path]:
    """The predict figures of a store (:mod:`harness.plots.predict_throughput`): one
    ``predict_<scenario>_throughput.png`` per scenario with predict trials."""
    from harness.analysis.predict import analyse_predict
    from harness.plots.predict_throughput import predict_throughput_figures
    from harness.store import load_fits

    groups = analyse_predict(load_fits(db_path, phase="predict"))
    out = Path(out_dir)
    written = []
    for scenario_id, fig in predict_throughput_figures(groups):
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"predict_{_safe(scenario_id)}_throughput.png"
        fig.savefig(path, dpi=DPI)
        written.append(path)
    return written
