"""The predict phase as text or Markdown: ``report --phase predict`` and ``compare --phase predict``.

One table per scenario x batch size (:func:`harness.analysis.predict.analyse_predict`):
each (engine, predict config) with its throughput (rows/s, large batches) or latency
(median and p99 of one call, small batches), THE rule's verdict against the fastest
core config, and its speed-ups over the serial reference and the package. The
compare table puts core's fastest config beside the package, one row per scenario x
batch size.
"""

from __future__ import annotations

import math
from typing import Any

from harness.analysis.predict import PredictGroup
from harness.analysis.stats import ALPHA, MIN_EFFECT, design_note
from harness.render.tables import format_table, heading, wrap

__all__ = ["render_predict_compare", "render_predict_report"]


def _rate(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:,.0f}"


def _ms(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value * 1000:.3f}"


def _ratio(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.2f}x"


def _figures(group: PredictGroup, cell: Any) -> dict[str, str]:
    if group.mode == "throughput":
        return {"rows/s": _rate(cell.rows_per_s), "call median ms": _ms(cell.latency_median_s)}
    return {"latency median ms": _ms(cell.latency_median_s), "latency p99 ms": _ms(cell.latency_p99_s)}


def _group_table(group: PredictGroup, fmt: str) -> str:
    rows = []
    for c in group.cells:
        rows.append({
            "engine": c.engine,
            "config": c.config_id,
            "trials": str(c.trials),
            **_figures(group, c),
            "wall s / value": f"{c.wall_s:.3f}",
            "vs serial": _ratio(c.vs_serial),
            "vs package": _ratio(c.vs_package),
            "verdict": c.verdict,
        })
    return format_table(rows, fmt)


def render_predict_report(
    groups: list[PredictGroup], fmt: str = "text", *, alpha: float = ALPHA, min_effect: float = MIN_EFFECT, rank: str = "warm"
) -> str:
    """Every (scenario, batch) group as a table, with what the figures are."""
    if not groups:
        return "No predict trials in this store. Run e.g. `python -m harness sweep --phase predict --preset smoke`."
    lines = heading("Predict: how to split the cores for a fitted learner's predict calls", 1, fmt)
    lines += [
        "Each value is a batch of out-of-sample `mean` predict calls on the batch's rows; its wall is the "
        "whole batch (the same number of calls for every config), so the verdict compares those walls: "
        + design_note(alpha, min_effect, rank)
        + " Throughput (rows/s) is shown for batches of more than 1,000 rows, the median and p99 latency "
        "of one call for smaller ones; 'vs serial': p-serial's wall over the config's (core engine), "
        "'vs package': the metalearners package's.",
        "",
    ]
    for g in groups:
        lines += heading(f"{g.scenario_id}: batch of {g.batch_rows:,} rows ({g.mode})", 2, fmt)
        lines += [_group_table(g, fmt), ""]
    text = "\n".join(lines).rstrip() + "\n"
    return text if fmt == "md" else wrap(text)


def render_predict_compare(groups: list[PredictGroup], fmt: str = "text", *, alpha: float = ALPHA,
                           min_effect: float = MIN_EFFECT, rank: str = "warm") -> str:
    """Core's fastest predict config against the package's predict, per scenario x batch."""
    rows = []
    for g in groups:
        best, package = g.fastest, g.cell("metalearners", "p-serial")
        if best is None or package is None:
            continue
        figure = (lambda c: _rate(c.rows_per_s) + " rows/s") if g.mode == "throughput" else (lambda c: _ms(c.latency_median_s) + " ms")
        rows.append({
            "scenario": g.scenario_id,
            "batch": f"{g.batch_rows:,}",
            "core best": best.config_id,
            "core": figure(best),
            "metalearners": figure(package),
            "package / core wall": _ratio(best.vs_package),
            "package verdict": g.package_verdict.verdict if g.package_verdict else "no data",
        })
    if not rows:
        return ("No scenario's predict was measured with both engines. Run e.g. "
                "`python -m harness sweep --phase predict --engine core,metalearners --preset smoke`.")
    lines = heading("metalearners_core vs metalearners: predict (> 1x: core is faster)", 2, fmt)
    lines += [
        "Core's fastest predict config against the package's predict (serial, no n_jobs), the same "
        "out-of-sample `mean` call on the same rows; 'package verdict': THE rule on the package's "
        "walls against core's fastest. " + design_note(alpha, min_effect, rank),
        "",
        format_table(rows, fmt),
    ]
    return "\n".join(lines)
