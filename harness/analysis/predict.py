"""The predict trials' analysis: per scenario x batch size, each (engine, predict config)
with its throughput or latency, its verdict against the fastest core config, and its
speed-ups over the serial reference and the metalearners package.

A predict trial's values are batches of ``calls`` predict calls on ``batch_rows``
rows (:mod:`harness.workloads.predict`); a value's ``wall_s`` is the wall of its
batch of calls, the same number of calls for every config of one (scenario, batch),
so the verdicts come from THE rule (:func:`harness.analysis.stats.verdict`) on the
per-trial means of those walls, exactly as for fits. The figures shown: the median
over values of the rows per second (a throughput batch, more than
:data:`~harness.workloads.predict.LATENCY_MAX_ROWS` rows) or of the per-call median
and p99 latency (a latency batch). The serial reference is ``p-serial`` of the core
engine; the package is the metalearners engine's ``p-serial``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np
import pandas as pd

from harness.analysis.samples import ranked_fits
from harness.analysis.stats import ALPHA, FASTEST, MIN_EFFECT, Comparison, trial_means, verdict

__all__ = ["PredictCell", "PredictGroup", "analyse_predict", "is_latency_batch"]

SERIAL_ID = "p-serial"
CORE, PACKAGE = "core", "metalearners"


def is_latency_batch(batch_rows: int) -> bool:
    from harness.workloads.predict import LATENCY_MAX_ROWS

    return batch_rows <= LATENCY_MAX_ROWS


@dataclass(frozen=True)
class PredictCell:
    """One (engine, config) of a (scenario, batch): its figures and comparisons."""

    engine: str
    config_id: str
    trials: int
    wall_s: float  # median wall of one value (a batch of calls)
    rows_per_s: float
    latency_median_s: float
    latency_p99_s: float
    comparison: Comparison  # against the fastest core config (THE rule)
    vs_serial: float  # the serial reference's median wall / this one's (> 1: faster)
    vs_package: float  # the package's median wall / this one's (> 1: faster than the package)

    @property
    def verdict(self) -> str:
        return self.comparison.verdict


@dataclass
class PredictGroup:
    """Every measured (engine, config) of one scenario at one batch size, fastest first."""

    scenario_id: str
    learner: str
    n_rows: int
    batch_rows: int
    cells: list[PredictCell] = field(default_factory=list)
    package_verdict: Comparison | None = None  # the package against core's fastest

    @property
    def mode(self) -> str:
        return "latency" if is_latency_batch(self.batch_rows) else "throughput"

    def cell(self, engine: str, config_id: str) -> PredictCell | None:
        return next((c for c in self.cells if c.engine == engine and c.config_id == config_id), None)

    @property
    def fastest(self) -> PredictCell | None:
        return next((c for c in self.cells if c.engine == CORE and c.verdict == FASTEST), None)


def _median(values: pd.Series) -> float:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.median()) if len(values) else float("nan")


def analyse_predict(
    fits: pd.DataFrame, alpha: float = ALPHA, min_effect: float = MIN_EFFECT, rank: str = "warm"
) -> list[PredictGroup]:
    """The groups of a store's predict values (:func:`harness.store.load_fits` with
    ``phase="predict"``), in the order the scenarios and batch sizes were first stored."""
    values = ranked_fits(fits, rank)
    if values.empty:
        return []
    groups = []
    for (scenario_id, batch), rows in values.groupby(["scenario_id", "batch_rows"], sort=False):
        by_cell = {key: g for key, g in rows.groupby(["engine", "config_id"], sort=False)}
        core = {cid: g for (engine, cid), g in by_cell.items() if engine == CORE}
        # The fastest core config: the lowest mean of per-trial means (the rule's reference).
        fastest_id = min(core, key=lambda cid: float(np.mean(trial_means(core[cid])))) if core else None
        serial, package = by_cell.get((CORE, SERIAL_ID)), by_cell.get((PACKAGE, SERIAL_ID))
        group = PredictGroup(str(scenario_id), str(rows["learner"].iloc[0]), int(rows["n_rows"].iloc[0]), int(batch))
        for (engine, cid), g in by_cell.items():
            wall = _median(g["wall_s"])
            if fastest_id is None:
                comparison = Comparison(float("nan"), float("nan"), "no data")
            else:
                comparison = verdict(g, core[fastest_id], alpha, min_effect,
                                     is_fastest=engine == CORE and cid == fastest_id)
            group.cells.append(PredictCell(
                engine=str(engine), config_id=str(cid), trials=int(g["trial_id"].nunique()), wall_s=wall,
                rows_per_s=_median(g["rows_per_s"]), latency_median_s=_median(g["latency_median_s"]),
                latency_p99_s=_median(g["latency_p99_s"]), comparison=comparison,
                vs_serial=_median(serial["wall_s"]) / wall if serial is not None else float("nan"),
                vs_package=_median(package["wall_s"]) / wall if package is not None else float("nan"),
            ))
        if package is not None and fastest_id is not None:
            group.package_verdict = verdict(package, core[fastest_id], alpha, min_effect)
        group.cells.sort(key=lambda c: (c.wall_s if np.isfinite(c.wall_s) else np.inf, c.engine, c.config_id))
        groups.append(group)
    return groups

