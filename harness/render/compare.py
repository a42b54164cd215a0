"""The engines side by side as a table (text or Markdown): ratios with intervals, the
ceiling, RMSE and each engine's best config, from :func:`harness.analysis.compare.compare`
(which says what every figure means)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from harness.analysis.compare import compare, geometric_mean
from harness.analysis.stats import ALPHA, MIN_EFFECT, TOO_FEW, design_note, too_few_note
from harness.render.hints import follow_up
from harness.render.tables import format_table, seconds

def render_compare(
    db_path: str | Path,
    fmt: Literal["text", "md"] = "text",
    *,
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    rank: str = "warm",
) -> str:
    from harness.store import load_all

    fits, tasks, _ = load_all(db_path)
    table = compare(fits, tasks, alpha=alpha, min_effect=min_effect, rank=rank)
    if table.empty:
        return (
            "No scenario was measured with both engines. Run e.g. `"
            + follow_up("sweep", db=db_path, extra=("--engine", "core,metalearners", "--preset", "smoke"))
            + "`."
        )
    interval = lambda r, k: f"{r[f'{k}_ratio']:.2f} [{r[f'{k}_low']:.2f}, {r[f'{k}_high']:.2f}]"  # noqa: E731
    rows = [
        {
            "scenario": r["scenario_id"],
            "best vs best (95% CI)": interval(r, "best"),
            "verdict": r["best_verdict"],
            "default vs default (95% CI)": interval(r, "default"),
            "default verdict": r["default_verdict"],
            "core best warm/cold s": f"{seconds(r['core_best_warm'])}/{seconds(r['core_best_cold'])}",
            "metalearners best warm/cold s": f"{seconds(r['metalearners_best_warm'])}/{seconds(r['metalearners_best_cold'])}",
            "ceiling": "" if np.isnan(r["ceiling"]) else f"{r['ceiling']:.2f}",
            "CPU ratio": f"{r['cpu_ratio']:.2f}",
            "RMSE core": f"{r['core_rmse']:.4f}",
            "RMSE metalearners": f"{r['metalearners_rmse']:.4f}",
            "core wins with": r["core_best"],
            "metalearners wins with": r["metalearners_best"],
        }
        for _, r in table.iterrows()
    ]
    heading = "## " if fmt == "md" else ""
    lines = [
        f"{heading}metalearners_core vs metalearners: wall-time ratios (metalearners / core; > 1: core is faster)",
        "",
        f"Ranked and compared: {rank} fits. Ratios of median {rank} walls with 95% percentile-bootstrap "
        "intervals resampling trials; CPU ratio of the best configs; verdict: THE rule on the slower "
        "engine's config against the faster's. " + design_note(alpha, min_effect, rank),
        "",
        format_table(rows, fmt),
        "",
        f"Geometric mean, best vs best: {geometric_mean(table['best_ratio']):.2f}; "
        f"default vs default: {geometric_mean(table['default_ratio']):.2f} "
        f"over {len(table)} scenario(s).",
    ]
    too_few = table[(table["best_verdict"] == TOO_FEW) | (table["default_verdict"] == TOO_FEW)]["scenario_id"]
    if len(too_few):
        lines += ["", f"{', '.join(too_few)}: {too_few_note(alpha)}."]
    if table["ceiling"].notna().any():
        lines += [
            "",
            f"Ceiling: metalearners' best wall / the ideal bound max(work/cores, span) of core's "
            f"base-model fits (its serial traces) on {_cores_text(table)}: the best-vs-best ratio no "
            f"schedule of those fits can beat here. "
            f"Geometric mean of the ceilings: {geometric_mean(table['ceiling']):.2f}.",
        ]
    return "\n".join(lines)


def _cores_text(table: pd.DataFrame) -> str:
    cores = sorted(set(int(c) for c in table["cores"]))
    return " / ".join(map(str, cores)) + (" core" if cores == [1] else " cores")
