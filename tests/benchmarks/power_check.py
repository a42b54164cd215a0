"""Benchmark (power): how often does THE verdict rule call a clearly slower config "slower"?

    python -m tests.benchmarks.power_check --db results/harness.db --out results/HOST/power_check.md

Estimated by resampling a sweep store's own trials, nothing is measured. For every
engine + scenario and every pair of configs whose median walls (``--rank``, warm by
default) differ by ``--min-diff`` (10%) or more in the store, ``--draws`` times: draw
``--repeats`` trials of each config (default: the trials per config the store holds),
let the draw pick the faster of the two (lower median, as the report picks the
fastest) and apply THE rule (:func:`harness.analysis.stats.verdict`) to the other. A
draw is correct when the store's faster config comes out faster AND the other is
called "slower". The share of correct draws is printed overall (target >= 90%), per
scenario and for the worst pairs.

How trials are drawn, per config: without replacement where the store holds more
trials than ``--repeats`` (subsampling, the honest estimate: e.g. a sweep with
``--repeats 6`` judged as a 3-repeat design), with replacement otherwise (a bootstrap
of the store's own trials: the usual plug-in estimate, rougher with only 3 trials a
config, where a draw often repeats a trial). The output says which. Takes seconds to
minutes; measures nothing, so it is safe to run anywhere.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.samples import ranked_fits
from harness.analysis.stats import ALPHA, MIN_EFFECT, SLOWER, verdict
from harness.render.tables import format_table

TARGET = 0.90


def pair_power(
    slow: list[np.ndarray],
    fast: list[np.ndarray],
    repeats: int,
    draws: int,
    rng: np.random.Generator,
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
) -> tuple[float, str]:
    """Share of draws in which THE rule gets the pair right; and how trials were drawn."""
    replace = min(len(slow), len(fast)) <= repeats  # a side with no more trials than drawn: bootstrap
    correct = 0
    for _ in range(draws):
        s = [slow[i] for i in rng.choice(len(slow), repeats, replace=len(slow) <= repeats)]
        f = [fast[i] for i in rng.choice(len(fast), repeats, replace=len(fast) <= repeats)]
        if np.median(np.concatenate(s)) <= np.median(np.concatenate(f)):
            continue  # the draw made the slower config look faster: wrong
        correct += verdict(s, f, alpha, min_effect).verdict == SLOWER
    return correct / draws, "with replacement" if replace else "without replacement"


def power(fits: pd.DataFrame, *, rank: str = "warm", repeats: int | None = None, draws: int = 200,
          min_diff: float = 0.10, alpha: float = ALPHA, min_effect: float = MIN_EFFECT, seed: int = 0) -> pd.DataFrame:
    """One row per pair of configs (same engine + scenario) whose medians differ by >= ``min_diff``."""
    rng = np.random.default_rng(seed)
    rows = []
    samples = ranked_fits(fits, rank)
    for (engine, scenario_id), group in samples.groupby(["engine", "scenario_id"], sort=True):
        trials = {cid: [g.to_numpy(float) for _, g in c.groupby("trial_id")["wall_s"]] for cid, c in group.groupby("config_id")}
        medians = {cid: float(group.loc[group["config_id"] == cid, "wall_s"].median()) for cid in trials}
        n = repeats or int(np.median([len(t) for t in trials.values()]))
        for a, b in itertools.combinations(sorted(trials), 2):
            fast, slow = (a, b) if medians[a] <= medians[b] else (b, a)
            diff = medians[slow] / medians[fast] - 1
            if diff < min_diff or min(len(trials[a]), len(trials[b])) < 2:
                continue
            share, how = pair_power(trials[slow], trials[fast], n, draws, rng, alpha, min_effect)
            rows.append({"engine": engine, "scenario_id": scenario_id, "faster": fast, "slower": slow,
                         "difference": diff, "repeats": n, "correct": share, "drawn": how})
    return pd.DataFrame(rows, columns=["engine", "scenario_id", "faster", "slower", "difference", "repeats", "correct", "drawn"])


def main(argv: list[str] | None = None) -> int:
    from harness.store import load_fits

    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.power_check",
        description="Power check: resample a sweep store's trials; how often THE rule calls pairs >= 10% apart correctly (target >= 90%).",
    )
    parser.add_argument("--db", required=True, help="the sweep's results database (read only)")
    parser.add_argument("--rank", choices=["warm", "cold"], default="warm", help="which fits to judge (default warm)")
    parser.add_argument("--repeats", type=int, default=None, help="trials per config in each draw (default: as many as the store holds per config)")
    parser.add_argument("--draws", type=int, default=200, help="draws per pair (default 200)")
    parser.add_argument("--min-diff", type=float, default=0.10, help="pairs whose medians differ by at least this (default 0.10)")
    parser.add_argument("--alpha", type=float, default=ALPHA, help=f"significance level of THE rule (default {ALPHA:g})")
    parser.add_argument("--min-effect", type=float, default=MIN_EFFECT, help=f"practical threshold of THE rule (default {MIN_EFFECT:g})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    parser.add_argument("--out", help="also write the result as Markdown to this file")
    args = parser.parse_args(argv)

    table = power(load_fits(args.db), rank=args.rank, repeats=args.repeats, draws=args.draws, min_diff=args.min_diff,
                  alpha=args.alpha, min_effect=args.min_effect, seed=args.seed)
    if table.empty:
        print(f"no pair of configs {args.min_diff:.0%} or more apart with 2+ trials each in {args.db}")
        return 0
    overall = float(table["correct"].mean())
    per_scenario = table.groupby(["engine", "scenario_id"])["correct"].agg(["mean", "min", "size"]).reset_index()
    worst = table.sort_values("correct").head(10)
    fmt = lambda df: format_table(df.map(lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)), "md")  # noqa: E731
    summary = (
        f"Power ({args.rank} fits): {len(table)} pairs >= {args.min_diff:.0%} apart, {args.draws} draws each of "
        f"{', '.join(sorted(set(map(str, table['repeats']))))} trials per config ({', '.join(sorted(set(table['drawn'])))}): "
        f"called correctly in {overall:.1%} of draws (target >= {TARGET:.0%}; alpha {args.alpha:g}, "
        f"min effect {args.min_effect:.0%}): " + ("MET" if overall >= TARGET else "NOT MET")
    )
    text = "\n\n".join([f"# Power check ({args.db})", "Per scenario (mean, min share correct, pairs):",
                        fmt(per_scenario), "Worst pairs:", fmt(worst), summary])
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
