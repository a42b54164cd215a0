"""THE verdict rule (harness.analysis.stats) on constructed trials with known answers:
the trial is the unit, equal samples are tied, clearly separated ones slower, a
significant difference below the practical threshold is tied, too few trials say so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from harness.analysis.stats import (
    FASTEST,
    MIN_EFFECT,
    MIN_TRIALS,
    NO_DATA,
    SLOWER,
    TIED,
    TOO_FEW,
    design_note,
    ratio_ci,
    too_few_note,
    trial_means,
    trial_values,
    verdict,
    welch_p,
)


def trials(median: float, n_trials: int, values: int = 2, seed: int = 0, between: float = 0.01, within: float = 0.01):
    """``n_trials`` trials of ``values`` walls each: a per-trial level around ``median``
    (log-normal, spread ``between``) and values around it (spread ``within``)."""
    rng = np.random.default_rng(seed)
    levels = median * np.exp(rng.normal(0, between, n_trials))
    return [list(level * np.exp(rng.normal(0, within, values))) for level in levels]


def test_equal_samples_are_tied():
    same = trials(1.0, 3, seed=1)
    assert verdict(same, same) == (1.0, 1.0, TIED)  # identical: t = 0, two-sided p = 1
    # equal configs measured independently: tied (3 vs 3 trials, 2 values each)
    assert verdict(trials(1.0, 3, seed=2), trials(1.0, 3, seed=3)).verdict == TIED


def test_clearly_separated_samples_are_slower_with_three_trials_a_side():
    # 10% slower at 1% noise: 3 vs 3 trials separate it (a rank test could not: its p >= 0.05)
    p, effect, outcome = verdict(trials(1.1, 3, seed=4), trials(1.0, 3, seed=5))
    assert outcome == SLOWER
    assert p < 0.01
    assert effect == pytest.approx(1.1, rel=0.03)


def test_a_significant_difference_below_the_threshold_is_tied():
    fast = trials(1.0, 5, seed=6, between=0.001, within=0.001)
    slightly = trials(1.02, 5, seed=7, between=0.001, within=0.001)  # 2% slower, very precisely
    p, effect, outcome = verdict(slightly, fast)
    assert p < 1e-4 and effect == pytest.approx(1.02, rel=0.002)  # significant...
    assert outcome == TIED  # ...but below the 3% threshold: it does not matter
    assert verdict(slightly, fast, min_effect=0.01).verdict == SLOWER  # the threshold is what ties it
    assert MIN_EFFECT == 0.03


def test_too_few_trials_are_stated_plainly_never_tied():
    fast = trials(1.0, 3, seed=8)
    one_trial = trials(3.0, 1, values=10, seed=9)  # ten values of ONE process are still one trial
    p, effect, outcome = verdict(one_trial, fast)
    assert outcome == TOO_FEW and np.isnan(p) and effect == pytest.approx(3.0, rel=0.05)
    assert verdict(fast, one_trial).verdict == TOO_FEW
    assert MIN_TRIALS == 2
    assert verdict(trials(3.0, 2, seed=10), trials(1.0, 2, seed=11)).verdict == SLOWER  # 2 a side: the test runs
    assert too_few_note() == (
        "too few samples: fewer than 2 trials on a side, so the test cannot run (p < 0.05 is out of reach); "
        "no tie is claimed: measure more repeats"
    )


def test_fastest_and_no_data():
    fast = trials(1.0, 3)
    assert verdict(fast, fast, is_fastest=True).verdict == FASTEST
    assert verdict([], fast).verdict == NO_DATA
    assert verdict(fast, []).verdict == NO_DATA


def test_the_trial_is_the_unit():
    frame = pd.DataFrame({"trial_id": [7, 7, 8, 8, 9], "wall_s": [1.0, 4.0, 2.0, 2.0, np.nan]})
    values = trial_values(frame)
    assert [list(v) for v in values] == [[1.0, 4.0], [2.0, 2.0]]  # grouped by trial, NaN dropped
    assert trial_means(frame) == pytest.approx([np.log(2.0), np.log(2.0)])  # mean of the logs
    with pytest.raises(TypeError, match="per trial"):
        trial_values([1.0, 2.0, 3.0])  # a flat list hides which values share a process
    with pytest.raises(ValueError, match="trial_id"):
        trial_values(pd.DataFrame({"wall_s": [1.0]}))


def test_welch_p_is_scipys_two_sided_welch():
    # two-sided: the fastest is picked after seeing the samples, so the data choose the direction
    x, y = [1.3, 1.1, 1.25, 1.4], [1.0, 1.05, 0.98]
    expected = scipy_stats.ttest_ind(x, y, equal_var=False, alternative="two-sided").pvalue
    assert welch_p(x, y) == pytest.approx(expected, rel=1e-9)
    assert welch_p(y, x) == pytest.approx(expected, rel=1e-9)  # symmetric
    assert welch_p([2.0, 2.0], [1.0, 1.0]) == 0.0  # no spread at all: exact
    assert welch_p([1.0, 1.0], [2.0, 2.0]) == 0.0
    assert welch_p([1.0, 1.0], [1.0, 1.0]) == 1.0
    with pytest.raises(ValueError, match="at least 2"):
        welch_p([1.0], [1.0, 2.0])


def test_bad_settings_name_what_is_allowed():
    fast = trials(1.0, 3)
    with pytest.raises(ValueError, match="alpha=1.5"):
        verdict(fast, fast, alpha=1.5)
    with pytest.raises(ValueError, match="min_effect=-0.1"):
        verdict(fast, fast, min_effect=-0.1)


def test_the_interval_resamples_trials_not_values():
    one = [[1.0, 1.1, 0.9, 1.05, 0.95]]  # one process: resampling it gives it back whole
    two = [[2.0, 2.2, 1.8, 2.1, 1.9]]
    assert ratio_ci(two, one) == pytest.approx((2.0, 2.0, 2.0))  # values resampled would give an interval
    base, cand = trials(3.0, 12, seed=12, between=0.05), trials(1.5, 12, seed=13, between=0.05)
    ratio, lo, hi = ratio_ci(base, cand, seed=0)
    assert lo < 2.0 < hi and lo < ratio < hi and hi - lo < 0.3
    assert ratio_ci(base, cand, seed=0) == (ratio, lo, hi)  # seeded
    # uneven trial sizes are fine
    assert ratio_ci([[2.0], [2.0, 2.0, 2.0]], [[1.0, 1.0], [1.0]])[0] == pytest.approx(2.0)


def test_the_design_in_one_sentence_with_its_minimum_repeats():
    text = design_note()
    assert text.count(". ") == 0 and text.endswith(".")  # one sentence
    assert "Welch" in text and "2 repeats per config" in text and "3%" in text and "p < 0.05" in text
    assert "cold fit" in design_note(rank="cold")
