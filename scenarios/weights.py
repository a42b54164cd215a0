"""Sample weights: which base models of each learner take them, and the ``fit_params`` that pass them.

Both engines take per-model fit arguments the way ``metalearners`` 0.13 documents
them: ``learner.fit(X, y, w, fit_params={"nuisance": {kind: {...}}, "treatment":
{kind: {...}}})``, one dict per model *kind*, given to every model of that kind, whose
row-aligned arrays are split by fold. So a ``sample_weight`` with one value per
training row reaches exactly the models fitted on every training row: the S-learner's
model, the propensity models, the R-learner's outcome model and the DR-learner's
treatment models. It cannot reach the models fitted on one variant's rows (the
outcome models of T, X and DR; X's effect models: the kind's models have different
rows but share one dict), nor the R-learner's treatment model (the learner passes its
own weights to it). :func:`weight_fit_params` builds the qualified ``fit_params``,
:func:`check_weights` refuses what cannot work (a T-learner, an estimator whose fit
takes no ``sample_weight``) in one line, and :func:`weights_note` says which models
go unweighted.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from scenarios.models import ResolvedModel
    from scenarios.spec import Scenario

__all__ = ["UNWEIGHTED", "WEIGHTED", "check_weights", "weight_fit_params", "weights_note"]

_ONE_VARIANT = "fitted on one variant's rows, and fit_params give all models of a kind the same arrays"

#: Per learner and stage: the model kinds fitted on every training row (they take the weights).
WEIGHTED: dict[str, dict[str, tuple[str, ...]]] = {
    "S": {"nuisance": ("base_model",)},
    "T": {},
    "X": {"nuisance": ("propensity_model",)},
    "R": {"nuisance": ("outcome_model", "propensity_model")},
    "DR": {"nuisance": ("propensity_model",), "treatment": ("treatment_model",)},
}
#: Per learner: the model kinds the weights cannot reach, and why.
UNWEIGHTED: dict[str, dict[str, str]] = {
    "S": {},
    "T": {"variant_outcome_model": _ONE_VARIANT},
    "X": {
        "variant_outcome_model": _ONE_VARIANT,
        "treatment_effect_model": _ONE_VARIANT,
        "control_effect_model": _ONE_VARIANT,
    },
    "R": {"treatment_model": "the R-learner passes its own sample_weight to it"},
    "DR": {"variant_outcome_model": _ONE_VARIANT},
}
#: The scenario's model kind (:data:`scenarios.models.MODEL_KINDS`) of each library model kind.
SCENARIO_KIND: dict[str, str] = {
    "base_model": "nuisance",
    "outcome_model": "nuisance",
    "variant_outcome_model": "nuisance",
    "propensity_model": "propensity",
    "treatment_model": "treatment",
    "treatment_effect_model": "treatment",
    "control_effect_model": "treatment",
}


def weighted_kinds(learner: str) -> list[str]:
    return [kind for kinds in WEIGHTED[learner].values() for kind in kinds]


def weight_fit_params(learner: str, weights: Any) -> dict[str, dict[str, dict[str, Any]]] | None:
    """``fit_params`` giving ``weights`` (one per training row) as ``sample_weight`` to the
    models of ``learner`` fitted on every training row; None without weights."""
    if weights is None:
        return None
    return {
        stage: {kind: {"sample_weight": weights} for kind in WEIGHTED[learner].get(stage, ())}
        for stage in ("nuisance", "treatment")
    }


def _takes_sample_weight(cls: type) -> bool:
    try:
        parameters = inspect.signature(cls.fit).parameters.values()
    except (TypeError, ValueError):  # no signature to read: let the fit say
        return True
    return any(p.name == "sample_weight" or p.kind is p.VAR_KEYWORD for p in parameters)


def check_weights(scenario: Scenario, models: Mapping[str, ResolvedModel]) -> None:
    """A one-line ``ValueError`` when the scenario's weights cannot reach its fits: a
    learner none of whose models take them, or an estimator whose fit has no ``sample_weight``."""
    data = scenario.data
    if data is None or data.weights is None:
        return
    kinds = weighted_kinds(scenario.learner)
    if not kinds:
        reasons = "; ".join(f"its {k} is {why}" for k, why in UNWEIGHTED[scenario.learner].items())
        raise ValueError(
            f"{data.path}: weights {data.weights!r} reach no base model of the {scenario.learner}-learner ({reasons}); "
            "use S, X, R or DR, or leave the weights out"
        )
    for kind in kinds:
        model = models[SCENARIO_KIND[kind]]
        if not _takes_sample_weight(model.cls):
            raise ValueError(
                f"{data.path}: weights {data.weights!r}: the {model.kind} model {model.cls.__name__} ({kind}) "
                "takes no sample_weight in fit; choose an estimator that does, or leave the weights out"
            )


def weights_note(learner: str, column: str) -> str:
    """Which models of ``learner`` the weights ``column`` reach and which they cannot, in one line."""
    reach = ", ".join(weighted_kinds(learner)) or "no model"
    missed = UNWEIGHTED[learner]
    if not missed:
        return f"weights {column!r} reach every base model of the {learner}-learner ({reach})"
    return f"weights {column!r} reach the {learner}-learner's {reach}; not " + "; ".join(
        f"its {kind} ({why})" for kind, why in missed.items()
    )
