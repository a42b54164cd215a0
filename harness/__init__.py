"""Measuring, sweeping, tuning and reporting parallel configurations.

Measurement core:

* :mod:`harness.measure`   -- tree CPU, tree PSS sampling, cores;
* :mod:`harness.manifest`  -- the run manifest (machine, load, versions, commit);
* :mod:`harness.trial`     -- supervisor: :func:`run_trial` (TrialSpec -> TrialResult);
* :mod:`harness.trial_processes` -- a trial's processes: tag, find, kill stragglers;
* :mod:`harness._worker`   -- the child process that runs one workload;
* :mod:`harness.workloads` -- the workload registry (calibration workloads built in).

For notebooks, :func:`benchmark` and :func:`recommend_frame` (:mod:`harness.api`) take a
DataFrame; they are imported on first use, so ``python -m harness`` does not pay for them.
"""

from harness.trial import FitSample, TrialResult, TrialSpec, run_trial

__all__ = ["Benchmark", "FitSample", "FrameRecommendation", "TrialResult", "TrialSpec", "benchmark",
           "recommend_frame", "run_trial"]

_API = ("Benchmark", "FrameRecommendation", "benchmark", "recommend_frame")


def __getattr__(name: str):
    if name in _API:
        from harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
