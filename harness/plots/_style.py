"""What every figure shares: the figure factory, colours, level and scenario labels, and label placement.

Figures are plain :class:`matplotlib.figure.Figure` objects made by :func:`_figure`
(constrained layout, no pyplot, no global state). The colours of verdicts and task
stages, the short labels of levels and scenarios, and :func:`place_labels` (point
labels that avoid each other) live here so that every figure module draws them alike.
"""

from __future__ import annotations

import math
import re
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from harness.analysis.summary import ScenarioAnalysis

DPI = 110
_MPL = tuple(int(v) for v in re.findall(r"\d+", matplotlib.__version__)[:2])
LEVEL_NAMES = {"model_n_jobs": "model", "n_jobs_cross_fitting": "fold", "n_jobs_base_learners": "stage"}
VERDICT_COLORS = {"fastest": "#2ca02c", "tied": "#8fbcd4", "slower": "#d9d9d9", "no data": "#ffffff"}
VERDICT_DOTS = {"fastest": "#1a661a", "tied": "#2f6f95", "slower": "#7f7f7f"}
STAGE_HATCH = {"nuisance": None, "treatment": "///"}
LOAD_COLOR = "#bdbdbd"


def _figure(**kwargs: Any) -> Figure:
    return Figure(dpi=DPI, layout="constrained", **kwargs)


def place_labels(
    ax: Any, xs: Any, ys: Any, texts: list[str], colors: list[str] | None = None, fontsize: float = 7
) -> None:
    """Label points without overlaps: each label takes the first free spot around
    its point (right, left, above, below, then farther out with a leader line)."""
    fig = ax.figure
    fig.draw_without_rendering()  # the final layout, so that data -> pixels is known
    box = ax.get_window_extent()
    px = fig.dpi / 72.0
    h = fontsize * 1.25 * px
    points = ax.transData.transform(np.column_stack([np.asarray(xs, float), np.asarray(ys, float)]))
    taken = [(x - 4, y - 4, x + 4, y + 4) for x, y in points]

    def free(r: tuple[float, float, float, float]) -> bool:
        inside = r[0] >= box.x0 and r[2] <= box.x1 and r[1] >= box.y0 and r[3] <= box.y1
        return inside and not any(r[0] < o[2] and r[2] > o[0] and r[1] < o[3] and r[3] > o[1] for o in taken)

    colors = colors or ["#303030"] * len(texts)
    for (x, y), text, color in zip(points, texts, colors):
        w = len(text) * fontsize * 0.6 * px
        candidates = [
            (r, d)
            for r in (4, 12, 22, 34, 48, 64, 84)
            for d in [(r, -h / 2), (-r - w, -h / 2), (-w / 2, r), (-w / 2, -r - h),
                      (r, r / 2), (r, -r / 2 - h), (-r - w, r / 2), (-r - w, -r / 2 - h)]
        ]
        r, (dx, dy) = next(
            (c for c in candidates if free((x + c[1][0], y + c[1][1], x + c[1][0] + w, y + c[1][1] + h))),
            candidates[0],
        )
        taken.append((x + dx, y + dy, x + dx + w, y + dy + h))
        ax.annotate(
            text, tuple(ax.transData.inverted().transform((x, y))), xytext=(dx / px, dy / px),
            textcoords="offset points", ha="left", va="bottom", fontsize=fontsize, color=color,
            arrowprops={"arrowstyle": "-", "color": "#a0a0a0", "lw": 0.6, "shrinkA": 0, "shrinkB": 3} if r > 4 else None,
        )


def _short_scenario(a: ScenarioAnalysis) -> str:
    """The readable part of a scenario id (without the digest)."""
    return re.sub(r"-[0-9a-f]{6}$", "", a.scenario_id)


def _suptitle(fig: Figure, what: str, a: ScenarioAnalysis) -> None:
    fig.suptitle(f"{what}\n{a.engine} engine | {a.scenario_id} | {a.cores} cores", fontsize=11)


def _no_data(fig: Figure, text: str) -> Figure:
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, wrap=True)
    return fig


def _level_label(value: Any) -> str:
    return "d" if value is None or (isinstance(value, float) and math.isnan(value)) else str(int(value))


def _level_key(label: str) -> tuple[int, int]:
    return (1, 0) if label == "d" else (0, int(label))


def _text_color(rgba: tuple[float, ...]) -> str:
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"



def _short_label(a: ScenarioAnalysis) -> str:
    return _short_scenario(a).replace("-cont-lin-rand-s0", "")
