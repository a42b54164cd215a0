"""``python -m harness report``: a results store's analysis, rendered.

Orchestration only (a store measured on several machine types gets one report per
type, text and Markdown): the store's readers (:func:`harness.store.load_all`), the
analysis (:func:`harness.analysis.analyse`) and the renderers
(:func:`harness.render.report.render` for text and Markdown,
:func:`harness.render.html.render_html` for the self-contained HTML page).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from harness.analysis.stats import ALPHA, MIN_EFFECT
from harness.analysis.summary import analyse
from harness.errors import UsageError
from harness.render.report import render

__all__ = ["FORMATS", "render_report"]

#: The report's formats, as ``--format`` takes them.
FORMATS = ("text", "md", "html")


def render_report(
    db_path: str | Path,
    fmt: Literal["text", "md", "html"] = "text",
    alpha: float = ALPHA,
    *,
    min_effect: float = MIN_EFFECT,
    rank: str = "warm",
    scenario_id: str | None = None,
    phase: str = "fit",
) -> str:
    """The report of a results store as text (aligned columns), Markdown or an HTML page,
    ranking ``rank`` fits (warm or cold) with THE verdict rule at ``alpha`` and ``min_effect``;
    only the workload ``scenario_id`` when given. ``phase`` "predict": the predict trials
    (:mod:`harness.render.predict`), text or Markdown."""
    from harness.store import load_all

    if fmt not in FORMATS:
        raise UsageError(f"fmt={fmt!r} is not allowed; choose one of {', '.join(map(repr, FORMATS))}.")
    if phase == "predict":
        return _predict_report(db_path, fmt, alpha, min_effect, rank, scenario_id)
    fits, tasks, runs = load_all(db_path)
    if scenario_id is not None:
        fits, tasks = fits[fits["scenario_id"] == scenario_id], tasks[tasks["scenario_id"] == scenario_id]
    machines = sorted(fits["machine"].dropna().unique()) if "machine" in fits else []
    if fmt != "html" and len(machines) > 1:  # a cluster of several machine types: one report each
        from harness.render.tables import heading

        parts = []
        for machine in machines:
            mine = fits[fits["machine"] == machine]
            theirs = tasks[tasks["trial_id"].isin(mine["trial_id"])]
            analyses = analyse(mine, theirs, alpha=alpha, min_effect=min_effect, rank=rank)
            parts.append("\n".join(heading(f"Machine type: {machine}", 1, fmt)) + render(analyses, fmt=fmt, runs=runs, fits=mine))
        return "\n\n".join(parts)
    analyses = analyse(fits, tasks, alpha=alpha, min_effect=min_effect, rank=rank)
    if fmt == "html":
        from harness.analysis.compare import compare
        from harness.render.html import render_html

        return render_html(analyses, fits, tasks, runs, engines=compare(fits, tasks, alpha=alpha, min_effect=min_effect, rank=rank))
    text = render(analyses, fmt=fmt, runs=runs, fits=fits)
    if not analyses:
        from harness.store import load_fits

        if not load_fits(db_path, phase="predict").empty:
            text += "This store holds predict trials: python -m harness report --phase predict\n"
    return text


def _predict_report(db_path: str | Path, fmt: str, alpha: float, min_effect: float, rank: str,
                    scenario_id: str | None) -> str:
    from harness.analysis.predict import analyse_predict
    from harness.render.predict import render_predict_report
    from harness.store import load_fits

    if fmt == "html":
        raise UsageError("--phase predict: the report is text or md (--format html is the fit phase's page)")
    fits = load_fits(db_path, phase="predict")
    if scenario_id is not None:
        fits = fits[fits["scenario_id"] == scenario_id]
    groups = analyse_predict(fits, alpha=alpha, min_effect=min_effect, rank=rank)
    return render_predict_report(groups, fmt, alpha=alpha, min_effect=min_effect, rank=rank)
