"""Base models as the user runs them: which class and params each model kind gets.

A scenario names its base models per model kind, as the learners do (``nuisance``,
``propensity``, ``treatment``): ``base_model`` with ``model_params`` (laid over its
defaults) is the model of every kind, unless ``nuisance_model`` /
``propensity_model`` / ``treatment_model`` (a :class:`ModelChoice` with params of its
own) names another for one kind.
A model is a registry name (:data:`scenarios.base_models.BASE_MODELS`: named defaults
with a regressor, a classifier and default params) or any importable estimator
``"package.module:Class"``. Either way the thread count is explicit: through the
registry's thread keyword, the keyword found in the estimator's signature
(:data:`THREAD_KEYWORDS`), the user's ``threads_param``, or -- for an estimator with
none -- :class:`ThreadLimited`, which runs its fit under ``threadpoolctl``. User params
are checked against the estimator's parameters (:func:`allowed_params`: its
``get_params()`` keys, and for LightGBM, whose constructor takes ``**kwargs``, every
parameter and alias LightGBM documents); an unknown one is a one-line error with the
closest name.
:func:`learner_kwargs` turns a scenario into a learner's constructor arguments.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import inspect
import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from scenarios.base_models import BASE_MODELS, ModelKind, get_base_model

if TYPE_CHECKING:  # pragma: no cover
    from scenarios.spec import Scenario

__all__ = [
    "MODEL_KINDS",
    "THREAD_KEYWORDS",
    "ModelChoice",
    "Params",
    "ResolvedModel",
    "ThreadLimited",
    "learner_kwargs",
    "resolve_models",
]

#: The model kinds of the learners, in their constructor's order.
MODEL_KINDS: tuple[str, ...] = ("nuisance", "propensity", "treatment")
#: Constructor keywords through which estimators take their thread count.
THREAD_KEYWORDS: tuple[str, ...] = ("n_jobs", "num_threads", "nthread", "thread_count")
#: Learners that have a propensity model and treatment (second-stage) models.
_WITH_SECOND_STAGE = frozenset({"X", "R", "DR"})
#: Estimator modules that take pandas categorical columns as they are.
_CATEGORICAL_MODULES = ("lightgbm", "catboost")
_CATEGORICAL_CLASSES = ("HistGradientBoostingRegressor", "HistGradientBoostingClassifier")


class Params(Mapping):
    """A frozen, hashable mapping of JSON values (model params in a frozen scenario)."""

    def __init__(self, items: Mapping[str, Any] | None = None, *, where: str = "model_params") -> None:
        if items is not None and not isinstance(items, Mapping):
            raise TypeError(f"{where}={items!r} has type {type(items).__name__}; it must be a table of name = value")
        self._items = dict(items or {})
        bad = [k for k in self._items if not isinstance(k, str)]
        if bad:
            raise TypeError(f"{where}: key {bad[0]!r} is not a string")
        try:
            self._key = json.dumps(self._items, sort_keys=True)
        except (TypeError, ValueError):
            raise TypeError(f"{where}={self._items!r}: values must be numbers, strings, booleans or lists") from None

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other)

    def __repr__(self) -> str:
        return f"Params({self._items!r})"


@dataclasses.dataclass(frozen=True)
class ModelChoice:
    """The base model of one kind: a registry name or ``"package.module:Class"``,
    params laid over the registry's defaults, and (optionally) the thread keyword."""

    model: str
    model_params: Params = dataclasses.field(default_factory=Params)
    threads_param: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise TypeError(f"model={self.model!r} must be a registry name or 'package.module:Class'")
        if not isinstance(self.model_params, Params):
            object.__setattr__(self, "model_params", Params(self.model_params))
        if self.threads_param is not None and not isinstance(self.threads_param, str):
            raise TypeError(f"threads_param={self.threads_param!r} must be a string, the estimator's thread keyword")

    @classmethod
    def parse(cls, value: Any, where: str) -> ModelChoice:
        """From a name, or a table ``{model, model_params, threads_param}``."""
        if isinstance(value, ModelChoice):
            return value
        if isinstance(value, str):
            return cls(value)
        if not isinstance(value, Mapping):
            raise TypeError(f"{where}={value!r} must be a model name or a table with model, model_params, threads_param")
        allowed = ("model", "model_params", "threads_param")
        unknown = [k for k in value if k not in allowed]
        if unknown or "model" not in value:
            what = f"unknown key {unknown[0]!r}" if unknown else "missing key 'model'"
            raise ValueError(f"{where}: {what}; allowed keys: {', '.join(allowed)}")
        return cls(value["model"], Params(value.get("model_params"), where=f"{where}.model_params"), value.get("threads_param"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model}
        if self.model_params:
            out["model_params"] = dict(self.model_params)
        if self.threads_param is not None:
            out["threads_param"] = self.threads_param
        return out


@functools.lru_cache(maxsize=64)
def import_estimator(path: str) -> type:
    """The class of ``"package.module:Class"``; a ``ValueError`` naming it otherwise."""
    module, sep, name = path.partition(":")
    if not sep or not module or not name:
        raise ValueError(
            f"model {path!r} is neither a registry name ({', '.join(sorted(BASE_MODELS))}) "
            "nor an import path 'package.module:Class'"
        )
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"model {path!r} cannot be imported ({type(e).__name__}: {e}); install it or fix the path") from None
    if not isinstance(cls, type) or not hasattr(cls, "fit"):
        raise ValueError(f"model {path!r} is not an estimator class with a fit method")
    return cls


def _signature(cls: type) -> tuple[set[str], bool]:
    """The constructor's keyword names and whether it takes ``**kwargs``."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return set(), True
    names = {p.name for p in parameters if p.kind is not p.VAR_KEYWORD}
    return names, any(p.kind is p.VAR_KEYWORD for p in parameters)


#: Where LightGBM's parameters are documented (named when a parameter is unknown).
LIGHTGBM_PARAMETERS_URL = "https://lightgbm.readthedocs.io/en/latest/Parameters.html"


def _lightgbm_parameters() -> set[str] | None:
    """Every parameter name and alias of LightGBM's config, as LightGBM itself reads them
    (its library's ``LGBM_DumpParamAliases``); None when this LightGBM has no such list."""
    try:
        from lightgbm.basic import _ConfigAliases

        aliases = _ConfigAliases._get_all_param_aliases()
        return {str(name) for names in aliases.values() for name in names}
    except Exception:  # noqa: BLE001 -- a private helper of LightGBM: unchecked rather than wrong
        return None


@functools.lru_cache(maxsize=64)
def allowed_params(cls: type) -> tuple[frozenset[str], bool, str]:
    """(the parameter names of ``cls``, whether that list is complete, what else it takes).

    The names are the estimator's ``get_params()`` keys (its constructor's names where it
    cannot be built without arguments). An estimator taking ``**kwargs`` has a complete
    list only where its library documents the rest: LightGBM's parameters and aliases.
    """
    names, open_kwargs = _signature(cls)
    try:
        names |= set(cls().get_params(deep=False))
    except Exception:  # noqa: BLE001 -- needs arguments or is no scikit-learn estimator
        pass
    if not open_kwargs:
        return frozenset(names), True, ""
    if cls.__module__.split(".")[0] == "lightgbm":
        extra = _lightgbm_parameters()
        if extra is not None:
            return frozenset(names | extra), True, f"LightGBM's parameters ({LIGHTGBM_PARAMETERS_URL})"
    return frozenset(names), False, ""


def check_params(cls: type, params: Mapping[str, Any], where: str) -> None:
    """A one-line ``ValueError`` naming the first unknown parameter, the estimator and the closest name."""
    names, complete, documented = allowed_params(cls)
    unknown = sorted(k for k in params if k not in names)
    if not complete or not unknown:
        return
    name = unknown[0]
    own, _ = _signature(cls)  # the constructor's names first: LightGBM's aliases would shadow them
    match = difflib.get_close_matches(name, sorted(own), n=1) or difflib.get_close_matches(name, sorted(names), n=1)
    hint = f" (did you mean {match[0]!r}?)" if match else ""
    allowed = f"its constructor's parameters or {documented}" if documented else ", ".join(sorted(names))
    raise ValueError(f"{where}: unknown model parameter {name!r} for {cls.__name__}{hint}; allowed: {allowed}")


class ThreadLimited(BaseEstimator):
    """An estimator without a thread keyword, fitted under ``threadpool_limits(n_threads)``.

    ``estimator`` is its import path, ``params`` its constructor params; prediction
    methods are those of the fitted estimator (``fitted_``).
    """

    def __init__(self, estimator: str = "", n_threads: int = 1, params: dict | None = None) -> None:
        self.estimator = estimator
        self.n_threads = n_threads
        self.params = params

    def fit(self, X: Any, y: Any, **fit_params: Any) -> ThreadLimited:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.n_threads):
            self.fitted_ = import_estimator(self.estimator)(**(self.params or {})).fit(X, y, **fit_params)
        self.classes_ = getattr(self.fitted_, "classes_", None)
        return self

    def predict(self, X: Any) -> Any:
        return self.fitted_.predict(X)

    def predict_proba(self, X: Any) -> Any:
        return self.fitted_.predict_proba(X)


class ThreadLimitedRegressor(RegressorMixin, ThreadLimited):
    _estimator_type = "regressor"  # read from the class by metalearners' cross-fitting


class ThreadLimitedClassifier(ClassifierMixin, ThreadLimited):
    _estimator_type = "classifier"


@dataclasses.dataclass(frozen=True)
class ResolvedModel:
    """One kind's base model: ``factory(**params(n_threads))`` is what a fit builds."""

    kind: str
    role: str
    model: str
    cls: type
    base_params: Mapping[str, Any]
    thread_param: str | None
    takes_categoricals: bool

    def factory_and_params(self, n_threads: int | None) -> tuple[Any, dict[str, Any]]:
        params = dict(self.base_params)
        if n_threads is None:
            return self.cls, params
        if self.thread_param is not None:
            return self.cls, {**params, self.thread_param: n_threads}
        # No thread keyword: the fit runs under threadpoolctl, so the count is still explicit.
        wrapper = ThreadLimitedClassifier if self.role == "classifier" else ThreadLimitedRegressor
        return wrapper, {"estimator": f"{self.cls.__module__}:{self.cls.__qualname__}", "n_threads": n_threads, "params": params}


def _resolve_one(kind: str, role: ModelKind, choice: ModelChoice, seed: int) -> ResolvedModel:
    where = f"{kind} model {choice.model!r}"
    user = dict(choice.model_params)
    if choice.model in BASE_MODELS:  # a named default of the same mechanism
        spec = get_base_model(choice.model)
        cls = spec.model_class(role)
        params = dict(spec.params)
        params.update(spec.regressor_params if role == "regressor" else spec.classifier_params)
        if spec.random_state_param is not None:
            params[spec.random_state_param] = seed
        thread_param = choice.threads_param or spec.thread_param_for(role)
    else:
        cls = import_estimator(choice.model)
        params = {}
        names, _ = _signature(cls)
        if "random_state" in names:
            params["random_state"] = seed
        found = [k for k in THREAD_KEYWORDS if k in names]
        thread_param = choice.threads_param or (found[0] if found else None)
    check_params(cls, user, where)
    names, complete, _ = allowed_params(cls)
    if complete and choice.threads_param is not None and choice.threads_param not in names:
        raise ValueError(f"{where}: threads_param {choice.threads_param!r} is not a parameter of {cls.__name__}")
    params.update(user)
    takes_categoricals = cls.__module__.split(".")[0] in _CATEGORICAL_MODULES or cls.__name__ in _CATEGORICAL_CLASSES
    return ResolvedModel(kind, role, choice.model, cls, params, thread_param, takes_categoricals)


def resolve_models(scenario: Scenario) -> dict[str, ResolvedModel]:
    """The base model of every kind the scenario's learner has (S and T: nuisance only).

    Raises a ``ValueError`` naming the model for an unimportable estimator, an unknown
    model parameter or a thread keyword the estimator lacks.
    """
    roles: dict[str, ModelKind] = {"nuisance": "classifier" if scenario.outcome == "binary" else "regressor"}
    if scenario.learner in _WITH_SECOND_STAGE:
        roles.update(propensity="classifier", treatment="regressor")
    default = ModelChoice(scenario.base_model, scenario.model_params or Params())
    out = {}
    for kind, role in roles.items():
        out[kind] = _resolve_one(kind, role, getattr(scenario, f"{kind}_model") or default, scenario.seed)
    return out


def learner_kwargs(scenario: Scenario, model_n_jobs: int | None) -> dict[str, Any]:
    """Constructor kwargs for a metalearners-style learner class (the API of
    ``metalearners`` 0.13): every base model's factory and params with the explicit
    thread count ``model_n_jobs``, ``n_folds``, ``random_state`` and the variants.

    Fold- and stage-level parallelism are ``fit`` arguments, not part of these kwargs.
    """
    kwargs: dict[str, Any] = {"is_classification": scenario.outcome == "binary", "n_variants": scenario.n_variants}
    models = resolve_models(scenario)
    for kind in MODEL_KINDS:
        factory, params = models[kind].factory_and_params(model_n_jobs) if kind in models else (None, None)
        kwargs[f"{kind}_model_factory"] = factory
        kwargs[f"{kind}_model_params"] = params
    kwargs.update(n_folds=scenario.n_folds, random_state=scenario.seed)
    return kwargs
