"""The grid of a grid-search scenario: which base models and parameters a ``MetaLearnerGridSearch`` searches.

A scenario with a ``grid`` is fitted as a grid search (``MetaLearnerGridSearch`` of
metalearners_core or of the ``metalearners`` package) instead of one learner. The grid
has the package's two tables, keyed by the learner's own model kinds
(``variant_outcome_model``, ``propensity_model``, ``treatment_model``, ...):

* ``base_learner_grid``: model kind -> list of models, each a registry name
  (:data:`scenarios.base_models.BASE_MODELS`; its regressor or classifier as the kind
  needs, with its default params) or an import path ``"package.module:Class"``,
  resolved as :mod:`scenarios.models` resolves a scenario's base models;
* ``param_grid`` (optional): model kind -> class name (or the name as written in
  ``base_learner_grid``) -> parameter -> list of values.

:class:`GridSpec` checks the tables' shape on its own; :func:`check_grid` checks them
against the learner (every kind it fits named, no other; models importable; each
``param_grid`` class in the grid; parameters the estimator has), each mistake one line.
:func:`resolve_grid` gives the search's arguments for an explicit model thread count:
the registry's defaults and the seed as single-valued lists under the user's lists.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from typing import Any

from scenarios.models import ModelChoice, _resolve_one, check_params

__all__ = ["GRID_BASE_MODEL", "GridSpec", "check_grid", "grid_size", "learner_model_kinds", "resolve_grid"]

#: ``base_model`` of a grid scenario: its models are the grid's.
GRID_BASE_MODEL = "grid"
_KEYS = ("base_learner_grid", "param_grid")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class GridSpec:
    """The two grid tables, checked for shape, frozen and hashable (part of the scenario id)."""

    __slots__ = ("base_learner_grid", "param_grid", "_key")

    def __init__(self, base_learner_grid: Mapping[str, Any], param_grid: Mapping[str, Any] | None = None) -> None:
        where = "grid.base_learner_grid"
        if not isinstance(base_learner_grid, Mapping) or not base_learner_grid:
            raise ValueError(f"{where}={base_learner_grid!r} must be a non-empty table of model kind = [models]")
        blg: dict[str, tuple[str, ...]] = {}
        for kind, models in base_learner_grid.items():
            if not isinstance(models, (list, tuple)) or not models:
                raise ValueError(f"{where}.{kind}={models!r} must be a non-empty list of model names or 'package.module:Class' paths")
            bad = [m for m in models if not isinstance(m, str) or not m]
            if bad:
                raise ValueError(f"{where}.{kind}: {bad[0]!r} is not a model name or 'package.module:Class' path")
            if len(set(models)) != len(models):
                raise ValueError(f"{where}.{kind} repeats a model: {list(models)!r}")
            blg[str(kind)] = tuple(models)
        pg: dict[str, dict[str, dict[str, list]]] = {}
        for kind, per_class in (param_grid or {}).items():
            if not isinstance(per_class, Mapping):
                raise ValueError(f"grid.param_grid.{kind}={per_class!r} must be a table of class name = {{param = [values]}}")
            pg[str(kind)] = {}
            for name, params in per_class.items():
                here = f"grid.param_grid.{kind}.{name}"
                if not isinstance(params, Mapping):
                    raise ValueError(f"{here}={params!r} must be a table of param = [values]")
                for param, values in params.items():
                    if not isinstance(values, list) or not values:
                        raise ValueError(f"{here}.{param}={values!r} must be a non-empty list of values")
                pg[str(kind)][str(name)] = {str(p): list(v) for p, v in params.items()}
        try:
            key = _canonical({"base_learner_grid": blg, "param_grid": pg})
        except (TypeError, ValueError):
            raise ValueError("grid: values must be numbers, strings, booleans or lists") from None
        object.__setattr__(self, "base_learner_grid", blg)
        object.__setattr__(self, "param_grid", pg)
        object.__setattr__(self, "_key", key)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("GridSpec is frozen")

    @classmethod
    def parse(cls, value: Any) -> GridSpec:
        """From a table ``{base_learner_grid, param_grid}`` (or a GridSpec)."""
        if isinstance(value, GridSpec):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"grid={value!r} must be a table with base_learner_grid and param_grid")
        unknown = [k for k in value if k not in _KEYS]
        if unknown or "base_learner_grid" not in value:
            what = f"unknown key {unknown[0]!r}" if unknown else "missing key 'base_learner_grid'"
            raise ValueError(f"grid: {what}; allowed keys: {', '.join(_KEYS)}")
        return cls(value["base_learner_grid"], value.get("param_grid"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"base_learner_grid": {k: list(v) for k, v in self.base_learner_grid.items()}}
        if self.param_grid:
            out["param_grid"] = json.loads(_canonical(self.param_grid))
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GridSpec) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"GridSpec({self.to_dict()!r})"


def learner_model_kinds(learner: str, is_classification: bool) -> dict[str, str]:
    """The model kinds a learner fits -> the role of their models ("regressor"/"classifier")."""
    from metalearners_core import metalearner_factory
    from metalearners_core._model_kinds import PROPENSITY_MODEL

    cls = metalearner_factory(learner)
    outcome_role = "classifier" if is_classification else "regressor"
    roles = {kind: ("classifier" if kind == PROPENSITY_MODEL else outcome_role) for kind in cls.nuisance_model_specifications()}
    roles.update({kind: "regressor" for kind in cls.treatment_model_specifications()})
    return roles


@functools.lru_cache(maxsize=128)
def _resolved(grid: GridSpec, learner: str, is_classification: bool, seed: int) -> dict[str, list[tuple[str, Any]]]:
    """kind -> [(param_grid key it answers to, ResolvedModel)], after every check."""
    roles = learner_model_kinds(learner, is_classification)
    kinds = grid.base_learner_grid
    unknown = [k for k in kinds if k not in roles]
    if unknown:
        raise ValueError(
            f"grid.base_learner_grid: unknown model kind {unknown[0]!r} for the {learner}-learner; its kinds: {', '.join(roles)}"
        )
    missing = [k for k in roles if k not in kinds]
    if missing:
        raise ValueError(f"grid.base_learner_grid: the {learner}-learner also fits {', '.join(missing)}; give it a list of models")
    out: dict[str, list[tuple[str, Any]]] = {}
    for kind, models in kinds.items():
        resolved = [_resolve_one(kind, roles[kind], ModelChoice(model), seed) for model in models]  # type: ignore[arg-type]
        names = [r.cls.__name__ for r in resolved]
        twice = [n for n in names if names.count(n) > 1]
        if twice:
            raise ValueError(f"grid.base_learner_grid.{kind} names the class {twice[0]} twice (the package keys params by class name)")
        out[kind] = list(zip(names, resolved))
    for kind, per_class in grid.param_grid.items():
        if kind not in kinds:
            raise ValueError(
                f"grid.param_grid has parameters for the model kind {kind!r}, which is not in base_learner_grid ({', '.join(kinds)})"
            )
        for name, params in per_class.items():
            match = [r for cls_name, r in out[kind] if name in (cls_name, r.model)]
            if not match:
                allowed = ", ".join(f"{r.model} ({cls_name})" if r.model != cls_name else cls_name for cls_name, r in out[kind])
                raise ValueError(f"grid.param_grid.{kind} has parameters for {name!r}, which is not in base_learner_grid.{kind} ({allowed})")
            check_params(match[0].cls, params, f"grid.param_grid.{kind}.{name}")
    return out


def _user_params(grid: GridSpec, kind: str, cls_name: str, model: str) -> dict[str, list]:
    per_class = grid.param_grid.get(kind, {})
    return dict(per_class.get(cls_name) or per_class.get(model) or {})


def check_grid(grid: GridSpec, learner: str, is_classification: bool, seed: int = 0) -> None:
    """One-line ``ValueError`` for a grid the learner cannot search (see the module)."""
    _resolved(grid, learner, is_classification, seed)


def grid_size(grid: GridSpec, learner: str, is_classification: bool, seed: int = 0) -> int:
    """Grid points: for every kind the sum over its models of their parameter combinations, multiplied."""
    sizes = []
    for kind, models in _resolved(grid, learner, is_classification, seed).items():
        sizes.append(
            sum(math.prod(len(v) for v in _user_params(grid, kind, name, r.model).values()) for name, r in models)
        )
    return math.prod(sizes)


def resolve_grid(
    grid: GridSpec, learner: str, is_classification: bool, seed: int, model_n_jobs: int | None
) -> tuple[dict[str, list[type]], dict[str, dict[str, dict[str, list]]]]:
    """``(base_learner_grid, param_grid)`` as ``MetaLearnerGridSearch`` takes them.

    Each class's params: its defaults (registry params, ``random_state`` = seed) as
    one-value lists, the user's lists over them, and ``model_n_jobs`` through its thread
    keyword where it has one (``None``: the thread keyword is left to the library). A
    class without a thread keyword is not limited (the search builds the class itself,
    so the harness's ``threadpoolctl`` wrapper cannot stand in for it).
    """
    base_learner_grid: dict[str, list[type]] = {}
    param_grid: dict[str, dict[str, dict[str, list]]] = {}
    for kind, models in _resolved(grid, learner, is_classification, seed).items():
        base_learner_grid[kind] = [r.cls for _, r in models]
        for name, r in models:
            params = {param: [value] for param, value in r.base_params.items()}
            params.update(_user_params(grid, kind, name, r.model))
            if model_n_jobs is not None and r.thread_param is not None:
                params[r.thread_param] = [model_n_jobs]
            if params:
                param_grid.setdefault(kind, {})[name] = params
    return base_learner_grid, param_grid
