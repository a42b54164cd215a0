"""The timeline: one warm fit per config as a Gantt chart of its base-model fits on their workers.

Per config its median-wall warm fit that has a task trace; each bar is one
base-model fit on the process / thread that ran it, coloured by model kind (hatched:
the treatment stage), above a band of the load (threads busy / cores). Needs task
traces, so the core engine only. Fed by a
:class:`~harness.analysis.summary.ScenarioAnalysis`, the fits and the task traces.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from harness.analysis.samples import is_serial, warm_fits
from harness.analysis.summary import ScenarioAnalysis
from harness.plots._style import LOAD_COLOR, STAGE_HATCH, _figure, _no_data, _suptitle

__all__ = ["timeline_figure"]


def _median_fit(warm: pd.DataFrame) -> pd.Series:
    ordered = warm.sort_values("wall_s")
    return ordered.iloc[(len(ordered) - 1) // 2]


def _pick_fits(a: ScenarioAnalysis, fits: pd.DataFrame, tasks: pd.DataFrame, max_configs: int) -> list[tuple]:
    """Per config (ranked), its warm fit with the median wall that has a trace."""
    warm = warm_fits(fits)
    warm = warm[(warm["engine"] == a.engine) & (warm["scenario_id"] == a.scenario_id)]
    tr = tasks[(tasks["engine"] == a.engine) & (tasks["scenario_id"] == a.scenario_id)] if not tasks.empty else tasks
    chosen = []
    for config_id in a.ranked["config_id"]:
        w = warm[warm["config_id"] == config_id]
        while len(w):
            candidate = _median_fit(w)
            t = tr[(tr["trial_id"] == candidate["trial_id"]) & (tr["fit_index"] == candidate["fit_index"])]
            if len(t):
                chosen.append((config_id, candidate, t))
                break
            w = w.drop(candidate.name)
    if len(chosen) > max_configs:  # the fastest ones, and always the serial and default configs
        must = [c for c in chosen if is_serial(c[0]) or c[0] == "default"]
        rest = [c for c in chosen if c not in must][: max_configs - len(must)]
        chosen = [c for c in chosen if c in rest or c in must]
    return chosen


def timeline_figure(a: ScenarioAnalysis, fits: pd.DataFrame, tasks: pd.DataFrame, max_configs: int = 12) -> Figure:
    """A Gantt chart of one warm fit per config (the one with the median wall).

    Each bar is one base-model fit on its worker (process p / thread t), coloured by
    model kind (hatched: the treatment stage); the time axis is shared, so lengths
    compare across panels, except for configs more than 3x slower than the fastest
    shown (own axis, marked in red). The grey band at the bottom is the load: threads busy /
    cores over time (red where more threads than cores are busy); white gaps are
    idle cores.
    """
    chosen = _pick_fits(a, fits, tasks, max_configs)
    if not chosen:
        fig = _figure(figsize=(8, 3))
        _suptitle(fig, "Timeline of one warm fit per config", a)
        return _no_data(fig, f"no task traces for the {a.engine} engine")

    stage_order = {"nuisance": 0, "treatment": 1}
    kinds = sorted(
        {(s, k) for _, _, t in chosen for s, k in zip(t["stage"], t["model_kind"])},
        key=lambda sk: (stage_order.get(sk[0], 2), sk[0], sk[1]),
    )
    colors = {k: colormaps["tab10"](i % 10) for i, k in enumerate(kinds)}
    ncols = 1 if len(chosen) == 1 else 2 if len(chosen) <= 4 else 3
    nrows = math.ceil(len(chosen) / ncols)
    n_workers = max(len(t.groupby(["pid", "thread"])) for _, _, t in chosen)
    panel_h = 1.0 + 0.2 * (n_workers + 2)
    fig = _figure(figsize=(5.2 * ncols, 1.6 + panel_h * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    # one time axis for all, unless a config is much slower than the fastest: it gets its own
    ends = [float(t["end_s"].max()) for _, _, t in chosen]
    x_shared = min(max(ends), 3.0 * min(ends))
    load_h = 1.3  # the load band is as tall as this many worker rows
    for ax, (config_id, fit, t) in zip(axes.flat, chosen):
        order = t.groupby(["pid", "thread"])["start_s"].min().sort_values()
        pids = list(dict.fromkeys(p for p, _ in order.index))
        n = len(order)
        row_of = {key: n - 1 - i for i, key in enumerate(order.index)}  # first worker on top
        labels = []
        for pid, thread in order.index:
            in_pid = [k for k in order.index if k[0] == pid]
            labels.append(f"p{pids.index(pid) + 1}.t{in_pid.index((pid, thread)) + 1}")
        for r in t.itertuples(index=False):
            y = row_of[(r.pid, r.thread)]
            ax.broken_barh([(r.start_s, r.end_s - r.start_s)], (y + 0.1, 0.8), facecolors=colors[(r.stage, r.model_kind)],
                           edgecolor="white", linewidth=0.4, hatch=STAGE_HATCH.get(r.stage))
        # the load band below the rows: threads busy / cores, 0 at -load_h - 0.2, 100% at -0.2
        edges = np.unique(np.concatenate([t["start_s"].to_numpy(float), t["end_s"].to_numpy(float)]))
        threads = t["model_n_jobs"].fillna(1).to_numpy(float)
        starts, ends = t["start_s"].to_numpy(float), t["end_s"].to_numpy(float)
        busy = np.array([threads[(starts <= e) & (ends > e)].sum() for e in edges])
        load = busy / a.cores
        base = -load_h - 0.2
        ax.fill_between(edges, base, base + np.minimum(load, 1.0) * load_h, step="post", color=LOAD_COLOR, lw=0)
        if (load > 1.0).any():
            ax.fill_between(edges, base, base + np.where(load > 1.0, load_h, 0), step="post", color="#d62728",
                            alpha=0.45, lw=0)
        ax.axhline(-0.2, color="#9a9a9a", lw=0.6, ls=":")
        ax.set_yticks([base + load_h / 2] + [row_of[k] + 0.5 for k in order.index], ["load"] + labels, fontsize=7)
        ax.set_ylim(base - 0.1, n + 0.05)
        busy_share = float(((ends - starts) * threads).sum()) / (float(ends.max()) * a.cores)
        m = sorted({int(x) for x in t["model_n_jobs"].dropna()})
        own = ends.max() > x_shared * 1.001
        ax.set_title(
            f"{config_id}: wall {fit['wall_s']:.3g} s, base models {ends.max():.3g} s, "
            f"cores {busy_share:.0%} busy, {m[0] if len(m) == 1 else m} thr/model"
            + ("\n(slow: its own time axis)" if own else ""),
            fontsize=8, color="#8b0000" if own else "black",
        )
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlim(0, (ends.max() if own else x_shared) * 1.02)
        ax.tick_params(axis="x", labelsize=7)
    for i, ax in enumerate(axes.flat):
        if i >= len(chosen):
            ax.axis("off")
        elif i + ncols >= len(chosen):  # the lowest panel of its column
            ax.set_xlabel("seconds since the fit's first base-model fit", fontsize=8)
    handles = [Patch(facecolor=colors[k], hatch=STAGE_HATCH.get(k[0]), edgecolor="white", label=f"{k[0]}: {k[1]}")
               for k in kinds]
    handles.append(Patch(facecolor=LOAD_COLOR, label=f"load: threads busy / {a.cores} cores (dotted: 100%)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=8)
    _suptitle(
        fig,
        "One warm fit per config (its median-wall fit): each base-model fit on its worker "
        "(p = process, t = thread); gaps = idle",
        a,
    )
    return fig

