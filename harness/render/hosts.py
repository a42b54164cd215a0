"""``compare --by host``: the machine types a store was measured on, side by side.

A sweep on a cluster of several machine types answers "which machine" as well as
"which config": per workload (engine + scenario), one column per machine type with
each config's median ranked wall there, its trials, and THE rule's verdict
(:func:`harness.analysis.stats.verdict`) against that machine's fastest config; then
each machine's fastest config and how its median compares with the fastest machine's.
The hosts table first says which hosts (with their CPU, cores, memory) make each type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from harness.analysis.samples import ranked_fits
from harness.analysis.stats import ALPHA, MIN_EFFECT, verdict
from harness.render.tables import format_table, heading, seconds

__all__ = ["render_hosts"]


def render_hosts(
    db_path: str | Path,
    fmt: Literal["text", "md"] = "text",
    *,
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    rank: str = "warm",
) -> str:
    from harness.store import load_fits, load_hosts

    fits, hosts = load_fits(db_path), load_hosts(db_path)
    fits = fits.assign(machine=fits["machine"].fillna("unknown machine"))
    machines = sorted(fits["machine"].unique())
    lines = heading("Machine types side by side", 2, fmt)
    lines.append(f"{len(hosts)} host(s) of {len(machines)} machine type(s); ranked: {rank} fits; "
                 f"verdict: THE rule against the machine's fastest (alpha {alpha:g}, min effect {min_effect:.0%}).")
    lines.append("")
    lines.append(format_table([
        {"host": str(h.hostname), "machine type": str(h.machine or "unknown machine"), "trials": str(h.n_trials),
         "python": str(h.manifest.get("python", "")), "git commit": str(h.manifest.get("git_commit") or "")[:10]}
        for h in hosts.itertuples()
    ], fmt))
    ranked = ranked_fits(fits, rank)
    for (engine, scenario_id), workload in ranked.groupby(["engine", "scenario_id"], sort=True):
        lines += [""] + heading(f"{engine} | {scenario_id}", 3, fmt)
        rows: dict[str, dict[str, str]] = {}
        best: dict[str, tuple[str, float]] = {}
        for machine in machines:
            here = workload[workload["machine"] == machine]
            if here.empty:
                continue
            medians = here.groupby("config_id")["wall_s"].median().sort_values()
            fastest_id = str(medians.index[0])
            best[machine] = (fastest_id, float(medians.iloc[0]))
            fastest = here[here["config_id"] == fastest_id]
            for config_id, median in medians.items():
                samples = here[here["config_id"] == config_id]
                judged = verdict(samples, fastest, alpha, min_effect, is_fastest=config_id == fastest_id)
                rows.setdefault(str(config_id), {"config": str(config_id)})[machine] = (
                    f"{seconds(median)} ({samples['trial_id'].nunique()}) {judged.verdict}"
                )
        table = [{"config": r["config"], **{m: r.get(m, "") for m in best}} for _, r in sorted(rows.items())]
        lines.append(format_table(table, fmt))
        overall = min(best.values(), key=lambda b: b[1])[1]
        lines.append("")
        for machine, (config_id, median) in best.items():
            lines.append(f"- {machine}: fastest {config_id}, {seconds(median)} s"
                         + (" (the fastest machine)" if median == overall else f", x{median / overall:.2f} the fastest machine's"))
    lines += ["", "Cells: median wall (s), trials in parentheses, verdict against the machine's fastest."]
    return "\n".join(lines)
