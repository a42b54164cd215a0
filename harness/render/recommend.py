"""A recommendation as text (what to run, why, the candidates, speed-ups, code) or JSON."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from harness.analysis.decision import SIMPLICITY
from harness.analysis.stats import design_note

if TYPE_CHECKING:  # pragma: no cover
    from harness.recommend import Recommendation

__all__ = ["render_json", "render_text"]


def _fmt_speedup(s: dict[str, Any] | None, label: str) -> str:
    if s is None:
        return f"  {label}: not measured"
    lo, hi = s["ci95"]
    return (
        f"  {label} ({s['baseline']}): {s['ratio']:.2f}x  95% CI [{lo:.2f}, {hi:.2f}]  "
        f"(median {s['baseline_median_s']:.4g} s -> {s['median_s']:.4g} s; {s['n_baseline']} and {s['n']} trials)"
    )


def render_text(rec: Recommendation) -> str:
    d = rec.decision
    lines = [
        f"{rec.engine} | {rec.scenario_id} | {rec.cores} cores",
        f"recommended: {rec.config.id}"
        + (" (the fastest)" if d.recommended == d.fastest else f" (simplest config tied with the fastest, {d.fastest})"),
        f"optimised for: {rec.optimised_for}",
        f"rule: {design_note(d.alpha, d.min_effect, d.rank)}",
        f"simplicity: {SIMPLICITY}",
        "samples (decision and speed-ups): " + rec.samples,
        "",
    ]
    for _, row in d.table.iterrows():
        p = "" if math.isnan(row["p_value"]) else f"p={row['p_value']:.3f}"
        mark = "->" if row["recommended"] else "  "
        effect = "" if math.isnan(row["effect"]) else f"x{row['effect']:.3f}"
        lines.append(
            f"{mark} {row['config_id']:<22} warm {_s(row['warm_median'])}  cold {_s(row['cold_median'])}  "
            f"trials={row['n']:<3} threads {row['threads']:<3} {row['verdict']:<16} {effect:<7} {p}"
        )
    lines += ["", f"expected speed-up (ratio of median {d.rank} walls):"]
    lines.append(_fmt_speedup(rec.speedups.get("vs_serial"), "vs serial"))
    lines.append(_fmt_speedup(rec.speedups.get("vs_default"), "vs library default"))
    lines += ["", "```python", rec.snippet, "```"]
    lines += [f"note: {n}" for n in rec.notes]
    return "\n".join(lines)


def _s(value: float) -> str:
    return "      -  " if value is None or math.isnan(value) else f"{value:7.4f} s"


def render_json(rec: Recommendation) -> str:
    return json.dumps(rec.to_dict(), indent=2, default=str)
