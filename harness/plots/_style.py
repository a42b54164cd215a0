"""What every figure shares: the figure factory, colours, level and scenario labels, and label placement.

Figures are plain :class:`matplotlib.figure.Figure` objects made by :func:`_figure`
(constrained layout, no pyplot, no global state). The colours of verdicts and task
stages, the short labels of levels and scenarios, and :func:`place_labels` (point
labels that avoid each other) live here so that every figure module draws them alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.analysis.summary import ScenarioAnalysis

DPI = 110
_MPL = tuple(int(v) for v in re.findall(r"\d+", matplotlib.__version__)[:2])
LEVEL_NAMES = {"model_n_jobs": "model", "n_jobs_cross_fitting": "fold", "n_jobs_base_learners": "stage"}
VERDICT_COLORS = {"fastest": "#2ca02c", "tied": "#8fbcd4", "slower": "#d9d9d9", "no data": "#ffffff"}
VERDICT_DOTS = {"fastest": "#1a661a", "tied": "#2f6f95", "slower": "#7f7f7f"}
STAGE_HATCH = {"nuisance": None, "treatment": "///"}
LOAD_COLOR = "#bdbdbd"
#: metalearners_core's "auto" config (its scheduler picks every level) and the library default, in every figure
AUTO_COLOR = "#9467bd"
DEFAULT_COLOR = "#d62728"


def _figure(**kwargs: Any) -> Figure:
    """A constrained-layout Figure on its own Agg canvas (text extents can be measured)."""
    fig = Figure(dpi=DPI, layout="constrained", **kwargs)
    FigureCanvasAgg(fig)
    return fig


def place_labels(
    ax: Any,
    xs: Any,
    ys: Any,
    texts: list[str],
    colors: list[str] | None = None,
    fontsize: float = 7,
    radii: Any = None,
    order: Any = None,
    obstacles: Any = None,
) -> tuple[int, list[Any]]:
    """Label points without overlaps; returns how many labels found no free spot (left
    out) and the labels drawn.

    Labels are placed in ``order`` (indices into the points; default: as given), so
    the important ones get the spots next to their points. Each label takes the first
    free spot around its point (right, left, above, below, diagonals, then farther out
    with a leader line): inside the axes, clear of every other label, of every point's
    marker (``radii``: marker radius per point in points, default 3) and of the
    ``obstacles`` (data boxes ``(x0, y0, x1, y1)``, e.g. error bars). A label with no
    such spot within ~100 pixels is left out rather than drawn over another.
    """
    fig = ax.figure
    fig.draw_without_rendering()  # the final layout, so that data -> pixels is known
    renderer = fig.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    px = fig.dpi / 72.0
    points = ax.transData.transform(np.column_stack([np.asarray(xs, float), np.asarray(ys, float)]))
    radii = np.full(len(points), 3.0) if radii is None else np.asarray(radii, float)
    taken = [(x - r * px - 1, y - r * px - 1, x + r * px + 1, y + r * px + 1) for (x, y), r in zip(points, radii)]
    for x0, y0, x1, y1 in obstacles if obstacles is not None else []:
        (p0x, p0y), (p1x, p1y) = ax.transData.transform([(x0, y0), (x1, y1)])
        taken.append((min(p0x, p1x) - 2, min(p0y, p1y) - 2, max(p0x, p1x) + 2, max(p0y, p1y) + 2))

    def free(r: tuple[float, float, float, float]) -> bool:
        inside = r[0] >= box.x0 + 1 and r[2] <= box.x1 - 1 and r[1] >= box.y0 + 1 and r[3] <= box.y1 - 1
        return inside and not any(r[0] < o[2] and r[2] > o[0] and r[1] < o[3] and r[3] > o[1] for o in taken)

    colors = colors or ["#303030"] * len(texts)
    left_out, drawn = 0, []
    for i in order if order is not None else range(len(texts)):
        (x, y), text, color, radius = points[i], texts[i], colors[i], radii[i] * px
        probe = ax.text(0, 0, text, fontsize=fontsize)
        extent = probe.get_window_extent(renderer)
        probe.remove()
        w, h = extent.width + 2, extent.height + 1
        candidates = [
            (r, d)
            for r in (radius + 2, radius + 10, 22, 34, 48, 64, 84, 104)
            for d in [(r, -h / 2), (-r - w, -h / 2), (-w / 2, r), (-w / 2, -r - h),
                      (r * 0.7, r * 0.7), (r * 0.7, -r * 0.7 - h), (-r * 0.7 - w, r * 0.7), (-r * 0.7 - w, -r * 0.7 - h)]
        ]
        spot = next(
            (c for c in candidates if free((x + c[1][0], y + c[1][1], x + c[1][0] + w, y + c[1][1] + h))), None
        )
        if spot is None:
            left_out += 1
            continue
        r, (dx, dy) = spot
        taken.append((x + dx, y + dy, x + dx + w, y + dy + h))
        drawn.append(ax.annotate(
            text, tuple(ax.transData.inverted().transform((x, y))), xytext=((dx + 1) / px, dy / px),
            textcoords="offset points", ha="left", va="bottom", fontsize=fontsize, color=color,
            arrowprops=(
                {"arrowstyle": "-", "color": "#a0a0a0", "lw": 0.6, "shrinkA": 0, "shrinkB": radius / px + 1}
                if r > radius + 2 else None
            ),
        ))
    return left_out, drawn


def label_points(ax: Any, note: Callable[[str], Any], *args: Any, **kwargs: Any) -> int:
    """:func:`place_labels`, and where labels are left out, a note saying how many:
    ``note(text)`` sets it (e.g. a footnote); the labels are then placed again on the
    layout with the note, and the note states the final count. Returns that count."""
    left_out, drawn = place_labels(ax, *args, **kwargs)
    if left_out:
        for artist in drawn:
            artist.remove()
        text = note(f"{left_out} config(s) unlabelled for lack of room (the box plot names every config)")
        left_out, _ = place_labels(ax, *args, **kwargs)
        text.set_text(f"{left_out} config(s) unlabelled for lack of room (the box plot names every config)")
    return left_out


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
