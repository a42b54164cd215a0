"""The engines figure: metalearners_core against the metalearners package, per scenario.

For every scenario measured with both engines (:func:`harness.analysis.compare.compare`):
the wall-time ratio metalearners / core of the best configs (best vs best) and of
the library defaults (default vs default), each with its 95% bootstrap interval, on
a log axis (2x faster and 2x slower sit equally far from 1), and the ceiling of the
best-vs-best ratio where core's serial traces give an ideal bound.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, NullFormatter

from harness.analysis.compare import compare
from harness.plots._style import _figure

__all__ = ["compare_figure", "plot_compare"]

COMPARE_DPI = 120


def compare_figure(table: pd.DataFrame) -> Figure:
    """Best-vs-best and default-vs-default ratios per scenario, with intervals (``table``:
    :func:`harness.analysis.compare.compare`'s, not empty)."""
    y = np.arange(len(table))
    fig = _figure(figsize=(11, 1.6 + 0.45 * len(table)))
    ax = fig.add_subplot()
    for offset, key, color in [(-0.15, "best", "tab:blue"), (0.15, "default", "tab:orange")]:
        ratio = table[f"{key}_ratio"]
        err = np.vstack([ratio - table[f"{key}_low"], table[f"{key}_high"] - ratio])
        ax.errorbar(ratio, y + offset, xerr=err, fmt="o", color=color, capsize=3, label=f"{key} vs {key}")
    if table["ceiling"].notna().any():
        ax.scatter(table["ceiling"], y - 0.15, marker="|", s=200, color="tab:blue", alpha=0.5,
                   label="ceiling of best vs best (ideal bound)")
    ax.axvline(1.0, color="black", lw=1)
    ax.set_xscale("log")  # 2x faster and 2x slower sit equally far from 1
    # log axes label only powers of ten and a few minor ticks: label ratios every 0.1 on a
    # narrow range, at 1-2-3-5 steps on a wide one (0.1 steps there overlap each other)
    low, high = ax.get_xlim()
    steps = np.round(np.arange(0.1, 10.0, 0.1), 1) if high / low < 2.5 else [
        0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 7, 10, 15, 20, 30, 50]
    ax.set_xticks([t for t in steps if low <= t <= high])
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yticks(y, table["scenario_id"], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("median wall ratio, metalearners / metalearners_core (log scale; > 1: core is faster; 95% bootstrap CI)")
    ax.set_title("metalearners_core vs metalearners: same data, models and configs")
    fig.legend(loc="outside lower center", ncols=3, fontsize=8)  # below: never over a point
    return fig


def plot_compare(db_path: str | Path, out: Path) -> Path | None:
    """The engines figure of a results store as a PNG at ``out``; None when no
    scenario was measured with both engines."""
    from harness.store import load_all

    fits, tasks, _ = load_all(db_path)
    table = compare(fits, tasks)
    if table.empty:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    compare_figure(table).savefig(out, dpi=COMPARE_DPI)
    return out
