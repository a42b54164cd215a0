"""The ideal bound: no split of the cores can fit faster than max(work / cores, span).

From the task traces of the serial config's warm fits: work (the sum of base-model
fit durations) and span (the longest fit of each stage, summed: stages run one after
the other), medians over the fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["IdealBound", "ideal_bound", "work_span"]


def work_span(tasks_of_one_fit: pd.DataFrame) -> tuple[float, float]:
    """(work, span) of one fit's trace: the sum of task durations; the longest task
    of each stage, summed over the stages (they run one after the other)."""
    if tasks_of_one_fit.empty:
        return 0.0, 0.0
    duration = tasks_of_one_fit["end_s"] - tasks_of_one_fit["start_s"]
    work = float(duration.sum())
    span = float(duration.groupby(tasks_of_one_fit["stage"]).max().sum())
    return work, span


@dataclass(frozen=True)
class IdealBound:
    """The ideal wall of a fit on ``cores`` from the serial config's traces.

    ``work_s`` and ``span_s`` are medians over the ``n_fits`` warm serial fits;
    ``bound_s = max(work / cores, span)``: no split of the cores can fit faster
    (the serial glue outside the base-model fits not counted).
    """

    work_s: float
    span_s: float
    cores: int
    n_fits: int

    @property
    def bound_s(self) -> float:
        return max(self.work_s / self.cores, self.span_s)

    def wall_with(self, workers: float) -> float:
        """The ideal wall with ``workers`` threads: max(work / workers, span)."""
        return max(self.work_s / max(workers, 1e-12), self.span_s)

    @property
    def max_speedup(self) -> float:
        """work / span: the speed-up no number of cores can beat."""
        return self.work_s / self.span_s if self.span_s > 0 else float("inf")


def ideal_bound(tasks_of_serial: pd.DataFrame, cores: int) -> IdealBound | None:
    """The :class:`IdealBound` from the (warm) task traces of the serial config.

    Each fit (``trial_id``, ``fit_index``) gives a work and a span; their medians
    are used. None without traces.
    """
    if tasks_of_serial is None or tasks_of_serial.empty:
        return None
    per_fit = [work_span(t) for _, t in tasks_of_serial.groupby(["trial_id", "fit_index"])]
    works, spans = zip(*per_fit)
    return IdealBound(float(np.median(works)), float(np.median(spans)), int(cores), len(per_fit))
