"""Benchmark: metalearners_core's parallel predict against the metalearners package's predict, side by side.

    python -m tests.benchmarks.predict_check --out results/dev-2core/predict_check.md

Synthetic data (``--rows``, 20 features, 2 variants, continuous outcome) from
:func:`scenarios.data.generate`; per learner (``--learners``, default DR and T) with
LightGBM (``--trees`` trees) and ``--folds`` folds, the package and metalearners_core
are each fitted once on the same rows, untimed. Then ``--rounds`` rounds, each
running every (learner, mode, config) once in a fresh random order: the package's
``predict(X, is_oos, oos_method="mean")`` against core's with each candidate
(``n_jobs=None``, ``"auto"``, 2 threads split by ``both``/``rows``/``models``, 2
processes), in the modes ``oos`` (``is_oos=True``: every fold model on every row) and
``in-sample`` (``is_oos=False``). Per (learner, mode) the median walls, and the ratio
package / core's best (the issue's target on 2 cores: >= 1.8x for ``oos``). Then
single-row latency, ``--latency-calls`` calls a side, interleaved in random pairs:
the package's ``predict(x, is_oos=True, oos_method="mean")`` against core's with
``n_jobs="auto"`` (median and p99; target: core's median not slower). Each side's
LightGBM predicts with the thread count its models were fitted with (the package:
LightGBM's default, the physical cores; core: the explicit ``cores // workers`` of a
serial fit, i.e. the cores), except where a config sets them (workers > 1: ``cores //
workers`` each; ``auto`` on a single row: 1); ``--package-threads`` sets the package's. Core's predictions are checked equal across its configs, and the
largest difference to the package's is shown.

Not a test: it measures (on 2 cores with the defaults, about 2 minutes of fitting and
1-2 of predicting). Run it alone on an otherwise idle machine; it holds the harness's
host trial lock. ``--rows 2000 --rounds 1 --latency-calls 20`` checks that it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import joblib
import numpy as np

import metalearners
import metalearners_core
from harness.locks import HostTrialLock
from harness.render.tables import format_table
from scenarios.data import generate
from scenarios.spec import DataSpec

TARGET_SPEEDUP = 1.8
MODES = {"oos": True, "in-sample": False}
# name -> (n_jobs, joblib backend or None, predict_split)
CORE_CONFIGS: dict[str, tuple[Any, str | None, str]] = {
    "core n_jobs=None": (None, None, "both"),
    "core auto": ("auto", None, "both"),
    "core 2 threads both": (2, "threading", "both"),
    "core 2 threads rows": (2, "threading", "rows"),
    "core 2 threads models": (2, "threading", "models"),
    "core 2 processes both": (2, "loky", "both"),
}
PACKAGE = "package"


def learner_kwargs(learner: str, trees: int, folds: int) -> dict:
    from lightgbm import LGBMClassifier, LGBMRegressor

    params = {"n_estimators": trees, "verbose": -1, "random_state": 0}
    kwargs = dict(
        is_classification=False, n_variants=2, n_folds=folds, random_state=0,
        nuisance_model_factory=LGBMRegressor, nuisance_model_params=params,
    )
    if learner == "DR":
        kwargs |= dict(
            propensity_model_factory=LGBMClassifier, propensity_model_params=params,
            treatment_model_factory=LGBMRegressor, treatment_model_params=params,
        )
    return kwargs


def fit_both(learner: str, X: np.ndarray, y: np.ndarray, w: np.ndarray, trees: int, folds: int) -> tuple[Any, Any]:
    """The package's learner and core's, fitted serially on the same rows (untimed)."""
    name = {"DR": "DRLearner", "T": "TLearner"}[learner]
    package = getattr(metalearners, name)(**learner_kwargs(learner, trees, folds)).fit(X, y, w)
    core = getattr(metalearners_core, name)(**learner_kwargs(learner, trees, folds)).fit(X, y, w)
    return package, core


def set_package_threads(package: Any, threads: int) -> None:
    """The package's fitted LightGBM models predict with ``threads`` threads (their n_jobs)."""
    for models in (*package._nuisance_models.values(), *package._treatment_models.values()):
        for cfe in models:
            for model in [*cfe._estimators, cfe._overall_estimator]:
                if model is not None:
                    model.set_params(n_jobs=threads)


def predict_call(side: str, model: Any, X: np.ndarray, is_oos: bool) -> Callable[[], np.ndarray]:
    if side == PACKAGE:
        return lambda: model.predict(X, is_oos=is_oos, oos_method="mean")
    n_jobs, backend, split = CORE_CONFIGS[side]

    def call() -> np.ndarray:
        backend_config = joblib.parallel_config(backend=backend) if backend else contextlib.nullcontext()
        with backend_config, metalearners_core.config_context(predict_split=split):
            return model.predict(X, is_oos=is_oos, oos_method="mean", n_jobs=n_jobs)

    return call


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def throughput(fitted: dict, X: np.ndarray, modes: list[str], rounds: int, rng: random.Random) -> tuple[list[dict], list[str]]:
    """Median walls of every (learner, mode, side), interleaved; rows and summary lines."""
    sides = [PACKAGE, *CORE_CONFIGS]
    cases = [(learner, mode, side) for learner in fitted for mode in modes for side in sides]
    calls = {c: predict_call(c[2], fitted[c[0]][c[2] != PACKAGE], X, MODES[c[1]]) for c in cases}
    differences = {}
    for learner in fitted:  # warm-up, untimed: pools, OpenMP teams, pages; and the answers
        for mode in modes:
            answers = {side: calls[(learner, mode, side)]() for side in sides}
            serial = answers["core n_jobs=None"]
            for side in CORE_CONFIGS:
                np.testing.assert_array_equal(answers[side], serial, err_msg=f"{learner} {mode} {side}")
            differences[(learner, mode)] = float(np.max(np.abs(serial - answers[PACKAGE])))
    walls: dict[tuple, list[float]] = {c: [] for c in cases}
    for r in range(rounds):
        order = list(cases)
        rng.shuffle(order)
        for case in order:
            walls[case].append(timed(calls[case]))
        print(f"round {r + 1}/{rounds} done", flush=True)
    rows, summary = [], []
    for learner in fitted:
        for mode in modes:
            medians = {side: statistics.median(walls[(learner, mode, side)]) for side in sides}
            best = min(CORE_CONFIGS, key=medians.__getitem__)
            ratio = medians[PACKAGE] / medians[best]
            for side in sides:
                rows.append({
                    "learner": learner, "mode": mode, "side": side, "median s": f"{medians[side]:.3f}",
                    "min s": f"{min(walls[(learner, mode, side)]):.3f}", "max s": f"{max(walls[(learner, mode, side)]):.3f}",
                    "package / this": f"{medians[PACKAGE] / medians[side]:.2f}x",
                })
            verdict = ("MET" if ratio >= TARGET_SPEEDUP else "NOT MET") if mode == "oos" else "(no target)"
            summary.append(
                f"{learner} {mode}: core's best is '{best}', {ratio:.2f}x faster than the package "
                f"(medians {medians[best]:.3f} s vs {medians[PACKAGE]:.3f} s; target >= {TARGET_SPEEDUP}x: {verdict}); "
                f"largest |core - package| = {differences[(learner, mode)]:.3g}"
            )
    return rows, summary


def latency(fitted: dict, X_one: np.ndarray, n_calls: int, rng: random.Random) -> tuple[list[dict], list[str]]:
    """Single-row predict latency, the two sides called in random pairs."""
    rows, summary = [], []
    for learner, (package, core) in fitted.items():
        calls = {PACKAGE: predict_call(PACKAGE, package, X_one, True), "core auto": predict_call("core auto", core, X_one, True)}
        for call in calls.values():  # warm-up
            call()
        walls: dict[str, list[float]] = {side: [] for side in calls}
        for _ in range(n_calls):
            pair = list(calls)
            rng.shuffle(pair)
            for side in pair:
                walls[side].append(timed(calls[side]))
        stats = {side: (statistics.median(v) * 1e3, float(np.percentile(v, 99)) * 1e3) for side, v in walls.items()}
        for side, (median, p99) in stats.items():
            rows.append({"learner": learner, "side": side, "calls": str(n_calls), "median ms": f"{median:.3f}", "p99 ms": f"{p99:.3f}"})
        ok = stats["core auto"][0] <= stats[PACKAGE][0]
        summary.append(
            f"{learner} single row (oos mean): core auto median {stats['core auto'][0]:.3f} ms vs the package's "
            f"{stats[PACKAGE][0]:.3f} ms (target: not slower: {'MET' if ok else 'NOT MET'})"
        )
    return rows, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.predict_check",
        description="metalearners_core's predict configs against the metalearners package's predict, interleaved; "
        "throughput and single-row latency.",
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows fitted on and predicted (default 100000)")
    parser.add_argument("--learners", default="DR,T", help="comma-separated, of DR and T (default DR,T)")
    parser.add_argument("--folds", type=int, default=5, help="folds of every model (default 5)")
    parser.add_argument("--trees", type=int, default=100, help="LightGBM trees per model (default 100)")
    parser.add_argument("--modes", default="oos,in-sample", help="comma-separated, of oos and in-sample (default both)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds of every predict config (default 7)")
    parser.add_argument("--latency-calls", type=int, default=200, help="single-row calls a side (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of the interleaving (default 0)")
    parser.add_argument(
        "--package-threads", type=int, default=None,
        help="LightGBM threads of the package's models at predict (default: as fitted, LightGBM's default: the physical cores)",
    )
    parser.add_argument("--out", help="also write the result as Markdown to this file")
    args = parser.parse_args(argv)
    learners = [name.strip() for name in args.learners.split(",") if name.strip()]
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if not set(learners) <= {"DR", "T"} or not set(modes) <= set(MODES) or not learners or not modes:
        parser.error(f"--learners takes DR and T, --modes oos and in-sample; got {args.learners!r}, {args.modes!r}")

    data = generate(DataSpec(n_rows=args.rows, n_features=20, n_variants=2, seed=args.seed))
    rng = random.Random(args.seed)
    with HostTrialLock() as lock, lock.held():
        fitted = {}
        for learner in learners:
            start = time.perf_counter()
            fitted[learner] = fit_both(learner, data.X, data.y, data.w, args.trees, args.folds)
            if args.package_threads is not None:
                set_package_threads(fitted[learner][0], args.package_threads)
            print(f"{learner}: both fitted in {time.perf_counter() - start:.1f} s (untimed)", flush=True)
        speed_rows, speed_summary = throughput(fitted, data.X, modes, args.rounds, rng)
        latency_rows, latency_summary = latency(fitted, data.X[:1], args.latency_calls, rng)
    setup = (
        f"{args.rows} rows x 20 features, 2 variants, LightGBM {args.trees} trees, {args.folds} folds, "
        f"oos_method='mean'; {joblib.cpu_count()} cores; {args.rounds} interleaved rounds; the package's LightGBM "
        f"threads at predict: {args.package_threads or 'as fitted (LightGBM default: physical cores)'}; metalearners "
        f"{version('metalearners')}, lightgbm {version('lightgbm')}"
    )
    text = "\n".join([
        "# Predict check: metalearners_core vs the metalearners package", "", setup, "",
        "## Throughput (predict of all rows)", "", format_table(speed_rows, "md"), "",
        *[f"- {line}" for line in speed_summary], "",
        "## Single-row latency", "", format_table(latency_rows, "md"), "",
        *[f"- {line}" for line in latency_summary], "",
    ])
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
