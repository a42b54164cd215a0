"""The CPU-vs-wall Pareto front: configs no other config beats in both wall and CPU time."""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["pareto_front"]


def pareto_front(table: pd.DataFrame) -> pd.DataFrame:
    """Configs no other config beats in both wall and CPU time (sorted by wall)."""
    t = table.dropna(subset=["wall_median", "cpu_median"]).sort_values(["wall_median", "cpu_median"])
    front, best_cpu = [], math.inf
    for idx, r in t.iterrows():
        if r["cpu_median"] < best_cpu:
            front.append(idx)
            best_cpu = r["cpu_median"]
    return t.loc[front]
