"""The names of the model kinds and stages, and how a learner declares the models it trains.

Every learner declares its first-stage (nuisance) and second-stage (treatment)
models as ``{kind: _ModelSpecifications}``: how many models of that kind it trains
and which predict method it uses of them. The kinds and stage names here are
those of ``metalearners`` 0.13, and key fit params, scorings and evaluation results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    from metalearners_core.metalearner import MetaLearner

PROPENSITY_MODEL = "propensity_model"
VARIANT_OUTCOME_MODEL = "variant_outcome_model"
TREATMENT_MODEL = "treatment_model"
NUISANCE = "nuisance"
TREATMENT = "treatment"


class _ModelSpecifications(TypedDict):
    cardinality: Callable[[MetaLearner], int]
    predict_method: Callable[[MetaLearner], str]


def get_one(*args: Any) -> int:
    return 1


def get_predict(*args: Any) -> str:
    return "predict"


def get_predict_proba(*args: Any) -> str:
    return "predict_proba"
