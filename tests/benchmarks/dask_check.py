"""Benchmark: metalearners_core's fit on a local Dask cluster against the threads backend and the library default.

    python -m tests.benchmarks.dask_check --out results/dev-2core/dask_check.md

Synthetic data (``--rows``, 20 features, 2 variants, continuous outcome) from
:func:`scenarios.data.generate`; per learner (``--learners``, default DR and T) with
LightGBM (``--trees`` trees) and ``--folds`` folds, ``--rounds`` rounds, each fitting
every (learner, config) once in a fresh random order:

* ``default``: no joblib config, levels None (the library default: one fit at a time,
  all cores inside each base model);
* ``threads f2``: ``joblib.parallel_config(backend="threading")``, 2 fold workers;
* ``dask f2``: ``joblib.parallel_config(backend="dask")`` on a ``local:2`` cluster
  (``--workers`` worker processes, the cores shared among them), 2 fold workers;
* ``dask None``: the same cluster, levels None (under the dask backend: the cluster's threads).

Per (learner, config) the median wall, and the ratio to ``threads f2``; the
predictions are checked equal across configs. Then the per-task overhead of the
cluster: a T-learner with a tiny base model (LinearRegression on ``--tiny-rows``
rows, ``--tiny-variants`` variants x (``--tiny-folds`` + 1) fits), on the cluster and
on the threads backend with the same levels, interleaved, ``(cluster wall - threads
wall) / tasks``: a base-model fit shorter than a few times that is not worth sending
to a cluster. The cluster's start-up is timed once, apart.

Not a test: it measures (on 2 cores with the defaults, about 5-7 minutes: a DR fit is
~10 s, a T fit ~4 s, x 4 configs x 5 rounds, plus ~30 s of tiny fits). Run it alone
on an otherwise idle machine; it holds the harness's host trial lock.
``--rows 2000 --trees 10 --rounds 1 --tiny-folds 4`` checks that it runs (seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import statistics
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from harness.locks import HostTrialLock
from harness.render.tables import format_table
from metalearners_core import DRLearner, TLearner
from scenarios.data import generate
from scenarios.spec import DataSpec

# name -> (joblib backend or None, n_jobs_cross_fitting, n_jobs_base_learners)
CONFIGS: dict[str, tuple[str | None, Any, Any]] = {
    "default": (None, None, None),
    "threads f2": ("threading", 2, 1),
    "dask f2": ("dask", 2, 1),
    "dask None": ("dask", None, None),
}
REFERENCE = "threads f2"


def learner(name: str, trees: int, folds: int) -> Any:
    from lightgbm import LGBMClassifier, LGBMRegressor

    params = {"n_estimators": trees, "verbose": -1, "random_state": 0}
    kwargs: dict[str, Any] = dict(
        is_classification=False, n_variants=2, n_folds=folds, random_state=0,
        nuisance_model_factory=LGBMRegressor, nuisance_model_params=params,
    )
    if name == "DR":
        kwargs |= dict(
            propensity_model_factory=LGBMClassifier, propensity_model_params=params,
            treatment_model_factory=LGBMRegressor, treatment_model_params=params,
        )
        return DRLearner(**kwargs)
    return TLearner(**kwargs)


def timed_fit(model: Any, X: np.ndarray, y: np.ndarray, w: np.ndarray, backend: str | None, folds: Any, stage: Any) -> float:
    config = joblib.parallel_config(backend=backend) if backend else contextlib.nullcontext()
    with config:
        start = time.perf_counter()
        model.fit(X, y, w, n_jobs_cross_fitting=folds, n_jobs_base_learners=stage)
        return time.perf_counter() - start


def fits(data: Any, learners: list[str], args: argparse.Namespace, rng: random.Random) -> tuple[list[dict], list[str]]:
    walls: dict[tuple[str, str], list[float]] = {}
    predictions: dict[tuple[str, str], np.ndarray] = {}
    for round_index in range(args.rounds):
        order = [(name, config) for name in learners for config in CONFIGS]
        rng.shuffle(order)
        for name, config in order:
            model = learner(name, args.trees, args.folds)
            walls.setdefault((name, config), []).append(timed_fit(model, data.X, data.y, data.w, *CONFIGS[config]))
            predictions[(name, config)] = model.predict(data.X, is_oos=True)
        print(f"round {round_index + 1}/{args.rounds} done", flush=True)
    rows, summary = [], []
    for name in learners:
        reference = statistics.median(walls[(name, REFERENCE)])
        for config in CONFIGS:
            median = statistics.median(walls[(name, config)])
            rows.append({
                "learner": name, "config": config, "median wall (s)": f"{median:.2f}",
                "min-max (s)": f"{min(walls[(name, config)]):.2f}-{max(walls[(name, config)]):.2f}",
                f"/ {REFERENCE}": f"{median / reference:.2f}x",
            })
        diff = max(float(np.max(np.abs(predictions[(name, c)] - predictions[(name, REFERENCE)]))) for c in CONFIGS)
        dask = statistics.median(walls[(name, "dask f2")])
        summary.append(
            f"{name}: the local:{args.workers} cluster (dask f2) takes {dask / reference:.2f}x the threads backend's wall "
            f"with the same levels ({dask - reference:+.2f} s a fit); largest prediction difference across configs {diff:.1e}"
        )
    return rows, summary


def per_task_overhead(args: argparse.Namespace, rng: random.Random) -> tuple[list[dict], list[str]]:
    from sklearn.linear_model import LinearRegression

    data = generate(DataSpec(n_rows=args.tiny_rows, n_features=5, n_variants=args.tiny_variants, seed=args.seed))
    n_tasks = args.tiny_variants * (args.tiny_folds + 1)
    walls: dict[str, list[float]] = {"threading": [], "dask": []}
    for _ in range(args.rounds):
        order = list(walls)
        rng.shuffle(order)
        for backend in order:
            model = TLearner(
                nuisance_model_factory=LinearRegression, is_classification=False,
                n_variants=args.tiny_variants, n_folds=args.tiny_folds, random_state=0,
            )
            walls[backend].append(timed_fit(model, data.X, data.y, data.w, backend, 2, 1))
    local, cluster = statistics.median(walls["threading"]), statistics.median(walls["dask"])
    overhead = (cluster - local) / n_tasks
    rows = [
        {"backend": "threading f2", "tasks": str(n_tasks), "median wall (s)": f"{local:.3f}", "per task (ms)": f"{1000 * local / n_tasks:.1f}"},
        {"backend": "dask f2", "tasks": str(n_tasks), "median wall (s)": f"{cluster:.3f}", "per task (ms)": f"{1000 * cluster / n_tasks:.1f}"},
    ]
    summary = [
        f"per-task overhead of the cluster: ({cluster:.3f} - {local:.3f}) s / {n_tasks} tasks = {1000 * overhead:.1f} ms a task "
        f"(2 tasks in flight; the fit's inputs scattered once per fit are included)",
        f"a base-model fit should take well over {1000 * overhead:.0f} ms (say 10x: {10 * overhead:.2f} s) to be worth sending to a cluster",
    ]
    return rows, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.dask_check",
        description="metalearners_core's fit on a local Dask cluster vs the threads backend and the default; per-task overhead.",
    )
    parser.add_argument("--rows", type=int, default=50_000, help="rows fitted on (default 50000)")
    parser.add_argument("--learners", default="DR,T", help="comma-separated, of DR and T (default DR,T)")
    parser.add_argument("--folds", type=int, default=5, help="folds of every model (default 5)")
    parser.add_argument("--trees", type=int, default=100, help="LightGBM trees per model (default 100)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster (default 2)")
    parser.add_argument("--tiny-rows", type=int, default=500, help="rows of the per-task overhead fits (default 500)")
    parser.add_argument("--tiny-variants", type=int, default=5, help="variants of the per-task overhead fits (default 5)")
    parser.add_argument("--tiny-folds", type=int, default=20, help="folds of the per-task overhead fits (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of the interleaving (default 0)")
    parser.add_argument("--out", help="also write the result as Markdown to this file")
    args = parser.parse_args(argv)
    learners = [name.strip() for name in args.learners.split(",") if name.strip()]
    if not learners or not set(learners) <= {"DR", "T"} or args.workers < 1:
        parser.error(f"--learners takes DR and T, --workers >= 1; got {args.learners!r}, {args.workers}")

    from distributed import Client, LocalCluster

    data = generate(DataSpec(n_rows=args.rows, n_features=20, n_variants=2, seed=args.seed))
    rng = random.Random(args.seed)
    cores = joblib.cpu_count()
    with HostTrialLock() as lock, lock.held():
        start = time.perf_counter()
        with LocalCluster(
            n_workers=args.workers, threads_per_worker=max(1, cores // args.workers), processes=True,
            dashboard_address=":0", silence_logs=logging.ERROR,
        ) as cluster, Client(cluster):
            cluster_start = time.perf_counter() - start
            fit_rows, fit_summary = fits(data, learners, args, rng)
            tiny_rows, tiny_summary = per_task_overhead(args, rng)
    setup = (
        f"{args.rows} rows x 20 features, 2 variants, LightGBM {args.trees} trees, {args.folds} folds; {cores} cores; "
        f"local:{args.workers} cluster ({args.workers} worker processes x {max(1, cores // args.workers)} threads, "
        f"started in {cluster_start:.1f} s, untimed); {args.rounds} interleaved rounds; dask {version('dask')}, "
        f"distributed {version('distributed')}, lightgbm {version('lightgbm')}"
    )
    text = "\n".join([
        "# Dask check: metalearners_core's fit on a local Dask cluster", "", setup, "",
        "## Fits", "", format_table(fit_rows, "md"), "", *[f"- {line}" for line in fit_summary], "",
        f"## Per-task overhead (T-learner, LinearRegression, {args.tiny_rows} rows)", "",
        format_table(tiny_rows, "md"), "", *[f"- {line}" for line in tiny_summary], "",
    ])
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
