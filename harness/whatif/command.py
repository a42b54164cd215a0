"""``python -m harness whatif``: predicted walls on machines you do not have, from a store's traces.

Reads the store once, builds each workload's cost model (:mod:`.costs`), takes this
machine's pool costs (:mod:`.calibrate`), predicts every config of the grid on each
``--cores`` P (:mod:`.predict`) and prints, per workload and engine, the predicted
table (the best configs, the serial reference and the library default) and the
predicted best config per core count; ``--json`` writes every prediction, ``--plot``
the figure (:mod:`harness.plots.whatif`). Every figure says it is predicted.
:func:`predicted_best` is what ``recommend --predicted`` and ``tune
--seed-from-whatif`` use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from harness.errors import NoData, UsageError
from harness.render.tables import format_table, seconds
from harness.whatif.calibrate import pool_costs
from harness.whatif.costs import CostModel, cost_model
from harness.whatif.predict import Prediction, predict_workload

__all__ = ["predicted_best", "predictions", "render_predicted_recommendation", "run_whatif"]

#: Configs shown per core count in the text table (JSON has every one).
TOP = 5


def _scenario_ids(fits, text: str | None) -> list[str]:
    ids = sorted(set(fits["scenario_id"]))
    if text is None:
        return ids
    matches = [i for i in ids if i.startswith(text)]
    if len(matches) == 1 or text in matches:
        return [text if text in matches else matches[0]]
    if not matches:
        raise UsageError(f"--scenario {text!r} matches no workload of the store; its workloads: {', '.join(ids) or 'none'}")
    raise UsageError(f"--scenario {text!r} is ambiguous: {', '.join(matches)}")


def predictions(
    db: Path, scenario: str | None, cores: Sequence[int], engines: Sequence[str], recalibrate: bool = False
) -> tuple[list[CostModel], list[Prediction]]:
    """Cost models and predictions of the store's workloads (one with ``scenario``)."""
    from harness.store import load_fits, load_tasks

    fits, tasks = load_fits(db), load_tasks(db)
    if fits.empty:
        raise NoData(f"{db}: no trial recorded; profile first: python -m harness sweep --cores 1 ...")
    ids = _scenario_ids(fits, scenario)
    pools = pool_costs(db, recalibrate)
    models, missing = [], []
    for scenario_id in ids:
        try:
            models.append(cost_model(db, scenario_id, tasks=tasks, fits=fits, binning=pools.binning_s))
        except NoData:
            if scenario is not None:
                raise
            missing.append(scenario_id)
    if not models:
        raise NoData(f"{db}: no workload has a serial task trace ({', '.join(missing)}); profile with --cores 1 first")
    out = [p for m in models for engine in engines for n in cores for p in predict_workload(engine, m, n, pools)]
    return models, out


def predicted_best(db: Path, scenario_id: str, cores: int, engine: str) -> list[Prediction]:
    """The workload's predictions on ``cores``, fastest first."""
    _, preds = predictions(db, scenario_id, [cores], [engine])
    return preds


def render_predicted_recommendation(db: Path, scenario: str, cores: int, engine: str, min_effect: float,
                                    as_json: bool = False) -> str:
    """``recommend --cores P --predicted``: the simplest config predicted within ``min_effect``
    of the predicted best on P cores (the decision's simplicity order; no statistics:
    predictions have no spread), said to be a prediction."""
    from harness.analysis.decision import SIMPLICITY, simplicity_key
    from harness.config import ParallelConfig

    models, preds = predictions(db, scenario, [cores], [engine])
    best = preds[0]
    near = [p for p in preds if p.predicted_warm_s <= best.predicted_warm_s * (1 + min_effect)]
    chosen = min(near, key=lambda p: simplicity_key(ParallelConfig.from_id(p.config_id), cores))
    if as_json:
        return json.dumps({"predicted": True, "engine": engine, "scenario_id": models[0].scenario_id, "cores": cores,
                           "recommended": chosen.to_dict(), "predicted_best": best.to_dict(),
                           "within": [p.config_id for p in near], "min_effect": min_effect}, indent=1)
    return "\n".join([
        f"PREDICTED recommendation (what-if, not measured) | {engine} | {models[0].scenario_id} | {cores} cores",
        f"  recommended: {chosen.config_id}: predicted warm {chosen.predicted_warm_s:.3f} s, predicted cold "
        f"{chosen.predicted_cold_s:.3f} s, predicted {chosen.predicted_speedup:.2f}x serial",
        f"  predicted best: {best.config_id} ({best.predicted_warm_s:.3f} s); {len(near)} config(s) predicted within "
        f"{min_effect:.0%} of it, the simplest chosen ({SIMPLICITY})",
        f"  measure it on the {cores}-core machine before production: python -m harness recommend --scenario "
        f"{models[0].scenario_id} --engine {engine}",
    ])


def _table(preds: list[Prediction], fmt: str) -> str:
    rows = []
    for p in preds:
        rows.append({
            "cores": str(p.cores), "config": p.config_id, "predicted warm s": seconds(p.predicted_warm_s),
            "predicted cold s": seconds(p.predicted_cold_s), "predicted speed-up": f"{p.predicted_speedup:.2f}x",
            "ideal bound s": seconds(p.bound_s), "workers": str(p.workers), "threads/fit": str(p.threads),
            "pool": p.backend,
        })
    return format_table(rows, fmt)


def render(models: list[CostModel], preds: list[Prediction], fmt: str = "text") -> str:
    lines = []
    for m in models:
        for engine in dict.fromkeys(p.engine for p in preds):
            mine = [p for p in preds if p.scenario_id == m.scenario_id and p.engine == engine]
            lines.append(f"PREDICTED (what-if, not measured) | {engine} | {m.scenario_id}")
            lines.append(
                f"  from the serial traces on {m.profiled_cores} core(s): measured serial wall {m.serial_wall_s:.3f} s,"
                f" glue {m.glue_s:.3f} s; thread scaling (Amdahl, serial fraction per model kind: "
                + ", ".join(f"{k} {v:.2f}" for k, v in m.serial_fractions.items()) + f"; {m.scaling_note})"
                + ("" if engine == "core" else
                   f"; package fits = core's x {m.package_factor:.2f} (measured serial walls)" if m.package_factor
                   else "; package serial not measured: its fits taken as the core engine's")
            )
            shown = []
            for n in dict.fromkeys(p.cores for p in mine):
                on_n = [p for p in mine if p.cores == n]
                keep = {p.config_id for p in on_n[:TOP]} | {"m1-f1-s1-loky", "default"}
                shown += [p for p in on_n if p.config_id in keep]
            lines += [_table(shown, fmt), ""]
            for n in dict.fromkeys(p.cores for p in mine):
                best = min((p for p in mine if p.cores == n), key=lambda p: p.predicted_warm_s)
                lines.append(
                    f"  predicted best on {n} cores: {best.config_id} (predicted warm {best.predicted_warm_s:.3f} s,"
                    f" predicted {best.predicted_speedup:.2f}x serial; ideal bound {best.bound_s:.3f} s)"
                )
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def run_whatif(
    db: Path, scenario: str | None, cores: Sequence[int], engines: Sequence[str], plot: Path | None = None,
    json_out: Path | None = None, recalibrate: bool = False,
) -> str:
    """Predict, print-ready text; ``json_out``/``plot`` written when given (the caller says so)."""
    models, preds = predictions(db, scenario, cores, engines, recalibrate)
    if json_out is not None:
        payload = {"predicted": True, "note": "every figure is a prediction of the what-if replay, not a measurement",
                   "predictions": [p.to_dict() for p in preds]}
        json_out.write_text(json.dumps(payload, indent=1))
    if plot is not None:
        from harness.plots.whatif import plot_whatif

        plot_whatif(preds, plot)
    return render(models, preds)
