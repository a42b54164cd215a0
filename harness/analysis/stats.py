"""The one statistics module: the test, the verdict rule and the interval every command uses.

A config is compared with the fastest config of its workload by a one-sided
Mann-Whitney U test on the raw warm walls (H1: its walls are larger), exact
(permutation) for small samples. :func:`verdict` is THE rule, used by ``report``,
``recommend``, ``compare`` and the plots alike:

* ``"fastest"`` -- the reference itself;
* ``"too few samples"`` -- the samples are too few for the test ever to reach
  p < alpha (1 / C(n1 + n2, n1) >= alpha, e.g. 2 vs 2 or 3 vs 3): no tie is claimed;
* ``"slower"`` -- p < alpha;
* ``"tied"`` -- otherwise;
* ``"no data"`` -- no warm sample.

:func:`ratio_ci` gives a speed-up (ratio of medians) with a seeded percentile
bootstrap interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "ALPHA",
    "FASTEST",
    "NO_DATA",
    "SLOWER",
    "TEST_NAME",
    "TIED",
    "TOO_FEW",
    "mann_whitney_p",
    "min_attainable_p",
    "power_note",
    "ratio_ci",
    "repeats_needed",
    "verdict",
]

ALPHA = 0.05
TEST_NAME = "one-sided Mann-Whitney U (H1: the config's warm walls are larger than the fastest's)"
FASTEST, TIED, SLOWER, TOO_FEW, NO_DATA = "fastest", "tied", "slower", "too few samples", "no data"
#: exact permutation p-values up to this many splits of the pooled samples
_EXACT_SPLITS = 20_000


def min_attainable_p(n1: int, n2: int) -> float:
    """Smallest one-sided p-value a rank test of n1 vs n2 samples can give: 1 / C(n1+n2, n1)."""
    return 1.0 / math.comb(n1 + n2, n1)


def repeats_needed(alpha: float = ALPHA) -> int:
    """Fewest repeats per config (equal sizes) for which p < alpha is attainable."""
    n = 1
    while min_attainable_p(n, n) >= alpha:
        n += 1
    return n


def mann_whitney_p(slower: Any, fastest: Any) -> float:
    """One-sided Mann-Whitney U p-value that ``slower``'s walls are larger than ``fastest``'s.

    Exact (every split of the pooled samples, ties handled) for small samples, the
    normal approximation beyond. Identical samples give p = 1.
    """
    from scipy import stats

    x = np.asarray(slower, dtype=float)
    y = np.asarray(fastest, dtype=float)
    if len(x) == 0 or len(y) == 0:
        return float("nan")
    method: Any = "asymptotic"
    if math.comb(len(x) + len(y), len(x)) <= _EXACT_SPLITS:
        permutation = getattr(stats, "PermutationMethod", None)
        if permutation is not None:
            method = permutation(n_resamples=_EXACT_SPLITS)
        elif len(np.unique(np.concatenate([x, y]))) == len(x) + len(y):
            method = "exact"
    try:
        p = stats.mannwhitneyu(x, y, alternative="greater", method=method).pvalue
    except (TypeError, ValueError):  # an old scipy without PermutationMethod support
        p = stats.mannwhitneyu(x, y, alternative="greater").pvalue
    return 1.0 if np.isnan(p) else float(p)



def verdict(walls: Any, fastest_walls: Any, alpha: float = ALPHA, *, is_fastest: bool = False) -> tuple[float, str]:
    """(p-value, verdict) of one config's warm walls against the fastest's (see the module docstring)."""
    walls = np.asarray(walls, dtype=float)
    fastest_walls = np.asarray(fastest_walls, dtype=float)
    if len(walls) == 0 or len(fastest_walls) == 0:
        return float("nan"), NO_DATA
    if is_fastest:
        return float("nan"), FASTEST
    p = mann_whitney_p(walls, fastest_walls)
    if min_attainable_p(len(walls), len(fastest_walls)) >= alpha:
        return p, TOO_FEW
    return p, SLOWER if p < alpha else TIED


def power_note(n_min: int, n_fastest: int, alpha: float = ALPHA) -> str:
    """One sentence on the test and whether these sample sizes can separate configs."""
    floor = min_attainable_p(n_min, n_fastest)
    needed = repeats_needed(alpha)
    text = (
        f"Test: {TEST_NAME}, exact for small samples; 'slower' if p < {alpha:g}, 'tied' otherwise, "
        f"'{TOO_FEW}' where the samples cannot reach p < {alpha:g}. "
        f"With {n_min} vs {n_fastest} samples the smallest attainable p is {floor:.3g}"
    )
    if floor >= alpha:
        return text + (
            f", so the test cannot separate any config: at least {needed} repeats per config "
            f"are needed (smallest p then {min_attainable_p(needed, needed):.3g})."
        )
    return text + "."


def ratio_ci(
    baseline: Sequence[float],
    candidate: Sequence[float],
    level: float = 0.95,
    n_boot: int = 10_000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Speed-up median(baseline) / median(candidate) and its percentile bootstrap interval.

    Each sample is resampled with replacement independently (``n_boot`` times, seeded).
    With a single sample on a side the interval only reflects the other side.
    """
    b = np.asarray(baseline, dtype=float)
    c = np.asarray(candidate, dtype=float)
    if len(b) == 0 or len(c) == 0:
        raise ValueError("ratio_ci needs at least one sample on each side")
    rng = np.random.default_rng(seed)
    mb = np.median(b[rng.integers(0, len(b), size=(n_boot, len(b)))], axis=1)
    mc = np.median(c[rng.integers(0, len(c), size=(n_boot, len(c)))], axis=1)
    ratios = mb / mc
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(ratios, [tail, 100 - tail])
    return float(np.median(b) / np.median(c)), float(lo), float(hi)

