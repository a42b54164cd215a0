"""The report as text (aligned columns) or Markdown: one section per workload, a summary.

Rendering only: the numbers come from :func:`harness.analysis.summary.analyse`; the
sentence on the design and the test from :func:`harness.analysis.stats.design_note`;
the sweep efficiency from :func:`harness.analysis.efficiency.run_efficiency`. The
pieces (table rows, facts, verdict sentences, summary rows, run lines) are public so
that the HTML page (:mod:`harness.render.html`) says exactly what this report says.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from harness.analysis.efficiency import run_efficiency
from harness.analysis.stats import FASTEST, TIED, TOO_FEW, design_note, too_few_note
from harness.analysis.summary import ScenarioAnalysis, winners
from harness.render.tables import format_table, heading, num, pct, prose, seconds, wrap

__all__ = [
    "INTRO", "SUMMARY_LEGEND", "TITLE", "config_rows", "failure_rows", "intro", "render", "run_lines",
    "scenario_facts", "scenario_notes", "summary_rows", "title", "with_interval",
]

SUMMARY_LEGEND = (
    "speed-up vs serial: serial median wall / fastest median wall; vs default: the library "
    "default's median wall / fastest's (both of the ranked kind of fit, with 95% percentile-bootstrap "
    "intervals resampling trials); tied: configs the rule does not call slower than the fastest; "
    "of ideal: ideal bound / fastest wall."
)


def title(rank: str = "warm") -> str:
    return f"Harness report: parallel configs ranked by median {rank} wall time"


def intro(rank: str = "warm") -> str:
    """What is ranked and what every column means."""
    ranked_text = (
        "Ranked: warm fits (fits 2.. of every trial; fit 1, the cold one, is shown as 'cold s' but not ranked). "
        if rank == "warm"
        else "Ranked: cold fits (the first fit of every trial, one per process: what a batch job pays; "
        "'warm s' is shown but not ranked). "
    )
    return (
        ranked_text + "A trial is one fresh process; the statistics count it once. "
        "x fastest: the config's geometric-mean trial wall / the fastest's; "
        "speed-up: serial median wall / config median wall, with a 95% bootstrap interval resampling trials; "
        "CPU eff: serial CPU s / config CPU s "
        "(below 100%: the config burns extra CPU); par eff: speed-up / threads used; "
        "peak MiB: peak memory of the process tree (median)."
    )


TITLE = title("warm")
INTRO = intro("warm")


def with_interval(point: float, low: float, high: float, digits: int = 2, suffix: str = "x") -> str:
    """A ratio with its 95% interval beside it: ``1.87x (1.80-1.95)``; ``-`` without a point."""
    text = num(point, digits, suffix)
    if text == "-" or low is None or high is None or np.isnan(low) or np.isnan(high):
        return text
    return f"{text} ({low:.{digits}f}-{high:.{digits}f})"


def config_rows(a: ScenarioAnalysis) -> list[dict[str, str]]:
    """One row per config of a workload, ranked."""
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
                "trials": str(r["n"]),
                "warm s": seconds(r["warm_median"]),
                "cold s": seconds(r["cold_median"]),
                f"{a.rank} IQR s": f"{seconds(r['wall_q1'])}..{seconds(r['wall_q3'])}" if r["n"] else "-",
                "speed-up (95% CI)": with_interval(r["speedup"], r["speedup_low"], r["speedup_high"]),
                "CPU s": seconds(r["cpu_median"]),
                "CPU eff": pct(r["cpu_eff"]),
                "par eff": pct(r["par_eff"]),
                "peak MiB": num(r["peak_mem_mb"], 0),
                "CATE RMSE": num(r["cate_rmse"], 4) + ("" if r["rmse_ok"] else " !"),
                "x fastest": num(r["effect"], 3),
                "p": num(r["p_value"], 3),
                "vs fastest": verdict,
            }
        )
    return rows


def scenario_facts(a: ScenarioAnalysis) -> list[str]:
    """What was measured: the scenario's fields, the cores, the trials and values."""
    fields = ", ".join(f"{k}={v}" for k, v in a.scenario.items())
    repeats = a.ranked["n"]
    if len(repeats) == 0:
        n_text = "0"
    elif repeats.min() == repeats.max():
        n_text = str(repeats.min())
    else:
        n_text = f"{repeats.min()}-{repeats.max()}"
    per_trial = a.values_per_trial
    values = "" if per_trial is None else f", {per_trial:g} {a.rank} value(s) per trial"
    return [fields, f"cores: {a.cores}; ranked by the median {a.rank} wall; trials per config: {n_text}{values}"]


def scenario_notes(a: ScenarioAnalysis) -> list[str]:
    """The verdict in sentences: the fastest, its speed-up, the ties, the design, the ideal bound."""
    notes = []
    best = a.fastest
    if best is not None:
        notes.append(
            f"Fastest ({a.rank}): {best['config_id']} at {seconds(best['wall_median'])} s "
            f"(median of {best['values']} {a.rank} fits in {best['n']} trials)."
        )
        if a.serial_config is None:
            notes.append("Speed-ups: the serial config m1-f1-s1-* was not measured, so there are none.")
        else:
            notes.append(
                f"Speed-up vs serial {a.serial_config} ({seconds(a.serial_wall_s)} s): "
                f"{with_interval(best['speedup'], best['speedup_low'], best['speedup_high'])} (95% bootstrap interval, trials resampled)."
            )
        tied = a.ranked[a.ranked["verdict"] == TIED]["config_id"].tolist()
        notes.append("Tied with the fastest: " + (", ".join(tied) if tied else "none") + ".")
        too_few = a.ranked[a.ranked["verdict"] == TOO_FEW]["config_id"].tolist()
        if too_few:
            notes.append(f"{', '.join(too_few)}: {too_few_note(a.alpha)}.")
        notes.append(design_note(a.alpha, a.min_effect, a.rank))
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
    """One row per scenario: its fastest config, speed-ups with intervals, ties, share of the ideal."""
    rows = []
    for _, w in winners(analyses).iterrows():
        measured = isinstance(w["fastest"], str)
        rows.append(
            {
                "engine": w["engine"],
                "scenario": w["scenario_id"],
                "cores": str(w["cores"]),
                "fastest": w["fastest"] if measured else "- (no warm fit)",
                "warm s": seconds(w.get("warm_median")),
                "cold s": seconds(w.get("cold_median")),
                "speed-up vs serial (95% CI)": with_interval(w.get("speedup"), w.get("speedup_low"), w.get("speedup_high")),
                "vs default (95% CI)": with_interval(w.get("vs_default"), w.get("vs_default_low"), w.get("vs_default_high")),
                "tied": str(int(w["n_tied"])) if measured else "-",
                "of ideal": pct(w.get("bound_reached")),
            }
        )
    return rows


def _summary_section(analyses: list[ScenarioAnalysis], fmt: str) -> list[str]:
    out = heading("Summary: the fastest config per scenario", 2, fmt)
    out.append(format_table(summary_rows(analyses), fmt))
    return out + ["", SUMMARY_LEGEND]


def run_lines(runs: pd.DataFrame | None, fits: pd.DataFrame | None = None) -> list[str]:
    """One line per run: its preset, start and end, the machine, the versions, the sweep's efficiency."""
    if runs is None or runs.empty:
        return []
    out = []
    efficiency = run_efficiency(runs, fits if fits is not None else pd.DataFrame()).set_index("run_id")
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
        sweep = manifest.get("sweep") or {}
        if sweep.get("repeats"):
            machine.append(f"{sweep['repeats']} trials per config x {sweep.get('values', 1)} warm value(s) per trial")
        e = efficiency.loc[run.get("run_id")] if run.get("run_id") in efficiency.index else None
        if e is not None and 0 < e["efficiency"] <= 1:  # above 1: clocks that disagree, not a figure
            machine.append(
                f"efficiency {pct(e['efficiency'])} of the wall inside measured warm fits "
                f"({seconds(e['warm_fit_s'])} of {seconds(e['wall_s'])} s"
                + (", estimated from the store" if e["source"] == "store" else "") + ")"
            )
        out.append(
            f"run {run.get('run_id')}: preset {run.get('preset')}, {run.get('started_at')} -> {finished}"
            + (f"; {', '.join(machine)}" if machine else "")
        )
    return out


def _runs_section(runs: pd.DataFrame | None, fits: pd.DataFrame | None) -> list[str]:
    lines = run_lines(runs, fits)
    return [f"- {line}" for line in lines] + [""] if lines else []


def render(
    analyses: list[ScenarioAnalysis],
    fmt: Literal["text", "md"] = "text",
    runs: pd.DataFrame | None = None,
    fits: pd.DataFrame | None = None,
) -> str:
    """The report for these analyses (see :func:`analyse`); ``fits`` lets the runs
    section estimate the efficiency of runs whose manifest lacks it."""
    if fmt not in ("text", "md"):
        raise ValueError(f"fmt={fmt!r} is not allowed; choose 'text' or 'md'.")
    rank = analyses[0].rank if analyses else "warm"
    out = heading(title(rank), 1, fmt)
    out += _runs_section(runs, fits)
    out += [intro(rank), ""]
    if not analyses:
        out.append("No fits in this store.")
        return "\n".join(out) + "\n"
    for a in analyses:
        out += _scenario_section(a, fmt)
    out += _summary_section(analyses, fmt)
    text = "\n".join(out).rstrip() + "\n"
    return text if fmt == "md" else wrap(text)
