"""Writing the figures: every figure of a results store as PNG files.

:func:`plot_all` draws, per engine + scenario (+ core count where a scenario was
measured on several), the heatmap, scaling, Pareto, box and (with task traces)
timeline figures, and per engine the two across-scenario figures, from the store's
DataFrames and their :func:`~harness.analysis.summary.analyse` objects;
:func:`write_plots` reads a store and calls it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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

__all__ = ["plot_all", "write_plots"]


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
