"""Across scenarios, which level wins: the fastest config's model / fold / stage split per scenario.

A panel per factor that the scenarios vary one at a time around a centre scenario
(:func:`harness.analysis.design.factor_groups`), the centre in each panel; scenarios
differing in several factors in a last panel. Each column shows the winner's
threads per model, fold workers and stage workers (darker = more), its name, its
speed-up vs serial and how many configs are tied with it. Fed by a list of
:class:`~harness.analysis.summary.ScenarioAnalysis` of one engine.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from harness.analysis.design import factor_groups, scenario_diff
from harness.analysis.samples import config_from_row
from harness.analysis.summary import ScenarioAnalysis
from harness.plots._style import AUTO_COLOR, _figure, _no_data, _short_label, _short_scenario, _text_color

__all__ = ["across_winners_figure"]


def _effective_levels(row: pd.Series, cores: int) -> tuple[int, int, int] | None:
    """Threads per model, fold workers, stage workers of a config on ``cores``; None
    for ``auto``, whose scheduler picks them per fit (the store keeps no levels)."""
    config = config_from_row(row)
    if config.is_auto:
        return None
    return config.model_threads(cores), config.n_jobs_cross_fitting or 1, config.n_jobs_base_learners or 1



def _value_label(field: str, value: Any) -> str:
    if field == "n_rows":
        return f"{value // 1000}k" if value % 1000 == 0 else str(value)
    return str(value)


def _scenario_label(a: ScenarioAnalysis, centre: ScenarioAnalysis) -> str:
    diff = scenario_diff(a, centre)
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
    centre, groups = factor_groups(analyses)
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
                if levels is None:  # auto: no level values of its own to show
                    ax.add_patch(Rectangle((j - 0.5, -0.5), 1, 3, facecolor=AUTO_COLOR, edgecolor="white", lw=1.5))
                    ax.text(j, 1, "auto", ha="center", va="center", fontsize=11, fontweight="bold", color="white")
                for i, v in enumerate(levels or ()):
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
    auto_won = any(_effective_levels(a.fastest, a.cores) is None for a in analyses)
    design = (
        f"centre: {_short_label(centre)}" if panels[0][0] != "scenarios"
        else "(these scenarios do not vary one factor at a time)"
    )
    fig.suptitle(
        f"Which level wins: the fastest config's split of the {cores} cores, per scenario ({engine} engine)\n"
        f"{design}; under each: the winner, its speed-up vs serial, configs tied with it"
        + ("\nauto: core's scheduler picks every level" if auto_won else ""),  # own line: never clipped
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

