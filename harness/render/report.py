"""The report as text (aligned columns) or Markdown: one section per workload, a summary.

Rendering only: the numbers come from :func:`harness.analysis.summary.analyse`; the
sentence on the test from :func:`harness.analysis.stats.power_note`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from harness.analysis.stats import FASTEST, TIED, TOO_FEW, power_note
from harness.analysis.summary import ScenarioAnalysis, winners
from harness.render.tables import format_table, heading, num, pct, prose, seconds, wrap

__all__ = ["render"]


def _config_rows(a: ScenarioAnalysis) -> list[dict[str, str]]:
    rows = []
    for _, r in a.table.iterrows():
        verdict = r["verdict"]
        if verdict == FASTEST:
            verdict = "FASTEST"
        if r["n_failed"]:
            verdict += f" ({r['n_failed']} failed)"
        rows.append(
            {
                "rank": "-" if np.isnan(r["rank"]) else str(int(r["rank"])),
                "config": r["config_id"],
                "threads": str(r["threads"]),
                "n": str(r["n"]),
                "wall s": seconds(r["wall_median"]),
                "IQR s": f"{seconds(r['wall_q1'])}..{seconds(r['wall_q3'])}" if r["n"] else "-",
                "speed-up": num(r["speedup"], 2, "x"),
                "CPU s": seconds(r["cpu_median"]),
                "CPU eff": pct(r["cpu_eff"]),
                "par eff": pct(r["par_eff"]),
                "peak MiB": num(r["peak_mem_mb"], 0),
                "CATE RMSE": num(r["cate_rmse"], 4) + ("" if r["rmse_ok"] else " !"),
                "p": num(r["p_value"], 3),
                "vs fastest": verdict,
            }
        )
    return rows


def _scenario_section(a: ScenarioAnalysis, fmt: str) -> list[str]:
    fields = ", ".join(f"{k}={v}" for k, v in a.scenario.items())
    repeats = a.ranked["n"]
    if len(repeats) == 0:
        n_text = "0"
    elif repeats.min() == repeats.max():
        n_text = str(repeats.min())
    else:
        n_text = f"{repeats.min()}-{repeats.max()}"
    out = heading(f"{a.engine} | {a.scenario_id}", 2, fmt)
    out += prose([fields, f"cores: {a.cores}; repeats: {a.repeats} (warm samples per config: {n_text})"], fmt)
    out.append("")
    out.append("No config has a warm measurement." if a.ranked.empty else format_table(_config_rows(a), fmt))
    out.append("")
    notes = []
    best = a.fastest
    if best is not None:
        notes.append(f"Fastest: {best['config_id']} at {seconds(best['wall_median'])} s (median of {best['n']}).")
        if a.serial_config is None:
            notes.append("Speed-ups: the serial config m1-f1-s1-* was not measured, so there are none.")
        else:
            notes.append(
                f"Speed-up vs serial {a.serial_config} ({seconds(a.serial_wall_s)} s): {num(best['speedup'], 2, 'x')}."
            )
        tied = a.ranked[a.ranked["verdict"] == TIED]["config_id"].tolist()
        notes.append("Tied with the fastest: " + (", ".join(tied) if tied else "none") + ".")
        too_few = a.ranked[a.ranked["verdict"] == TOO_FEW]["config_id"].tolist()
        if too_few:
            notes.append(f"Too few samples to tell from the fastest: {', '.join(too_few)}.")
        notes.append(power_note(int(a.ranked["n"].min()), int(best["n"]), a.alpha))
    if a.bound is not None:
        b = a.bound
        notes.append(
            f"Ideal bound on {a.cores} cores: max(work/cores, span) = max({seconds(b.work_s)}/{a.cores}, "
            f"{seconds(b.span_s)}) = {seconds(b.bound_s)} s (work and span: median of {b.n_fits} warm serial "
            f"fits; max speed-up work/span = {num(b.max_speedup, 2, 'x')})."
        )
        if a.glue_s is not None:
            notes.append(
                f"Serial glue (serial wall - work, outside base-model fits): {seconds(a.glue_s)} s "
                f"({pct(a.glue_s / a.serial_wall_s)} of the serial wall)."
            )
        if a.bound_reached is not None:
            notes.append(
                f"The fastest config reaches {pct(a.bound_reached)} of the ideal "
                f"({seconds(b.bound_s)} s bound vs {seconds(best['wall_median'])} s)."
            )
    else:
        notes.append("Ideal bound: no task traces of the serial config (core engine) to compute it from.")
    if a.evaluate:
        metrics = ", ".join(f"{name} {value:.4g}" for name, value in a.evaluate.items())
        notes.append(f"No true CATE on this data (CATE RMSE '-'); the learner's own out-of-sample evaluate, median of warm fits: {metrics}.")
    notes += [f"Note: {note}." for note in a.notes]
    out += prose(notes, fmt)
    if len(a.failures):
        out += ["", "Failed trials:", ""]
        out.append(
            format_table(
                [
                    {
                        "config": f["config_id"],
                        "repeat": num(f["repeat"], 0),
                        "trial": str(f["trial_id"]),
                        "reason": str(f["reason"]),
                    }
                    for _, f in a.failures.iterrows()
                ],
                fmt,
            )
        )
    out.append("")
    return out


def _summary_section(analyses: list[ScenarioAnalysis], fmt: str) -> list[str]:
    table = winners(analyses)
    out = heading("Summary: the fastest config per scenario", 2, fmt)
    rows = []
    for _, w in table.iterrows():
        measured = isinstance(w["fastest"], str)
        rows.append(
            {
                "engine": w["engine"],
                "scenario": w["scenario_id"],
                "cores": str(w["cores"]),
                "fastest": w["fastest"] if measured else "- (no warm fit)",
                "wall s": seconds(w.get("wall_median")),
                "speed-up vs serial": num(w.get("speedup"), 2, "x"),
                "vs default": num(w.get("vs_default"), 2, "x"),
                "tied": str(int(w["n_tied"])) if measured else "-",
                "of ideal": pct(w.get("bound_reached")),
            }
        )
    out.append(format_table(rows, fmt))
    out += [
        "",
        "speed-up vs serial: serial median wall / fastest median wall; vs default: the library "
        "default's median wall / fastest's; tied: configs the test cannot tell from the fastest; "
        "of ideal: ideal bound / fastest wall.",
    ]
    return out


def _runs_section(runs: pd.DataFrame | None, fmt: str) -> list[str]:
    if runs is None or runs.empty:
        return []
    out = []
    for _, run in runs.iterrows():
        manifest = run.get("manifest") or {}
        if not isinstance(manifest, dict):
            manifest = {}
        machine = [str(manifest[k]) for k in ("hostname", "cpu_model") if manifest.get(k)]
        if manifest.get("cores_available"):
            machine.append(f"{manifest['cores_available']} cores available")
        if manifest.get("python"):
            machine.append(f"Python {manifest['python']}")
        packages = manifest.get("packages") or {}
        machine += [f"{name} {packages[name]}" for name in ("lightgbm", "scikit-learn") if packages.get(name)]
        commit = manifest.get("commit") or manifest.get("git_commit")
        if commit:
            machine.append(f"commit {str(commit)[:10]}" + (" (dirty)" if manifest.get("dirty") or manifest.get("git_dirty") else ""))
        finished = run.get("finished_at") or "unfinished"
        out.append(
            f"- run {run.get('run_id')}: preset {run.get('preset')}, {run.get('started_at')} -> {finished}"
            + (f"; {', '.join(machine)}" if machine else "")
        )
    return out + [""]


def render(
    analyses: list[ScenarioAnalysis],
    fmt: Literal["text", "md"] = "text",
    runs: pd.DataFrame | None = None,
) -> str:
    """The report for these analyses (see :func:`analyse`)."""
    if fmt not in ("text", "md"):
        raise ValueError(f"fmt={fmt!r} is not allowed; choose 'text' or 'md'.")
    title = "Harness report: parallel configs ranked by median warm wall time"
    out = heading(title, 1, fmt)
    out += _runs_section(runs, fmt)
    out += [
        "Warm fits only (fit 0 of every trial is a cold warm-up and is not ranked). "
        "speed-up: serial median wall / config median wall; CPU eff: serial CPU s / config CPU s "
        "(below 100%: the config burns extra CPU); par eff: speed-up / threads used; "
        "peak MiB: peak memory of the process tree (median).",
        "",
    ]
    if not analyses:
        out.append("No fits in this store.")
        return "\n".join(out) + "\n"
    for a in analyses:
        out += _scenario_section(a, fmt)
    out += _summary_section(analyses, fmt)
    text = "\n".join(out).rstrip() + "\n"
    return text if fmt == "md" else wrap(text)
