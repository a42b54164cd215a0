"""The one place where base models are fitted and predicted in parallel: a task-graph scheduler, its plans, parallel prediction.

All parallel execution of the library lives in this package, and joblib is imported
nowhere else in it. :mod:`.jobs` holds what a learner asks to fit and what it gets
back, :mod:`.plan` how a fit uses the machine (workers per level, threads per base
model, backend and pool), :mod:`.oversubscription` the guard against explicit
settings that ask for more threads than cores, :mod:`.tasks` what one fit is and
how a worker runs it (inputs shared with worker processes through memory-mapped
files), :mod:`.scheduler` the loop that runs a fit's task graph, :mod:`.identity`
the fingerprints of identical fits, :mod:`.grid` a grid search's learners run as
one graph, and :mod:`.predict` the base-model predictions of a predict or evaluate
call (models and row chunks, serial, threads or processes). :mod:`.on_dask` runs a
fit's tasks on a Dask cluster under ``joblib.parallel_config(backend="dask")``
(imported only then). The learners import from here only.
"""

from metalearners_core._execution.jobs import (
    AUTO,
    OVERALL_FOLD,
    CrossFitJob,
    Deferred,
    FitPredictions,
    FittedCrossFit,
    ModelKey,
    Plan,
    TaskRecord,
)
from metalearners_core._execution.grid import LearnerGraph, run_learner_graphs
from metalearners_core._execution.identity import JobIdentity
from metalearners_core._execution.oversubscription import OversubscriptionWarning
from metalearners_core._execution.plan import (
    map_in_threads, plan_execution, releases_gil, stop_process_pools, with_explicit_threads,
)
from metalearners_core._execution.predict import PredictItem, PredictPlan, plan_predictions, pools_started, run_predictions
from metalearners_core._execution.scheduler import fit_cross_fit_jobs, run_fit_graph

__all__ = [
    "AUTO",
    "OVERALL_FOLD",
    "CrossFitJob",
    "Deferred",
    "FitPredictions",
    "FittedCrossFit",
    "JobIdentity",
    "LearnerGraph",
    "ModelKey",
    "OversubscriptionWarning",
    "Plan",
    "PredictItem",
    "PredictPlan",
    "TaskRecord",
    "fit_cross_fit_jobs",
    "map_in_threads",
    "plan_execution",
    "plan_predictions",
    "pools_started",
    "releases_gil",
    "run_fit_graph",
    "run_learner_graphs",
    "run_predictions",
    "stop_process_pools",
    "with_explicit_threads",
]
