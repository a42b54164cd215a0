"""``python -m harness report``: a results store's analysis, rendered.

Orchestration only: the store's readers (:func:`harness.store.load_all`), the
analysis (:func:`harness.analysis.analyse`) and the renderer
(:func:`harness.render.report.render`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from harness.analysis.stats import ALPHA, MIN_EFFECT
from harness.analysis.summary import analyse
from harness.errors import UsageError
from harness.render.report import render

__all__ = ["render_report"]


def render_report(
    db_path: str | Path,
    fmt: Literal["text", "md"] = "text",
    alpha: float = ALPHA,
    *,
    min_effect: float = MIN_EFFECT,
    rank: str = "warm",
) -> str:
    """The report of a results store as text (aligned columns) or Markdown, ranking
    ``rank`` fits (warm or cold) with THE verdict rule at ``alpha`` and ``min_effect``."""
    from harness.store import load_all

    if fmt not in ("text", "md"):
        raise UsageError(f"fmt={fmt!r} is not allowed; choose 'text' or 'md'.")
    fits, tasks, runs = load_all(db_path)
    return render(analyse(fits, tasks, alpha=alpha, min_effect=min_effect, rank=rank), fmt=fmt, runs=runs, fits=fits)
