"""Benchmark: does ``tune`` with at most half the grid find the sweep's best split?

    python -m tests.benchmarks.tune_vs_sweep --sweep-db results/harness.db --preset default \
        --out results/HOST/tune_vs_sweep.md

For each scenario of the preset that the exhaustive sweep measured: a fresh Optuna
study (``tune``, the sweep's repeats) with a budget of half the sweep's grid, measuring
for real into a COPY of the sweep's database (the sweep's own results stay untouched).
Its pick is then judged against the sweep's fastest config. Same config: done.
Otherwise both are measured again, ``--confirm`` rounds interleaved in random order in
this run (as ``recommend`` does; the sweep's own 2-3 samples a side give a rank test no
power), and a one-sided Mann-Whitney U (alpha 0.05) says tied or slower.
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
from harness.analysis.stats import ALPHA, verdict
from harness.analysis.summary import summarise
from harness.render.tables import format_table
from harness.store import Store, load_fits
from harness.runner import TrialRunner
from harness.tune import PARAM, default_study_name, run_tune, sqlite_url
from scenarios import Scenario, load_preset, sweep_settings


def confirm(scenario: Scenario, engine: str, db: Path, configs: dict[str, ParallelConfig], rounds: int, seed: int) -> dict[str, list[float]]:
    """Warm walls of each config, measured ``rounds`` times interleaved in random order."""
    from harness.manifest import collect_manifest, finish_manifest

    walls: dict[str, list[float]] = {cid: [] for cid in configs}
    rng = random.Random(seed)
    with Store(db) as store:
        manifest = collect_manifest()
        run_id = store.start_run(manifest, "tune_vs_sweep confirm", None)
        measure = TrialRunner(engine, scenario, store, run_id)
        order = list(configs)
        for r in range(rounds):
            rng.shuffle(order)
            for cid in order:
                m = measure(configs[cid])
                walls[cid] += m.walls if m.ok else []
                print(f"  confirm {r + 1}/{rounds} {cid:<22} " + (f"{np.median(m.walls):.4g} s" if m.ok else f"FAILED {m.reason}"))
        store.finish_run(run_id, finish_manifest(manifest))
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep-db", required=True)
    parser.add_argument("--preset", required=True)
    parser.add_argument("--engine", default="core")
    parser.add_argument("--confirm", type=int, default=5, help="interleaved rounds re-measuring pick and best (default 5)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import optuna
    from optuna.trial import TrialState

    fits = load_fits(args.sweep_db)
    fits = fits[fits["engine"] == args.engine]
    settings = sweep_settings(args.preset)
    repeats = settings.get("repeats", 3)
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
            run_tune([scenario], db=db, engine=args.engine, n_trials=budget, repeats=repeats,
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
                walls = confirm(scenario, args.engine, db, configs, args.confirm, seed=i)
                p, judged = verdict(walls[pick], walls[best], ALPHA)  # the harness's one rule
                row |= {
                    "confirmed pick / best": f"{np.median(walls[pick]) / np.median(walls[best]):.3f}",
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
        f"compared with a one-sided Mann-Whitney U (alpha {ALPHA}).",
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
