"""The one statistics module: the unit of a sample, the test, THE verdict rule, the interval.

The unit is the trial. Values of one process are related (same pools, same memory
layout, same neighbours on the machine), so a trial counts once: its fits of the
ranked kind (several warm fits, or its one cold fit) are summarised as the mean of
their log walls (:func:`trial_means`). A config is compared with the fastest config
of its workload by a two-sided Welch t-test on those per-trial means, which gives a
continuous p, so 3 vs 3 trials can separate clearly
different configs (a rank test cannot: its smallest p at 3 vs 3 is 0.05).
:func:`verdict` is THE rule, used by ``report``, ``recommend``, ``compare``, ``tune``,
the plots and the benchmarks alike:

* ``"fastest"`` -- the reference itself;
* ``"too few samples"`` -- either side has fewer than :data:`MIN_TRIALS` trials (the
  test needs a variance on each side): no tie is claimed;
* ``"slower"`` -- p < alpha AND the config's geometric-mean wall is more than
  ``min_effect`` (default 3%) above the fastest's;
* ``"tied"`` -- otherwise (not significant, or significant but too small to matter);
* ``"no data"`` -- no sample.

Why two-sided: the reference is picked as the fastest after seeing the samples, so
the direction of the difference is chosen by the data; a one-sided test would call
one of two equal configs "slower" up to 2 x alpha of the time (the A/A check measured
it: 1 false "slower" in the first 10 comparisons at this machine's 3-6% trial-to-trial
noise). The practical threshold ``min_effect`` then keeps significant but negligible
differences "tied" (``tests/benchmarks/aa_check.py`` measures how often equal configs
are called tied, ``power_check.py`` how often 10% differences are found).

:func:`ratio_ci` gives a speed-up (ratio of median walls) with a seeded percentile
bootstrap interval that resamples trials, not values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "ALPHA",
    "FASTEST",
    "MIN_EFFECT",
    "MIN_TRIALS",
    "NO_DATA",
    "RANKS",
    "SLOWER",
    "TIED",
    "TOO_FEW",
    "Comparison",
    "design_note",
    "ratio_ci",
    "TEST_NAME",
    "method",
    "too_few_note",
    "trial_means",
    "trial_values",
    "verdict",
    "welch_p",
]

ALPHA = 0.05
#: the practical threshold: smaller differences are "tied" even when significant
MIN_EFFECT = 0.03
#: fewest trials per side the test needs (a variance on each side)
MIN_TRIALS = 2
FASTEST, TIED, SLOWER, TOO_FEW, NO_DATA = "fastest", "tied", "slower", "too few samples", "no data"
#: which fits are ranked: warm (fits 2.. of each trial) or cold (the first fit of each trial)
RANKS = ("warm", "cold")


def method(rank: str = "warm") -> str:
    """The test in words (what a trial contributes depends on the ranked kind of fit)."""
    what = "the mean log wall of its warm fits" if rank == "warm" else "the log wall of its cold fit"
    return f"two-sided Welch t-test on per-trial summaries (each trial counts once: {what})"


TEST_NAME = method("warm")


def trial_values(samples: Any) -> list[np.ndarray]:
    """The walls of each trial, one array per trial.

    ``samples``: a DataFrame with ``trial_id`` and ``wall_s`` columns (fits rows: grouped
    by trial, NaN walls dropped), or a sequence of per-trial sequences of walls. A flat
    sequence of numbers is refused: it hides which values share a process.
    """
    if hasattr(samples, "columns"):
        if samples.empty:
            return []
        missing = {"trial_id", "wall_s"} - set(samples.columns)
        if missing:
            raise ValueError(f"samples lack the column(s) {sorted(missing)}; they need trial_id and wall_s")
        rows = samples[samples["wall_s"].notna()]
        return [g.to_numpy(dtype=float) for _, g in rows.groupby("trial_id", sort=False)["wall_s"]]
    out = []
    for trial in samples:
        if np.isscalar(trial):
            raise TypeError(
                f"samples must be per trial (a sequence of sequences, or a frame with trial_id), got the number {trial!r}"
            )
        values = np.asarray(trial, dtype=float)
        values = values[~np.isnan(values)]
        if len(values):
            out.append(values)
    return out


def trial_means(samples: Any) -> np.ndarray:
    """One number per trial: the mean of the log of its walls (see :func:`trial_values`)."""
    return np.array([float(np.mean(np.log(v))) for v in trial_values(samples)])


def welch_p(slower: Sequence[float], fastest: Sequence[float]) -> float:
    """Two-sided Welch t-test p-value that the two sides' means differ.

    Two-sided because the fastest is picked after seeing the samples (see the module
    docstring); the verdict takes the direction from the effect. Both need at least 2
    values. Where both sides have no spread at all the answer is exact: p = 0 if the
    means differ, else 1.
    """
    from scipy import stats

    x, y = np.asarray(slower, dtype=float), np.asarray(fastest, dtype=float)
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"welch_p needs at least 2 values a side, got {len(x)} and {len(y)}")
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    diff = float(x.mean() - y.mean())
    se2 = vx + vy
    if se2 <= 0 or not math.isfinite(se2):
        return 0.0 if diff != 0 else 1.0
    df = se2**2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    return float(2 * stats.t.sf(abs(diff) / math.sqrt(se2), df))


class Comparison(NamedTuple):
    """One config against the fastest: p-value (NaN when no test ran), effect (the
    config's geometric-mean trial wall over the fastest's; 1 for the fastest) and verdict."""

    p_value: float
    effect: float
    verdict: str


def verdict(
    samples: Any,
    fastest: Any,
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    *,
    is_fastest: bool = False,
) -> Comparison:
    """THE rule: one config's trials against the fastest config's (see the module docstring).

    ``samples`` / ``fastest``: per-trial walls (see :func:`trial_values`).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} is not allowed; use a number between 0 and 1")
    if not min_effect >= 0:
        raise ValueError(f"min_effect={min_effect!r} is not allowed; use a number >= 0 (0.03 = 3%)")
    a, b = trial_means(samples), trial_means(fastest)
    if len(a) == 0 or len(b) == 0:
        return Comparison(float("nan"), float("nan"), NO_DATA)
    if is_fastest:
        return Comparison(float("nan"), 1.0, FASTEST)
    effect = float(math.exp(a.mean() - b.mean()))
    if len(a) < MIN_TRIALS or len(b) < MIN_TRIALS:
        return Comparison(float("nan"), effect, TOO_FEW)
    p = welch_p(a, b)
    slower = p < alpha and effect > 1.0 + min_effect
    return Comparison(p, effect, SLOWER if slower else TIED)


def too_few_note(alpha: float = ALPHA) -> str:
    """The one wording of "too few samples", the same in every command."""
    return (
        f"too few samples: fewer than {MIN_TRIALS} trials on a side, so the test cannot run "
        f"(p < {alpha:g} is out of reach); no tie is claimed: measure more repeats"
    )


def design_note(alpha: float = ALPHA, min_effect: float = MIN_EFFECT, rank: str = "warm") -> str:
    """The design and the test in one sentence, with the minimum repeats it needs."""
    unit = "the mean log wall of its warm fits" if rank == "warm" else "the log wall of its cold fit (its first)"
    return (
        f"Test: each trial (one process) counts once, as {unit}; a config is 'slower' than the "
        f"fastest when a two-sided Welch t-test on these per-trial figures gives p < {alpha:g} and its "
        f"geometric-mean wall is more than {min_effect:.0%} above the fastest's, 'tied' otherwise, and "
        f"'{TOO_FEW}' with fewer than {MIN_TRIALS} trials on a side (the minimum the test needs: "
        f"{MIN_TRIALS} repeats per config; 3 or more to separate a 10% difference)."
    )


def ratio_ci(
    baseline: Any,
    candidate: Any,
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Speed-up median(baseline walls) / median(candidate walls) and its percentile bootstrap interval.

    ``baseline`` / ``candidate``: per-trial walls (see :func:`trial_values`). Each side's
    TRIALS are resampled with replacement (``n_boot`` times, seeded) and the median taken
    over all values of the drawn trials: values of one process stay together. With a
    single trial on a side the interval only reflects the other side.
    """
    b, c = trial_values(baseline), trial_values(candidate)
    if not b or not c:
        raise ValueError("ratio_ci needs at least one trial on each side")
    rng = np.random.default_rng(seed)
    mb, mc = _boot_medians(b, n_boot, rng), _boot_medians(c, n_boot, rng)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(mb / mc, [tail, 100 - tail])
    point = float(np.median(np.concatenate(b)) / np.median(np.concatenate(c)))
    return point, float(lo), float(hi)


def _boot_medians(trials: list[np.ndarray], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Median of the pooled values of ``len(trials)`` trials drawn with replacement, n_boot times."""
    width = max(len(t) for t in trials)
    padded = np.full((len(trials), width), np.nan)
    for i, t in enumerate(trials):
        padded[i, : len(t)] = t
    drawn = padded[rng.integers(0, len(trials), size=(n_boot, len(trials)))].reshape(n_boot, -1)
    if width == min(len(t) for t in trials):  # equal sizes: no padding to skip (faster)
        return np.median(drawn, axis=1)
    return np.nanmedian(drawn, axis=1)
