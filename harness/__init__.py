"""Measuring, sweeping, tuning and reporting parallel configurations.

Measurement core:

* :mod:`harness.measure`   -- tree CPU, tree PSS sampling, cores;
* :mod:`harness.manifest`  -- the run manifest (machine, load, versions, commit);
* :mod:`harness.trial`     -- supervisor: :func:`run_trial` (TrialSpec -> TrialResult);
* :mod:`harness.trial_processes` -- a trial's processes: tag, find, kill stragglers;
* :mod:`harness._worker`   -- the child process that runs one workload;
* :mod:`harness.workloads` -- the workload registry (calibration workloads built in).
"""

from harness.trial import FitSample, TrialResult, TrialSpec, run_trial

__all__ = ["FitSample", "TrialResult", "TrialSpec", "run_trial"]
