"""Benchmark: does the what-if predictor, fed 1-core traces, predict this machine's 2-core walls?

    python -m tests.benchmarks.whatif_check [--preset default] [--engine core] \
        --out results/HOST/whatif_check.md [--workdir DIR]

1. Profile, into ``DIR/profile.db``: every scenario of the preset's serial config
   (``m1-f1-s1``) with ``--cores 1`` (the preset's repeats; task durations, glue), and
   the thread scaling of the base-model fits: ``m2-f1-s1`` (the same fits at 2 threads)
   with ``--cores 2``, 2 trials.
2. Predict every config of the 2-core grid from ``profile.db`` alone (:mod:`harness.whatif`).
3. Measure: the preset's sweep with ``--cores 2`` into ``DIR/measured.db`` (same run).
4. Compare per (scenario, config): predicted warm wall / measured median warm wall;
   median and worst |ratio - 1|; and per scenario whether the predicted best config is
   the measured fastest or tied with it by THE rule (:func:`harness.analysis.stats.verdict`,
   as the report computes it).

Runtime (2-core machine, idle; estimated from the last default sweep's ~7 s a trial):
default preset (11 scenarios) ~7 min profiling (11 x (3 serial + 2 two-thread trials))
+ the default 2-core sweep ~30 min = ~35-40 min; smoke preset (2 tiny scenarios):
~20 s profiling + its ~1 min sweep = ~1.5-2 min.
Not a test: it measures. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from harness.analysis.stats import MIN_EFFECT
from harness.config import BACKENDS, ParallelConfig
from harness.measure import available_cores
from harness.render.tables import format_table
from harness.runner import TrialRunner
from harness.store import Store
from harness.sweep import DEFAULT_REPEATS, DEFAULT_VALUES, SweepOptions, run_sweep
from harness.sweep_plan import sweep_configs
from harness.whatif.calibrate import pool_costs
from harness.whatif.costs import cost_model
from harness.whatif.predict import predict_workload
from scenarios import load_data, load_preset, sweep_settings

TARGET_CORES = 2
SCALING_TRIALS = 2


def profile(db: Path, scenarios: list, engine: str, repeats: int, values: int) -> None:
    """Serial traces at 1 core and the 2-thread fits at 2 cores (see the module)."""
    from harness.manifest import collect_manifest, finish_manifest

    serial, threaded = ParallelConfig(1, 1, 1, "loky"), ParallelConfig(2, 1, 1, "loky")
    with Store(db) as store:
        manifest = collect_manifest()
        run_id = store.start_run(manifest, "whatif_check profile", None)
        for scenario in scenarios:
            load_data(scenario)
            engines = ["core"] if engine == "core" else ["core", engine]  # the package's walls scale core's traces
            for e in engines:
                one = TrialRunner(e, scenario, store, run_id, values=values, cores=1)
                for _ in range(repeats):
                    one.run(serial)
            two = TrialRunner("core", scenario, store, run_id, values=values, cores=TARGET_CORES)
            for _ in range(SCALING_TRIALS):
                two.run(threaded)
            print(f"profiled {scenario.id}")
        store.finish_run(run_id, finish_manifest(manifest))


def compare(profile_db: Path, measured_db: Path, engine: str, configs: list, backends: tuple, min_effect: float):
    """(rows per pair, rows per scenario) of predicted against measured."""
    from harness.analysis.summary import analyse
    from harness.store import load_fits, load_tasks

    pools = pool_costs(profile_db)
    analyses = analyse(load_fits(measured_db), load_tasks(measured_db), min_effect=min_effect)
    pairs, per_scenario = [], []
    for a in analyses:
        if a.engine != engine or a.cores != TARGET_CORES:
            continue
        model = cost_model(profile_db, a.scenario_id, binning=pools.binning_s)
        preds = {p.config_id: p for p in predict_workload(engine, model, TARGET_CORES, pools, backends, configs)}
        measured = a.table.set_index("config_id")
        common = [c for c in preds if c in measured.index and np.isfinite(measured.loc[c, "wall_median"])]
        for c in common:
            ratio = preds[c].predicted_warm_s / measured.loc[c, "wall_median"]
            pairs.append({"scenario": a.scenario_id, "config": c, "predicted_s": preds[c].predicted_warm_s,
                          "measured_s": float(measured.loc[c, "wall_median"]), "ratio": ratio})
        best = min(common, key=lambda c: preds[c].predicted_warm_s)
        verdict = str(measured.loc[best, "verdict"])
        per_scenario.append({"scenario": a.scenario_id, "predicted_best": best,
                             "measured_fastest": str(a.table.iloc[0]["config_id"]), "verdict_of_predicted_best": verdict,
                             "tied": verdict in ("fastest", "tied")})
    return pairs, per_scenario


def markdown(pairs: list, per_scenario: list, preset: str, engine: str) -> str:
    errors = np.array([abs(p["ratio"] - 1) for p in pairs])
    worst = max(pairs, key=lambda p: abs(p["ratio"] - 1))
    tied = sum(s["tied"] for s in per_scenario)
    lines = [
        f"# What-if check: 1-core traces -> predicted {TARGET_CORES}-core walls vs a measured {TARGET_CORES}-core sweep",
        "",
        f"Preset `{preset}`, engine `{engine}`. Predictions (labelled predicted) from the profile store only; "
        f"measurements from the sweep with `--cores {TARGET_CORES}` in the same run.",
        "",
        f"- median |predicted / measured - 1| over {len(pairs)} (scenario, config) pairs: **{np.median(errors):.1%}** (target <= 10%)",
        f"- worst: {worst['scenario']} {worst['config']}: predicted {worst['predicted_s']:.3f} s, "
        f"measured {worst['measured_s']:.3f} s (ratio {worst['ratio']:.2f})",
        f"- predicted best tied with (or equal to) the measured fastest: **{tied} of {len(per_scenario)}** scenarios "
        "(THE verdict rule on the sweep's trials)",
        "",
        "## Per scenario",
        "",
        format_table([{k: (f"{v}" if not isinstance(v, float) else f"{v:.3f}") for k, v in s.items()} for s in per_scenario], "md"),
        "",
        "## Every pair (predicted warm wall vs measured median warm wall)",
        "",
        format_table([{"scenario": p["scenario"], "config": p["config"], "predicted s": f"{p['predicted_s']:.3f}",
                       "measured s": f"{p['measured_s']:.3f}", "predicted/measured": f"{p['ratio']:.3f}"} for p in pairs], "md"),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.whatif_check", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--engine", default="core", choices=["core", "metalearners"])
    parser.add_argument("--min-effect", type=float, default=MIN_EFFECT)
    parser.add_argument("--repeats", type=int, help="trials per config, profile and sweep (default: the preset's)")
    parser.add_argument("--workdir", help="where profile.db and measured.db go (default: a temporary folder)")
    parser.add_argument("--out", required=True, help="the Markdown file to write")
    args = parser.parse_args()
    if available_cores() < TARGET_CORES:
        raise SystemExit(f"error: this check needs {TARGET_CORES} CPUs; this process may use {available_cores()}")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="whatif_check_"))
    workdir.mkdir(parents=True, exist_ok=True)
    settings = sweep_settings(args.preset)
    repeats, values = args.repeats or settings.get("repeats", DEFAULT_REPEATS), settings.get("values", DEFAULT_VALUES)
    if repeats < 2:
        parser.error(f"--repeats {repeats}: the verdict needs at least 2 trials a side")
    backends = tuple(settings.get("backends", BACKENDS))
    levels = settings.get("levels")
    scenarios = list(load_preset(args.preset))

    profile(workdir / "profile.db", scenarios, args.engine, repeats, values)
    run_sweep(SweepOptions(db=workdir / "measured.db", preset=args.preset, engines=(args.engine,), repeats=repeats,
                           values=values, levels=tuple(levels) if levels else None, backends=backends,
                           cores=(TARGET_CORES,), report=False))
    configs = sweep_configs(TARGET_CORES, list(levels) if levels else None, backends)
    pairs, per_scenario = compare(workdir / "profile.db", workdir / "measured.db", args.engine, configs, backends,
                                  args.min_effect)
    text = markdown(pairs, per_scenario, args.preset, args.engine)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"wrote {out}; stores in {workdir}")


if __name__ == "__main__":
    main()
