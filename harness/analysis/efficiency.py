"""Sweep efficiency: which share of a run's wall was spent inside measured (warm) fits.

The rest of a trial is process start-up and imports, data loading, the cold first fit
and bookkeeping; more warm values per trial raise the share (the rest is paid once per
trial). A sweep writes the figure into its run's manifest when it finishes
(``manifest["sweep"]["efficiency"]``, measured over its own wall);
:func:`run_efficiency` reads it from there, and for runs without it (older sweeps,
tune, recommend) estimates it from the store: the run's warm fit seconds over its
start-to-finish wall.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from harness.analysis.samples import cold_fits, warm_fits

__all__ = ["run_efficiency"]


def _seconds(start: Any, end: Any) -> float | None:
    try:
        return (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()
    except (TypeError, ValueError):
        return None


def run_efficiency(runs: pd.DataFrame | None, fits: pd.DataFrame) -> pd.DataFrame:
    """One row per finished run: run_id, wall_s, warm_fit_s, cold_fit_s, efficiency
    (warm_fit_s / wall_s) and source ("manifest" or "store")."""
    columns = ["run_id", "wall_s", "warm_fit_s", "cold_fit_s", "efficiency", "source"]
    if runs is None or runs.empty:
        return pd.DataFrame(columns=columns)
    warm = warm_fits(fits).groupby("run_id")["wall_s"].sum() if not fits.empty else pd.Series(dtype=float)
    cold = cold_fits(fits).groupby("run_id")["wall_s"].sum() if not fits.empty else pd.Series(dtype=float)
    rows = []
    for _, run in runs.iterrows():
        manifest = run.get("manifest") if isinstance(run.get("manifest"), dict) else {}
        sweep = manifest.get("sweep") or {}
        if sweep.get("efficiency") is not None:
            rows.append({"run_id": run["run_id"], "wall_s": sweep.get("wall_s"), "warm_fit_s": sweep.get("warm_fit_s"),
                         "cold_fit_s": sweep.get("cold_fit_s"), "efficiency": sweep["efficiency"], "source": "manifest"})
            continue
        wall = _seconds(run.get("started_at"), run.get("finished_at")) if run.get("finished_at") else None
        if not wall or wall <= 0:
            continue
        w, c = float(warm.get(run["run_id"], 0.0)), float(cold.get(run["run_id"], 0.0))
        rows.append({"run_id": run["run_id"], "wall_s": wall, "warm_fit_s": w, "cold_fit_s": c,
                     "efficiency": w / wall, "source": "store"})
    return pd.DataFrame(rows, columns=columns)
