"""``python -m harness recommend --phase predict``: the predict call to paste, per batch size.

From the store's predict trials of one scenario (``sweep --phase predict``), per batch
size (``--batch``, else every stored one): the core configs THE rule calls
"fastest" or "tied" (:mod:`harness.analysis.predict`), and of those the simplest to
write (serial, then ``"auto"``, then the models' own threads, then workers with the
default split, another split, an explicit backend); its figures and speed-ups, and
the paste-ready call (:func:`harness.render.snippet.predict_snippet`). It decides on
the stored measurements (no re-measurement: the predict sweep interleaves every
config already; more ``--repeats`` there tighten the verdicts).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analysis.predict import CORE, PredictCell, PredictGroup, analyse_predict
from harness.analysis.stats import ALPHA, FASTEST, MIN_EFFECT, TIED, TOO_FEW
from harness.errors import NoData
from harness.predict_config import PredictConfig
from harness.render.snippet import predict_snippet

__all__ = ["PredictRecommendation", "recommend_predict", "render_predict_json", "render_predict_text"]


def simplicity(config_id: str) -> tuple:
    """Lower is simpler to write: serial < auto < model threads < workers (both < other
    split) < an explicit backend."""
    c = PredictConfig.from_id(config_id)
    if not c.has_pool:
        return (0 if c.is_serial else 2, config_id)
    if c.is_auto:
        return (1, config_id)
    return (3 + (c.split != "both") + 2 * (c.backend is not None), config_id)


@dataclass(frozen=True)
class PredictRecommendation:
    scenario_id: str
    batch_rows: int
    mode: str
    chosen: PredictCell
    fastest: PredictCell
    tied: list[str]
    snippet: str
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        cell = lambda c: {  # noqa: E731
            "config": c.config_id, "verdict": c.verdict, "trials": c.trials, "wall_s": c.wall_s,
            "rows_per_s": c.rows_per_s, "latency_median_s": c.latency_median_s, "latency_p99_s": c.latency_p99_s,
            "vs_serial": c.vs_serial, "vs_package": c.vs_package,
        }
        clean = lambda d: {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}  # noqa: E731
        return {"scenario_id": self.scenario_id, "batch_rows": self.batch_rows, "mode": self.mode,
                "recommended": clean(cell(self.chosen)), "fastest": clean(cell(self.fastest)),
                "tied": self.tied, "snippet": self.snippet, "note": self.note}


def _decide(group: PredictGroup, alpha: float) -> PredictRecommendation | None:
    fastest = group.fastest
    if fastest is None:
        return None
    core = [c for c in group.cells if c.engine == CORE]
    candidates = [c for c in core if c.verdict in (FASTEST, TIED)]
    chosen = min(candidates, key=lambda c: simplicity(c.config_id))
    note = None
    if any(c.verdict == TOO_FEW for c in core):
        note = "too few trials on a side for the test (need 2 or more): the fastest is shown; measure more --repeats"
    return PredictRecommendation(group.scenario_id, group.batch_rows, group.mode, chosen, fastest,
                                 [c.config_id for c in candidates if c is not chosen and c.verdict == TIED],
                                 predict_snippet(PredictConfig.from_id(chosen.config_id)), note)


def recommend_predict(db: str | Path, scenario_id: str, batches: list[int] | None = None, *, alpha: float = ALPHA,
                      min_effect: float = MIN_EFFECT, rank: str = "warm") -> list[PredictRecommendation]:
    """One recommendation per batch size of the scenario's stored predict trials."""
    from harness.store import load_fits

    fits = load_fits(db, phase="predict")
    fits = fits[fits["scenario_id"] == scenario_id]
    if batches:
        missing = sorted(set(batches) - set(int(b) for b in fits["batch_rows"].dropna().unique()))
        if missing:
            raise NoData(f"{db}: no predict trials of {scenario_id} on batches of {', '.join(map(str, missing))} rows; "
                         f"measure them: python -m harness sweep --phase predict --batch {','.join(map(str, batches))}")
        fits = fits[fits["batch_rows"].isin(batches)]
    groups = analyse_predict(fits, alpha=alpha, min_effect=min_effect, rank=rank)
    recs = [r for r in (_decide(g, alpha) for g in sorted(groups, key=lambda g: g.batch_rows)) if r is not None]
    if not recs:
        raise NoData(f"{db}: no core predict trials of {scenario_id}; measure them first: "
                     "python -m harness sweep --phase predict (--batch 1,100,10000)")
    return recs


def _figure(rec: PredictRecommendation, c: PredictCell) -> str:
    if rec.mode == "throughput":
        return f"{c.rows_per_s:,.0f} rows/s"
    return f"median {c.latency_median_s * 1000:.3f} ms, p99 {c.latency_p99_s * 1000:.3f} ms per call"


def _times(value: float, what: str) -> str:
    return f"{value:.2f}x {what}" if math.isfinite(value) else f"{what}: not measured"


def render_predict_text(recs: list[PredictRecommendation]) -> str:
    lines = [f"Predict recommendation for {recs[0].scenario_id} (core engine; out-of-sample mean, decided on the stored trials)"]
    for rec in recs:
        c = rec.chosen
        lines += [
            "",
            f"batch of {rec.batch_rows:,} rows ({rec.mode}): {c.config_id} -- {_figure(rec, c)}; "
            f"{_times(c.vs_serial, 'the serial reference')}, {_times(c.vs_package, 'the package')}",
        ]
        if c is not rec.fastest:
            lines.append(f"  the simplest config tied with the fastest ({rec.fastest.config_id}: {_figure(rec, rec.fastest)})")
        if rec.tied:
            lines.append(f"  also tied: {', '.join(rec.tied)}")
        if rec.note:
            lines.append(f"  note: {rec.note}")
        lines += ["", *("    " + line for line in rec.snippet.splitlines())]
    return "\n".join(lines)


def render_predict_json(recs: list[PredictRecommendation]) -> str:
    return json.dumps([r.to_dict() for r in recs], indent=2)
