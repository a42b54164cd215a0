"""Benchmark (A/A): does THE verdict rule call one config measured under two labels "tied"?

    python -m tests.benchmarks.aa_check --preset default --comparisons 6 --out results/HOST/aa_check.md

For each scenario of the preset (``--scenarios K``: the first K), ``--comparisons``
times: the same config (``--config``, default the library default) is measured
``--repeats`` trials under label A and ``--repeats`` under label B, the trials of the
two labels interleaved in a fresh random order, each trial 1 cold + ``--values`` warm
fits (the preset's ``[sweep]`` settings by default, as the sweep would measure them).
Then THE rule (:func:`harness.analysis.stats.verdict`) judges the label with the
larger median against the other, exactly as the report judges a config against the
fastest. The share of comparisons called "tied" is printed (target: >= 95%), with a
Wilson 95% interval for that share. The two labels are one config, so every "slower"
is a false alarm.

With ``--out``, the per-trial walls of every comparison are also written beside it
(``.json``), so the rule can be re-applied to the same measurements.

Not a test: it measures (about 2 x repeats trials per comparison; with the default
preset, 3 repeats x 2 values: ~35 s per comparison on 2 cores, so 11 scenarios x 6
comparisons take ~40 minutes). Run it alone on an otherwise idle machine. Nothing is
written to a results store.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

import pandas as pd

from harness.analysis.stats import ALPHA, MIN_EFFECT, TIED, verdict
from harness.config import ParallelConfig
from harness.locks import HostTrialLock
from harness.runner import DEFAULT_VALUES, TrialRunner
from harness.render.tables import format_table
from scenarios import load_data, load_preset, sweep_settings

TARGET = 0.95


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a share k / n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def judge(a: list[list[float]], b: list[list[float]], alpha: float, min_effect: float) -> tuple[str, float, float]:
    """THE rule on two labels of one config: the one with the larger median against the other."""
    median = lambda trials: float(pd.Series([w for t in trials for w in t]).median())  # noqa: E731
    slow, fast = (a, b) if median(a) >= median(b) else (b, a)
    p, effect, outcome = verdict(slow, fast, alpha, min_effect)
    return outcome, effect, p


def measure_pair(runner: TrialRunner, config: ParallelConfig, repeats: int, rng: random.Random) -> dict[str, list[list[float]]]:
    """``repeats`` trials of ``config`` under each label, interleaved in a random order."""
    order = ["A", "B"] * repeats
    rng.shuffle(order)
    walls: dict[str, list[list[float]]] = {"A": [], "B": []}
    for label in order:
        m = runner.measure(config)
        if m.ok:
            walls[label].append(list(m.walls))
        else:
            print(f"  FAILED trial ({label}): {m.reason}")
    return walls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.aa_check",
        description="A/A check: one config under two labels, interleaved; the share THE rule calls tied (target >= 95%).",
    )
    parser.add_argument("--preset", default="default", help="preset whose scenarios and [sweep] settings to use (default: default)")
    parser.add_argument("--scenarios", type=int, default=None, help="only the first K scenarios of the preset (default: all)")
    parser.add_argument("--engine", default="core", help="engine to measure (default: core)")
    parser.add_argument("--config", default="default", help="the one config measured under both labels (default: the library default)")
    parser.add_argument("--comparisons", type=int, default=6, help="A/A comparisons per scenario (default 6)")
    parser.add_argument("--repeats", type=int, default=None, help="trials per label per comparison (default: the preset's [sweep] repeats, else 3)")
    parser.add_argument("--values", type=int, default=None, help="warm fits per trial (default: the preset's [sweep] values, else 2)")
    parser.add_argument("--alpha", type=float, default=ALPHA, help=f"significance level of THE rule (default {ALPHA:g})")
    parser.add_argument("--min-effect", type=float, default=MIN_EFFECT, help=f"practical threshold of THE rule (default {MIN_EFFECT:g})")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per trial before it is killed (default 600)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the interleaving (default 0)")
    parser.add_argument("--out", help="also write the result as Markdown to this file")
    parser.add_argument("--rejudge", help="measure nothing: apply the rule to the walls an earlier run wrote (its .json)")
    args = parser.parse_args(argv)

    settings = sweep_settings(args.preset)
    repeats = args.repeats or settings.get("repeats", 3)
    values = args.values or settings.get("values", DEFAULT_VALUES)
    config = ParallelConfig.parse(args.config)
    scenarios = load_preset(args.preset)[: args.scenarios]
    rng = random.Random(args.seed)
    rows, outcomes, raw = [], [], []

    def record(scenario_id: str, k: int, walls: dict[str, list[list[float]]]) -> None:
        outcome, effect, p = judge(walls["A"], walls["B"], args.alpha, args.min_effect)
        outcomes.append(outcome)
        raw.append({"scenario": scenario_id, "comparison": k + 1, "A": walls["A"], "B": walls["B"]})
        print(f"{scenario_id} #{k + 1}: {outcome} (x{effect:.3f}, p={p:.3g})", flush=True)
        rows.append({"scenario": scenario_id, "comparison": str(k + 1), "trials A/B": f"{len(walls['A'])}/{len(walls['B'])}",
                     "slower/faster": f"{effect:.3f}", "p": f"{p:.3g}", "verdict": outcome})

    if args.rejudge:  # the same measured walls, judged by the rule as it is now
        earlier = json.loads(Path(args.rejudge).read_text())
        for c in earlier:
            record(c["scenario"], c["comparison"] - 1, {"A": c["A"], "B": c["B"]})
        scenarios = sorted({c["scenario"] for c in earlier})
    else:
        with HostTrialLock() as lock:
            for scenario in scenarios:
                load_data(scenario)  # cached before any trial: no trial pays for it
                runner = TrialRunner(args.engine, scenario, timeout_s=args.timeout, lock=lock, values=values)
                for k in range(args.comparisons):
                    record(scenario.id, k, measure_pair(runner, config, repeats, rng))
    tied = sum(o == TIED for o in outcomes)
    lo, hi = wilson(tied, len(outcomes))
    share = tied / len(outcomes) if outcomes else float("nan")
    summary = (
        f"A/A: {config.id} ({args.engine}) under two labels, {repeats} trials x {values} warm values a label, "
        f"{len(outcomes)} comparisons over {len(scenarios)} scenario(s): {tied} tied = {share:.1%} "
        f"(95% interval {lo:.1%}-{hi:.1%}; target >= {TARGET:.0%}; alpha {args.alpha:g}, min effect {args.min_effect:.0%}): "
        + ("MET" if share >= TARGET else "NOT MET")
    )
    if args.rejudge:
        summary += f" (walls measured earlier, read from {args.rejudge}, judged by the rule as it is now)"
    print(summary)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(f"# A/A check ({args.preset})\n\n{format_table(rows, 'md')}\n\n{summary}\n")
        # the measured walls themselves, so the rule (or a variant of it) can be re-applied later
        if not args.rejudge:  # a rejudged run's walls are already in the file it read
            Path(args.out).with_suffix(".json").write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
