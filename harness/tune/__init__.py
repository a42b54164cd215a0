"""``python -m harness tune``: an Optuna study per workload searching the fastest parallel config.

One study per workload (engine + scenario), named ``tune:{engine}:{scenario_id}``
(``...:wall,cpu`` for a multi-objective study), stored by default in the SAME SQLite
file as the sweep results (``sqlite:///results/harness.db``): Optuna's RDB storage
creates its own tables (``studies``, ``trials``, ...) next to the store's, which are
all prefixed ``harness_``. ``--storage`` takes any Optuna storage URL instead. Running
``tune`` again with the same study name continues the study (its earlier trials are
kept and inform the sampler).

Search space
    The feasible configs only: :func:`search_space` lists them up front from
    :func:`harness.config.config_grid` (plus the baselines), and each trial suggests
    one categorical parameter ``config`` over their ids. An infeasible combination of
    the levels can therefore never be sampled. The space is saved with the study; a
    study cannot be resumed with another space (other levels, backends, cores).

Sampler
    Exhaustive (``BruteForceSampler``) when every config not yet measured in the study
    fits into the trial budget, else TPE (seeded; a TPE proposal of a config already
    measured in the study is replaced by a random unmeasured one, so that no budget is
    spent twice on one config -- ``recommend`` re-measures the leaders later).
    Baselines are enqueued first: for metalearners_core its ``auto`` split (what a user
    gets without tuning), then serial (``m1-f1-s1``), all cores at the model level
    (``m{cores}-f1-s1``) and the library default.

Objective
    Each repeat is one trial of the runner (:func:`harness.trial.run_trial`: a fresh
    child process, fit 0 cold, then ``--values`` warm fits); the objective is the median
    of the repeats' warm walls (``--objectives wall``), or that and the median CPU
    seconds of the process tree (``wall,cpu``) or the median peak memory
    (``wall,memory``) as a multi-objective study whose Pareto front is printed. Raw
    samples, CPU, memory and CATE RMSE are kept as trial user attributes, and every
    measurement is recorded in the results store as well (a run with command
    ``tune``), so ``report`` and ``recommend`` see it.

Pruning
    Single objective only: after the first repeat, a config whose wall is more than
    ``prune_ratio`` (1.5) times the best median so far is pruned (its remaining
    repeats are skipped). A multi-objective study is never pruned: a slow config may
    still be on the Pareto front.

Ties
    Single objective: the closing lines name the configs tied with the best by THE
    rule (:func:`harness.analysis.stats.verdict`, ``--min-effect``), on each config's
    per-repeat walls (kept as the trial user attribute ``trial_walls_s``).

Failures
    A failed measurement (timeout, crash, out of memory) makes a FAIL trial with the
    reason as user attribute ``reason``; the study goes on.

One machine, one measurement at a time
    ``tune`` holds an exclusive ``fcntl.flock`` on ``<db>.lock`` while it measures,
    and refuses to start while another tune/sweep holds it; ``--allow-concurrent``
    goes ahead anyway, but the timings of trials that ran concurrently on one host are
    corrupted (they compete for the cores).

Look at a study in optuna-dashboard::

    pip install optuna-dashboard && optuna-dashboard sqlite:///results/harness.db

The search logic (:func:`tune`) takes a ``measure(config) -> Measurement`` callable
(one repeat), so it runs on synthetic objectives in the tests;
:class:`TrialMeasure` is the real one.
"""

from harness.runner import Measurement, TrialRunner, measurement_from_result
from harness.tune.command import run_tune
from harness.tune.space import (
    DASHBOARD_HINT,
    OBJECTIVES,
    PARAM,
    baseline_configs,
    default_study_name,
    is_feasible,
    parse_objectives,
    search_space,
    sqlite_url,
)
from harness.tune.study import DEFAULT_PRUNE_RATIO, MeasurementFailed, TuneOutcome, format_outcome, tune

__all__ = [
    "DASHBOARD_HINT",
    "DEFAULT_PRUNE_RATIO",
    "OBJECTIVES",
    "PARAM",
    "Measurement",
    "MeasurementFailed",
    "TrialRunner",
    "TuneOutcome",
    "baseline_configs",
    "default_study_name",
    "format_outcome",
    "is_feasible",
    "measurement_from_result",
    "parse_objectives",
    "run_tune",
    "search_space",
    "sqlite_url",
    "tune",
]
