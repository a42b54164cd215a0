"""Benchmark: MetaLearnerGridSearch of metalearners_core against the metalearners package's.

    python -m tests.benchmarks.grid_check --out results/dev-2core/grid_check.md
    python -m tests.benchmarks.grid_check --rows 2000 --rounds 1 --grids DR   # a smoke run

Grids shaped like the package's documentation (LightGBM settings mixed with a
linear model): DR over outcome x propensity x treatment models (3 x 2 x 2), X over
propensity x control- and treatment-effect models (2 x 3 x 2), R over outcome x
propensity x treatment models (2 x 2 x 2) and T over outcome models (5), on
synthetic data of ``--rows`` training rows (default 16k, plus a quarter as test
rows, scored as the package does). Each library runs at a few configs (the
package: ``n_jobs`` None and 2; core: serial, the grid level at 2, ``"auto"``), all
configs of all grids interleaved in a fresh random order each round, each fit
under the harness's host trial lock, after one untimed warm-up fit per config on
small data (imports, worker processes). Per grid: the median wall of every config,
each library's best, and the ratio package-best / core-best; then the geometric
mean of the ratios over DR, X and R (target >= 2) and the T ratio (target >= 1),
and whether both libraries' ``results_`` have the same rows and scores.

Not a test: it measures (on 2 cores at 16k rows, about 30 minutes with 3
rounds). Run it alone on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

from harness.locks import HostTrialLock
from harness.render.tables import format_table

TARGET_GEOMEAN, TARGET_T = 2.0, 1.0
SPEEDUP_GRIDS = ("DR", "X", "R")
QUIET = {"verbose": [-1]}

# learner -> (base_learner_grid, param_grid), like the package's documented grids
GRIDS = {
    "DR": (
        {"variant_outcome_model": [LinearRegression, LGBMRegressor], "propensity_model": [LogisticRegression, LGBMClassifier],
         "treatment_model": [LGBMRegressor]},
        {"variant_outcome_model": {"LGBMRegressor": {"n_estimators": [50, 100], **QUIET}},
         "propensity_model": {"LGBMClassifier": {"n_estimators": [50], **QUIET}},
         "treatment_model": {"LGBMRegressor": {"n_estimators": [50], "learning_rate": [0.05, 0.1], **QUIET}}},
    ),
    "X": (
        {"variant_outcome_model": [LGBMRegressor], "propensity_model": [LogisticRegression, LGBMClassifier],
         "control_effect_model": [LinearRegression, LGBMRegressor], "treatment_effect_model": [LGBMRegressor]},
        {"variant_outcome_model": {"LGBMRegressor": {"n_estimators": [100], **QUIET}},
         "propensity_model": {"LGBMClassifier": {"n_estimators": [50], **QUIET}},
         "control_effect_model": {"LGBMRegressor": {"n_estimators": [50, 100], **QUIET}},
         "treatment_effect_model": {"LGBMRegressor": {"n_estimators": [50, 100], **QUIET}}},
    ),
    "R": (
        {"outcome_model": [LinearRegression, LGBMRegressor], "propensity_model": [LogisticRegression, LGBMClassifier],
         "treatment_model": [LGBMRegressor]},
        {"outcome_model": {"LGBMRegressor": {"n_estimators": [100], **QUIET}},
         "propensity_model": {"LGBMClassifier": {"n_estimators": [50], **QUIET}},
         "treatment_model": {"LGBMRegressor": {"n_estimators": [50, 100], **QUIET}}},
    ),
    "T": (
        {"variant_outcome_model": [LinearRegression, LGBMRegressor]},
        {"variant_outcome_model": {"LGBMRegressor": {"n_estimators": [50, 100], "learning_rate": [0.05, 0.1], **QUIET}}},
    ),
}  # fmt: skip

# (library, label) -> (grid search n_jobs, fit keywords). The package's grid level at 2
# runs each grid point in a loky worker whose LightGBM models still start one thread per
# core: on 2 cores that oversubscription made it 12x slower than serial (DR, 2k rows,
# 151.9 s vs 12.7 s), so its parallel config is the one a user would run: n_jobs=2 with
# one thread per LightGBM model (``n_jobs: [1]`` added to the grid's LightGBM params).
CONFIGS = {
    ("package", "n_jobs=None"): (None, {}),
    ("package", "n_jobs=2 +1 thread"): (2, {}),
    ("core", "serial"): (None, {}),
    ("core", "n_jobs=2"): (2, {}),
    ("core", "auto"): ("auto", {}),
}


def make_data(rows: int, n_features: int, seed: int) -> tuple:
    """Training and test rows (a quarter more) with a heterogeneous effect and confounded treatment."""
    rng = np.random.default_rng(seed)
    n = rows + rows // 4
    X = rng.normal(size=(n, n_features))
    w = (rng.random(n) < 1 / (1 + np.exp(-0.5 * X[:, 1]))).astype(np.int64)
    y = X[:, 0] + np.sin(X[:, 2]) + w * (0.5 + X[:, 3]) + rng.normal(scale=0.5, size=n)
    return X[:rows], y[:rows], w[:rows], X[rows:], y[rows:], w[rows:]


def search(library: str, learner: str, n_jobs, fit_kwargs: dict, data: tuple, folds: int):
    """One grid search with ``library``'s MetaLearnerGridSearch; returns its results_."""
    if library == "core":
        from metalearners_core import MetaLearnerGridSearch, metalearner_factory
    else:
        from metalearners.grid_search import MetaLearnerGridSearch
        from metalearners.utils import metalearner_factory
    base_learner_grid, param_grid = GRIDS[learner]
    if library == "package" and n_jobs is not None:
        param_grid = {kind: {cls: {**params, "n_jobs": [1]} if cls.startswith("LGBM") else params
                             for cls, params in per_class.items()} for kind, per_class in param_grid.items()}
    params = {"is_classification": False, "n_variants": 2, "n_folds": folds}
    gs = MetaLearnerGridSearch(metalearner_factory(learner), params, base_learner_grid, param_grid, n_jobs=n_jobs, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn deprecation noise from the package
        gs.fit(*data, **fit_kwargs)
    return gs.results_


def scores_agree(ours: pd.DataFrame, theirs: pd.DataFrame) -> tuple[bool, float]:
    """Same rows (index) and the same train/test scores; the largest relative difference."""
    columns = [c for c in theirs.columns if c.startswith(("train_", "test_"))]
    if not ours.index.equals(theirs.index) or not set(columns) <= set(ours.columns):
        return False, float("inf")
    a, b = ours[columns].to_numpy(float), theirs[columns].to_numpy(float)
    rel = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))
    return bool(np.allclose(a, b, rtol=1e-6, atol=1e-9)), rel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.grid_check",
        description="Grid searches of both libraries side by side: median walls, best per library, speed-up, equal scores.",
    )
    parser.add_argument("--rows", type=int, default=16_000, help="training rows (default 16000; test rows: a quarter more)")
    parser.add_argument("--features", type=int, default=20, help="features (default 20)")
    parser.add_argument("--folds", type=int, default=5, help="n_folds of every learner (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="timed fits per config and grid, interleaved (default 3)")
    parser.add_argument("--grids", default=",".join(GRIDS), help=f"comma-separated subset of {','.join(GRIDS)} (default all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the interleaving (default 0)")
    parser.add_argument("--out", help="also write the result as Markdown to this file")
    args = parser.parse_args(argv)
    grids = [g.strip() for g in args.grids.split(",") if g.strip()]
    unknown = sorted(set(grids) - set(GRIDS))
    if unknown or args.rounds < 1 or args.rows < 100:
        parser.error(f"--grids takes {', '.join(GRIDS)} (got {', '.join(unknown)}); --rounds >= 1; --rows >= 100")

    data = make_data(args.rows, args.features, args.seed)
    warm_data = make_data(500, args.features, args.seed + 1)
    rng = random.Random(args.seed)
    lock = HostTrialLock()
    walls: dict[tuple, list[float]] = {}
    results: dict[tuple, pd.DataFrame] = {}
    for (library, label), (n_jobs, fit_kwargs) in CONFIGS.items():  # untimed: imports, worker processes
        search(library, grids[0], n_jobs, fit_kwargs, warm_data, min(args.folds, 3))
    plan = [(grid, config) for grid in grids for config in CONFIGS]
    for round_ in range(args.rounds):
        rng.shuffle(plan)
        for grid, (library, label) in plan:
            n_jobs, fit_kwargs = CONFIGS[(library, label)]
            with lock.held():
                start = time.perf_counter()
                results[(grid, library, label)] = search(library, grid, n_jobs, fit_kwargs, data, args.folds)
                wall = time.perf_counter() - start
            walls.setdefault((grid, library, label), []).append(wall)
            print(f"round {round_ + 1}: {grid} {library} {label}: {wall:.2f} s", flush=True)

    rows, ratios = [], {}
    for grid in grids:
        medians = {(lib, label): statistics.median(walls[(grid, lib, label)]) for lib, label in CONFIGS}
        best = {lib: min((m, label) for (which, label), m in medians.items() if which == lib) for lib in ("package", "core")}
        ratios[grid] = best["package"][0] / best["core"][0]
        # against the package's serial results_: the thread-limited config's grid has an n_jobs column more
        agree, rel = scores_agree(results[(grid, "core", best["core"][1])], results[(grid, "package", "n_jobs=None")])
        size = len(results[(grid, "core", best["core"][1])])
        rows.append({
            "grid": f"{grid} ({size} points)",
            **{f"{lib} {label} s": f"{m:.2f}" for (lib, label), m in medians.items()},
            "package best": best["package"][1], "core best": best["core"][1],
            "package/core": f"{ratios[grid]:.2f}x", "scores equal": f"{'yes' if agree else 'NO'} (max rel {rel:.1e})",
        })  # fmt: skip
    speedup = [ratios[g] for g in SPEEDUP_GRIDS if g in ratios]
    geomean = math.exp(sum(map(math.log, speedup)) / len(speedup)) if speedup else float("nan")
    met = (not speedup or geomean >= TARGET_GEOMEAN) and ratios.get("T", TARGET_T) >= TARGET_T
    summary = (
        f"{args.rows} training rows x {args.features} features, {args.folds} folds, {args.rounds} rounds, median walls: "
        f"geometric mean package/core over {', '.join(g for g in SPEEDUP_GRIDS if g in ratios) or '-'} = {geomean:.2f}x "
        f"(target >= {TARGET_GEOMEAN:g}x)" + (f"; T {ratios['T']:.2f}x (target >= {TARGET_T:g}x)" if "T" in ratios else "")
        + (": MET" if met else ": NOT MET")
    )
    table = format_table(rows, "md")
    print(table)
    print(summary)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(f"# Grid search: metalearners_core vs metalearners\n\n{table}\n\n{summary}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
