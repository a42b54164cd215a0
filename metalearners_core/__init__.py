"""Fast meta-learners for conditional average treatment effects.

A drop-in for the public API of the ``metalearners`` package (QuantCo, 0.13) whose
three levels of parallelism are real knobs: the base models' own threads
(``n_jobs`` in ``*_model_params``), the folds of each cross-fit model
(``n_jobs_cross_fitting``) and the models of each stage (``n_jobs_base_learners``);
and whose ``predict``, ``predict_conditional_average_outcomes`` and ``evaluate`` take
``n_jobs``: the base models' predictions in parallel (models and row chunks).
``MetaLearnerGridSearch`` adds the grid points of a search, all in one task graph.
"""

from metalearners_core._config import config_context, get_config, set_config
from metalearners_core._execution import OversubscriptionWarning, TaskRecord
from metalearners_core.cross_fit_estimator import CrossFitEstimator
from metalearners_core.drlearner import DRLearner
from metalearners_core.grid_search import MetaLearnerGridSearch
from metalearners_core.metalearner import MetaLearner
from metalearners_core.rlearner import RLearner
from metalearners_core.slearner import SLearner
from metalearners_core.tlearner import TLearner
from metalearners_core.utils import metalearner_factory, simplify_output
from metalearners_core.xlearner import XLearner

__all__ = [
    "CrossFitEstimator",
    "DRLearner",
    "MetaLearner",
    "MetaLearnerGridSearch",
    "OversubscriptionWarning",
    "RLearner",
    "SLearner",
    "TLearner",
    "TaskRecord",
    "XLearner",
    "config_context",
    "get_config",
    "metalearner_factory",
    "set_config",
    "simplify_output",
]
__version__ = "0.1.0"
