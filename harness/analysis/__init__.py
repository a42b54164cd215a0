"""What the measurements mean: pure functions from the store's DataFrames to analysis objects.

* :mod:`~harness.analysis.samples`  -- which fits count (warm, ok), a row's config, THE serial reference;
* :mod:`~harness.analysis.stats`    -- the one statistics module: the trial as unit, the test, the verdict rule, intervals;
* :mod:`~harness.analysis.bound`    -- the ideal bound max(work / cores, span) from task traces;
* :mod:`~harness.analysis.summary`  -- per workload: configs ranked with verdicts (:class:`ScenarioAnalysis`);
* :mod:`~harness.analysis.decision` -- the simplest config tied with the fastest (recommend);
* :mod:`~harness.analysis.pareto`   -- the CPU-vs-wall Pareto front;
* :mod:`~harness.analysis.compare`  -- the two engines side by side.

Nothing here draws, prints or measures; ``render`` and ``plots`` consume these objects.
"""

from harness.analysis.bound import IdealBound, ideal_bound, work_span
from harness.analysis.samples import config_from_row, is_serial, serial_reference, warm_fits, warm_tasks
from harness.analysis.stats import ALPHA, MIN_EFFECT, ratio_ci, trial_means, verdict, welch_p
from harness.analysis.summary import ScenarioAnalysis, analyse, summarise, winners

__all__ = [
    "ALPHA",
    "IdealBound",
    "ScenarioAnalysis",
    "analyse",
    "config_from_row",
    "ideal_bound",
    "is_serial",
    "MIN_EFFECT",
    "ratio_ci",
    "serial_reference",
    "summarise",
    "trial_means",
    "verdict",
    "warm_fits",
    "warm_tasks",
    "welch_p",
    "winners",
    "work_span",
]
