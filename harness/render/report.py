"""The report as text (aligned columns) or Markdown: one section per workload, a summary.

Rendering only: the numbers come from :func:`harness.analysis.summary.analyse`; the
sentence on the test from :func:`harness.analysis.stats.power_note`. The pieces
(table rows, facts, verdict sentences, summary rows, run lines) are public so that the
HTML page (:mod:`harness.render.html`) says exactly what this report says.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from harness.analysis.stats import FASTEST, TIED, TOO_FEW, power_note
from harness.analysis.summary import ScenarioAnalysis, winners
from harness.render.tables import format_table, heading, num, pct, prose, seconds, wrap

__all__ = [
    "INTRO", "SUMMARY_LEGEND", "TITLE", "config_rows", "failure_rows", "render", "run_lines",
    "scenario_facts", "scenario_notes", "summary_rows",
]

TITLE = "Harness report: parallel configs ranked by median warm wall time"
INTRO = (
    "Warm fits only (fit 0 of every trial is a cold warm-up and is not ranked). "
    "speed-up: serial median wall / config median wall; CPU eff: serial CPU s / config CPU s "
    "(below 100%: the config burns extra CPU); par eff: speed-up / threads used; "
    "peak MiB: peak memory of the process tree (median)."
)
SUMMARY_LEGEND = (
    "speed-up vs serial: serial median wall / fastest median wall; vs default: the library "
    "default's median wall / fastest's; tied: configs the test cannot tell from the fastest; "
    "of ideal: ideal bound / fastest wall."
)


def config_rows(a: ScenarioAnalysis) -> list[dict[str, str]]:
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
                "config": r["config_id"] + (" *" if r.get("oversubscribed") else ""),  # footnote: analysis notes
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


def scenario_facts(a: ScenarioAnalysis) -> list[str]:
    """What was measured: the scenario's fields, the cores and the repeats."""
    fields = ", ".join(f"{k}={v}" for k, v in a.scenario.items())
    repeats = a.ranked["n"]
    if len(repeats) == 0:
        n_text = "0"
    elif repeats.min() == repeats.max():
        n_text = str(repeats.min())
    else:
        n_text = f"{repeats.min()}-{repeats.max()}"
    return [fields, f"cores: {a.cores}; repeats: {a.repeats} (warm samples per config: {n_text})"]


def scenario_notes(a: ScenarioAnalysis) -> list[str]:
    """The verdict in sentences: the fastest, its speed-up, the ties, the test's power, the ideal bound."""
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
    notes += [f"Note: {note}." for note in a.notes]
    return notes


def failure_rows(a: ScenarioAnalysis) -> list[dict[str, str]]:
    return [
        {"config": f["config_id"], "repeat": num(f["repeat"], 0), "trial": str(f["trial_id"]), "reason": str(f["reason"])}
        for _, f in a.failures.iterrows()
    ]


def _scenario_section(a: ScenarioAnalysis, fmt: str) -> list[str]:
    out = heading(a.title, 2, fmt)
    out += prose(scenario_facts(a), fmt)
    out.append("")
    out.append("No config has a warm measurement." if a.ranked.empty else format_table(config_rows(a), fmt))
    out.append("")
    out += prose(scenario_notes(a), fmt)
    if len(a.failures):
        out += ["", "Failed trials:", ""]
        out.append(format_table(failure_rows(a), fmt))
    out.append("")
    return out


def summary_rows(analyses: list[ScenarioAnalysis]) -> list[dict[str, str]]:
    """One row per scenario: its fastest config, speed-ups, ties, share of the ideal."""
    table = winners(analyses)
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
    return rows


def _summary_section(analyses: list[ScenarioAnalysis], fmt: str) -> list[str]:
    out = heading("Summary: the fastest config per scenario", 2, fmt)
    out.append(format_table(summary_rows(analyses), fmt))
    return out + ["", SUMMARY_LEGEND]


def run_lines(runs: pd.DataFrame | None) -> list[str]:
    """One line per run: its preset, start and end, the machine and the versions."""
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
            f"run {run.get('run_id')}: preset {run.get('preset')}, {run.get('started_at')} -> {finished}"
            + (f"; {', '.join(machine)}" if machine else "")
        )
    return out


def _runs_section(runs: pd.DataFrame | None, fmt: str) -> list[str]:
    lines = run_lines(runs)
    return [f"- {line}" for line in lines] + [""] if lines else []


def render(
    analyses: list[ScenarioAnalysis],
    fmt: Literal["text", "md"] = "text",
    runs: pd.DataFrame | None = None,
) -> str:
    """The report for these analyses (see :func:`analyse`)."""
    if fmt not in ("text", "md"):
        raise ValueError(f"fmt={fmt!r} is not allowed; choose 'text' or 'md'.")
    out = heading(TITLE, 1, fmt)
    out += _runs_section(runs, fmt)
    out += [INTRO, ""]
    if not analyses:
        out.append("No fits in this store.")
        return "\n".join(out) + "\n"
    for a in analyses:
        out += _scenario_section(a, fmt)
    out += _summary_section(analyses, fmt)
    text = "\n".join(out).rstrip() + "\n"
    return text if fmt == "md" else wrap(text)
