"""Benchmark: does ``tune`` with at most half the grid find the sweep's best split?

    python -m tests.benchmarks.tune_vs_sweep --sweep-db results/harness.db --preset default \
        --out results/HOST/tune_vs_sweep.md

For each scenario of the preset that the exhaustive sweep measured: a fresh Optuna
study (``tune``, the sweep's repeats) with a budget of half the sweep's grid, measuring
for real into a COPY of the sweep's database (the sweep's own results stay untouched).
Its pick is then judged against the sweep's fastest config. Same config: done.
Otherwise both are measured again, ``--confirm`` rounds interleaved in random order in
this run (as ``recommend`` does), and THE rule (:func:`harness.analysis.stats.verdict`:
two-sided Welch t on per-trial means, alpha 0.05, and the practical threshold
``--min-effect``) says tied or slower.
Not a test: it measures, and takes minutes. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np

from harness.config import ParallelConfig
from harness.analysis.samples import config_from_row, warm_fits
from harness.analysis.stats import ALPHA, MIN_EFFECT, design_note, verdict
from harness.analysis.summary import summarise
from harness.render.tables import format_table
from harness.store import Store, load_fits
from harness.runner import TrialRunner
from harness.tune import PARAM, default_study_name, run_tune, sqlite_url
from scenarios import Scenario, load_preset, sweep_settings


def confirm(scenario: Scenario, engine: str, db: Path, configs: dict[str, ParallelConfig], rounds: int, seed: int,
            values: int) -> dict[str, list[list[float]]]:
    """Warm walls of each config per trial, measured ``rounds`` times interleaved in random order."""
    from harness.manifest import collect_manifest, finish_manifest

    walls: dict[str, list[list[float]]] = {cid: [] for cid in configs}
    rng = random.Random(seed)
    with Store(db) as store:
        manifest = collect_manifest()
        run_id = store.start_run(manifest, "tune_vs_sweep confirm", None)
        measure = TrialRunner(engine, scenario, store, run_id, values=values)
        order = list(configs)
        for r in range(rounds):
            rng.shuffle(order)
            for cid in order:
                m = measure(configs[cid])
                if m.ok:
                    walls[cid].append(list(m.walls))
                print(f"  confirm {r + 1}/{rounds} {cid:<22} " + (f"{np.median(m.walls):.4g} s" if m.ok else f"FAILED {m.reason}"))
        store.finish_run(run_id, finish_manifest(manifest))
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.tune_vs_sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--sweep-db", required=True)
    parser.add_argument("--preset", required=True)
    parser.add_argument("--engine", default="core")
    parser.add_argument("--confirm", type=int, default=5, help="interleaved rounds re-measuring pick and best (default 5)")
    parser.add_argument("--min-effect", type=float, default=MIN_EFFECT, help=f"practical threshold of THE rule (default {MIN_EFFECT:g})")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import optuna
    from optuna.trial import TrialState

    fits = load_fits(args.sweep_db)
    fits = fits[fits["engine"] == args.engine]
    settings = sweep_settings(args.preset)
    repeats = settings.get("repeats", 3)
    values = settings.get("values", 2)
    backends = tuple(settings.get("backends", ("loky", "threading")))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "tune.db"
        shutil.copy(args.sweep_db, db)
        for i, scenario in enumerate(load_preset(args.preset)):
            swept = fits[fits["scenario_id"] == scenario.id]
            if swept.empty:
                print(f"skip {scenario.id}: not in the sweep")
                continue
            table = summarise(swept)
            grid = len(table)
            budget = grid // 2
            run_tune([scenario], db=db, engine=args.engine, n_trials=budget, repeats=repeats, values=values,
                     min_effect=args.min_effect,
                     levels=settings.get("levels"), backends=backends)
            study = optuna.load_study(study_name=default_study_name(args.engine, scenario.id), storage=sqlite_url(db))
            trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
            n_baselines = sum(bool(t.user_attrs.get("baseline")) for t in trials)
            pick = study.best_trial.params[PARAM]
            best = table.iloc[0]["config_id"]
            warm = warm_fits(swept)
            swept_median = lambda cid: float(np.median(warm.loc[warm["config_id"] == cid, "wall_s"]))  # noqa: E731
            row = {
                "scenario": scenario.id,
                "grid": str(grid),
                "tune trials (baselines)": f"{len(trials)} ({n_baselines})",
                "sweep best": f"{best} ({swept_median(best):.3f} s)",
                "tune pick": f"{pick} ({swept_median(pick):.3f} s in the sweep)",
            }
            if pick == best:
                row |= {"confirmed pick / best": "1", "p (pick slower)": "-", "verdict": "same config"}
            else:
                configs = {cid: config_from_row(swept[swept["config_id"] == cid].iloc[0]) for cid in (pick, best)}
                walls = confirm(scenario, args.engine, db, configs, args.confirm, seed=i, values=values)
                p, _, judged = verdict(walls[pick], walls[best], ALPHA, args.min_effect)  # the harness's one rule
                pooled = {cid: np.concatenate([np.asarray(t) for t in walls[cid]]) for cid in walls}
                row |= {
                    "confirmed pick / best": f"{np.median(pooled[pick]) / np.median(pooled[best]):.3f}",
                    "p (pick slower)": f"{p:.3f}",
                    "verdict": judged,
                }
            rows.append(row)
    tied = sum(r["verdict"] in ("tied", "same config") for r in rows)
    text = "\n".join([
        f"# tune (half the grid) vs the exhaustive sweep: preset {args.preset}, engine {args.engine}",
        "",
        f"Each study searched from scratch with a budget of half the sweep's configs (grid // 2 trials, "
        f"the enqueued baselines included) and {repeats} repeat(s) per config. Where its pick differs from "
        f"the sweep's fastest, both were re-measured {args.confirm} times interleaved in random order and "
        f"judged by THE rule. {design_note(ALPHA, args.min_effect)}",
        "",
        format_table(rows, "md"),
        "",
        f"Tied with the sweep's best (or the same config) on {tied} of {len(rows)} scenarios.",
    ])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
