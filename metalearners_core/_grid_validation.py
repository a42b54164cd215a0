"""The checks of a grid search's arguments: each mistake one line naming the value and what is allowed.

The ``metalearners`` package checks only that ``base_learner_grid`` names the
models to fit (with its message, kept first here), and lets sklearn's
``ParameterGrid`` fail later on an empty or unwrapped list; a ``param_grid`` entry
for a model kind or class that is not in the grid it ignores silently, so a typo
quietly searches the defaults. Here all of these are refused when the search is
built, before anything is fitted; ``fit``'s keywords are those of the learners'
``fit``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sklearn.model_selection import ParameterGrid

from metalearners_core._model_kinds import PROPENSITY_MODEL
from metalearners_core._utils import validate_n_jobs
from metalearners_core.metalearner import MetaLearner

# The learners' fit keywords a grid search passes on (the levels run the one graph).
FIT_KEYWORDS = ("n_jobs_cross_fitting", "fit_params", "synchronize_cross_fitting", "n_jobs_base_learners")
# What a grid search sets itself, per grid point (the package's list).
INTERNAL_PARAMS = (
    "nuisance_model_factory", "treatment_model_factory", "propensity_model_factory",
    "nuisance_model_params", "treatment_model_params", "propensity_model_params", "random_state",
)  # fmt: skip


def models_to_fit(metalearner_factory: Any, metalearner_params: Any) -> tuple[set[str], set[str]]:
    """The model kinds the grid must name, and the pre-fitted ones it must not."""
    if not (isinstance(metalearner_factory, type) and issubclass(metalearner_factory, MetaLearner)):
        raise TypeError(
            f"metalearner_factory must be a meta-learner class of metalearners_core (SLearner, TLearner, "
            f"XLearner, RLearner, DRLearner), got {metalearner_factory!r}."
        )
    if not isinstance(metalearner_params, Mapping):
        raise TypeError(f"metalearner_params must be a dict of the learner's arguments, got {metalearner_params!r}.")
    all_models = set(metalearner_factory.nuisance_model_specifications()) | set(
        metalearner_factory.treatment_model_specifications()
    )
    fitted = set(metalearner_params.get("fitted_nuisance_models") or {})
    if metalearner_params.get("fitted_propensity_model") is not None:
        fitted.add(PROPENSITY_MODEL)
    return all_models - fitted, fitted


def _names(classes: Sequence) -> str:
    return ", ".join(getattr(c, "__name__", repr(c)) for c in classes)


def validate_grids(base_learner_grid: Any, param_grid: Any, to_fit: set[str]) -> None:
    """``base_learner_grid`` names exactly the models to fit, each with a non-empty list of
    classes; ``param_grid`` has lists of values for classes that are in the grid."""
    if not isinstance(base_learner_grid, Mapping):
        raise TypeError(f"base_learner_grid must be a dict from model kind to model classes, got {base_learner_grid!r}.")
    if set(base_learner_grid) != to_fit:
        unknown, missing = sorted(set(base_learner_grid) - to_fit), sorted(to_fit - set(base_learner_grid))
        raise ValueError(
            "base_learner_grid keys don't match the expected model names. base_learner_grid keys were expected "
            f"to be {to_fit}." + (f" Unknown: {', '.join(unknown)}." if unknown else "")
            + (f" Missing: {', '.join(missing)}." if missing else "")
        )
    for kind, classes in base_learner_grid.items():
        if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
            raise TypeError(
                f"base_learner_grid[{kind!r}] must be a list of model classes, got {classes!r}; "
                "wrap a single class in a list."
            )
        if len(classes) == 0:
            raise ValueError(f"base_learner_grid[{kind!r}] is empty: give at least one model class.")
    param_grid = {} if param_grid is None else param_grid
    if not isinstance(param_grid, Mapping):
        raise TypeError(f"param_grid must be a dict from model kind to {{class name: {{param: values}}}}, got {param_grid!r}.")
    for kind, per_class in param_grid.items():
        if kind not in base_learner_grid:
            raise ValueError(
                f"param_grid has parameters for the model kind {kind!r}, which is not in base_learner_grid "
                f"(its kinds: {', '.join(sorted(base_learner_grid))})."
            )
        if not isinstance(per_class, Mapping):
            raise TypeError(f"param_grid[{kind!r}] must be a dict from class name to {{param: values}}, got {per_class!r}.")
        names = {getattr(c, "__name__", None) for c in base_learner_grid[kind]}
        for name, params in per_class.items():
            if name not in names:
                raise ValueError(
                    f"param_grid[{kind!r}] has parameters for {name!r}, which is not in base_learner_grid[{kind!r}] "
                    f"({_names(base_learner_grid[kind])}); the keys are class names."
                )
            try:
                ParameterGrid(params)
            except (TypeError, ValueError) as e:  # sklearn's message, with where it is
                raise type(e)(f"param_grid[{kind!r}][{name!r}]: {e}") from e


def validate_fit_keywords(kwargs: Mapping[str, Any], n_jobs: Any) -> None:
    """``fit``'s extra keywords are the learners' ``fit`` keywords; every level is valid."""
    unknown = sorted(set(kwargs) - set(FIT_KEYWORDS))
    if unknown:
        raise TypeError(
            f"MetaLearnerGridSearch.fit() got an unexpected keyword argument {unknown[0]!r}; "
            f"it passes on the learners' fit keywords: {', '.join(FIT_KEYWORDS)}."
        )
    validate_n_jobs(n_jobs, "n_jobs")
    validate_n_jobs(kwargs.get("n_jobs_cross_fitting"), "n_jobs_cross_fitting")
    validate_n_jobs(kwargs.get("n_jobs_base_learners"), "n_jobs_base_learners")


def validate_metalearner_params(metalearner_params: Mapping[str, Any]) -> None:
    """The package's check (at fit, as there): the grid's own arguments are not the user's."""
    shared_keys = set(INTERNAL_PARAMS) & set(metalearner_params)
    if shared_keys:
        raise ValueError(
            f"{shared_keys} should not be specified in metalearner_params as they are used internally. "
            "Please use the correct parameters (random_state: the grid search's own argument)."
        )
