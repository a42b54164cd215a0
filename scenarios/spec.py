"""The workload specification: a frozen, validated :class:`Scenario`.

A scenario names everything that defines one benchmark workload: which meta-learner
is fitted (``learner``, ``n_folds``, ``base_model``) on which synthetic data
(``n_rows``, ``n_features``, ``n_variants``, ``outcome``, ``effect``,
``propensity``, ``seed``). The data-defining half is available separately as a
:class:`DataSpec` (``Scenario.data_spec``) whose ``key`` names the cached data set, so
that every learner, fold count and base model sharing the same data reads one file.

Both ids are stable across processes, machines and Python versions: they are built
from the field values and a SHA-256 of a canonical JSON encoding, never from
``hash()``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import numbers
from collections.abc import Mapping
from typing import Any, ClassVar

from scenarios.base_models import BASE_MODELS
from scenarios.filedata import FileData
from scenarios.grid import GRID_BASE_MODEL, GridSpec, check_grid, grid_size
from scenarios.models import ModelChoice, Params

LEARNERS: tuple[str, ...] = ("S", "T", "X", "R", "DR")
OUTCOMES: tuple[str, ...] = ("continuous", "binary")
EFFECTS: tuple[str, ...] = ("constant", "linear", "nonlinear")
PROPENSITIES: tuple[str, ...] = ("randomised", "confounded")
#: ``effect`` and ``propensity`` of a scenario on a data file: unknown.
NOT_APPLICABLE = "n/a"
#: The optional fields: left out of ``to_dict`` (and so of the id) when unset, so that
#: every scenario without them keeps the id it always had.
_OPTIONAL_FIELDS = ("data", "model_params", "nuisance_model", "propensity_model", "treatment_model", "grid")
#: Fields that name one learner's base models: a grid scenario's models are its grid.
_MODEL_FIELDS = ("model_params", "nuisance_model", "propensity_model", "treatment_model")

#: Smallest allowed ``n_rows``.
MIN_ROWS = 100
#: Largest allowed ``n_variants``: a confounded propensity keeps every variant at
#: probability >= 0.05, which is only possible for at most 20 variants.
MAX_VARIANTS = 20

#: Version of the data generator. It is part of every data key, so a change to the
#: generating functions must bump it and thereby invalidates stale caches.
DATA_GENERATOR_VERSION = 1

_ABBREV: dict[str, str] = {
    "continuous": "cont",
    "binary": "bin",
    "constant": "const",
    "linear": "lin",
    "nonlinear": "nonlin",
    "randomised": "rand",
    "confounded": "conf",
}


def _short_count(n: int) -> str:
    """``50000 -> '50k'``, ``1000000 -> '1M'``, ``12345 -> '12345'`` (lossless)."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def _digest(payload: Mapping[str, Any], n_hex: int = 6) -> str:
    """Stable short hex digest of a JSON-able mapping (key order irrelevant)."""
    text = json.dumps(dict(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n_hex]


def _check_int(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    """Validate an integer field; bools and floats are rejected. Returns a plain int."""
    allowed = f"an int >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name}={value!r} has type {type(value).__name__}; it must be {allowed}"
        )
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name}={value!r} is out of range; it must be {allowed}")
    return value


def _check_choice(name: str, value: Any, choices: tuple[str, ...] | list[str]) -> str:
    """Validate a string field against its allowed values."""
    allowed = ", ".join(choices)
    if not isinstance(value, str):
        raise TypeError(
            f"{name}={value!r} has type {type(value).__name__}; "
            f"it must be a string, one of {allowed}"
        )
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {allowed}")
    return value


def _from_mapping(cls: type, data: Mapping[str, Any]) -> Any:
    """Build dataclass ``cls`` from a mapping, naming unknown and missing keys."""
    if not isinstance(data, Mapping):
        raise TypeError(
            f"{cls.__name__}.from_dict expects a mapping, got {type(data).__name__}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        raise ValueError(
            f"unknown {cls.__name__} key(s) {', '.join(map(repr, unknown))}; "
            f"allowed keys: {', '.join(fields)}"
        )
    missing = [
        name
        for name, f in fields.items()
        if name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ValueError(
            f"missing {cls.__name__} key(s) {', '.join(map(repr, missing))}; "
            f"required keys: "
            + ", ".join(
                n for n, f in fields.items() if f.default is dataclasses.MISSING
            )
        )
    return cls(**data)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSpec:
    """The data-defining fields of a scenario: what :func:`scenarios.generate` needs.

    Two scenarios with the same ``DataSpec`` share one generated (and cached) data
    set, whatever their learner, fold count or base model.
    """

    n_rows: int
    n_features: int = 20
    n_variants: int = 2
    outcome: str = "continuous"
    effect: str = "linear"
    propensity: str = "randomised"
    seed: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "n_rows", _check_int("n_rows", self.n_rows, MIN_ROWS))
        set_(self, "n_features", _check_int("n_features", self.n_features, 1))
        set_(self, "n_variants", _check_int("n_variants", self.n_variants, 2, MAX_VARIANTS))
        _check_choice("outcome", self.outcome, OUTCOMES)
        _check_choice("effect", self.effect, EFFECTS)
        _check_choice("propensity", self.propensity, PROPENSITIES)
        set_(self, "seed", _check_int("seed", self.seed, 0))

    @property
    def key(self) -> str:
        """Stable, file-name-safe key of the data set, e.g.
        ``data-50k-f20-v2-cont-lin-rand-s0-g1-3f2a1c``.

        ``g1`` is :data:`DATA_GENERATOR_VERSION`; the trailing hex is a digest of all
        fields and the generator version.
        """
        payload = {**self.to_dict(), "generator_version": DATA_GENERATOR_VERSION}
        return (
            f"data-{_short_count(self.n_rows)}-f{self.n_features}-v{self.n_variants}"
            f"-{_ABBREV[self.outcome]}-{_ABBREV[self.effect]}-{_ABBREV[self.propensity]}"
            f"-s{self.seed}-g{DATA_GENERATOR_VERSION}-{_digest(payload)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-able dict of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSpec:
        """Inverse of :meth:`to_dict`; unknown keys raise a ``ValueError`` naming them."""
        return _from_mapping(cls, data)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Scenario:
    """One benchmark workload: a meta-learner fit on one synthetic data set.

    All fields are keyword-only and validated on construction; a bad value raises a
    ``TypeError`` (wrong type, including bools where ints are expected) or a
    ``ValueError`` (bad value) naming the field, the value and what is allowed.

    Attributes:
        learner: meta-learner prefix, one of ``S, T, X, R, DR``.
        n_rows: training rows (>= 100).
        n_variants: treatment variants including control (2..20).
        n_folds: cross-fitting folds (>= 2).
        base_model: a name in :data:`scenarios.BASE_MODELS`.
        n_features: features (>= 1), default 20.
        outcome: ``continuous`` (regression) or ``binary`` (classification).
        effect: shape of the true CATE: ``constant``, ``linear`` or ``nonlinear``.
        propensity: ``randomised`` (uniform, independent of X) or ``confounded``
            (depends on X; every variant keeps probability >= 0.05).
        seed: data seed, also the learner's ``random_state`` (>= 0).
        data: a :class:`FileData` (the user's table) instead of synthetic data; then
            ``n_rows``, ``n_features`` and ``n_variants`` are the file's (filled by
            :func:`scenarios.files.file_scenario`) and ``effect``/``propensity`` "n/a".
        model_params: params of ``base_model``, laid over its defaults (:mod:`scenarios.models`).
        nuisance_model, propensity_model, treatment_model: a :class:`ModelChoice`
            for one model kind instead of ``base_model``.
        grid: a :class:`scenarios.grid.GridSpec`: the scenario is a grid search over
            these base models (``base_model`` is then ``"grid"``; see :mod:`scenarios.grid`).
    """

    learner: str
    n_rows: int
    n_variants: int
    n_folds: int
    base_model: str
    n_features: int = 20
    outcome: str = "continuous"
    effect: str = "linear"
    propensity: str = "randomised"
    seed: int = 0
    data: FileData | None = None
    model_params: Params | None = None
    nuisance_model: ModelChoice | None = None
    propensity_model: ModelChoice | None = None
    treatment_model: ModelChoice | None = None
    grid: GridSpec | None = None

    DATA_FIELDS: ClassVar[tuple[str, ...]] = (
        "n_rows",
        "n_features",
        "n_variants",
        "outcome",
        "effect",
        "propensity",
        "seed",
    )

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        _check_choice("learner", self.learner, LEARNERS)
        set_(self, "n_rows", _check_int("n_rows", self.n_rows, MIN_ROWS))
        set_(self, "n_variants", _check_int("n_variants", self.n_variants, 2, MAX_VARIANTS))
        set_(self, "n_folds", _check_int("n_folds", self.n_folds, 2))
        if self.grid is None and not (isinstance(self.base_model, str) and ":" in self.base_model):  # else an import path
            _check_choice("base_model", self.base_model, sorted(BASE_MODELS))
        set_(self, "n_features", _check_int("n_features", self.n_features, 1))
        _check_choice("outcome", self.outcome, OUTCOMES)
        if self.data is not None:
            set_(self, "data", FileData.from_dict(self.data))
            _check_choice("effect", self.effect, (NOT_APPLICABLE,))
            _check_choice("propensity", self.propensity, (NOT_APPLICABLE,))
        else:
            _check_choice("effect", self.effect, EFFECTS)
            _check_choice("propensity", self.propensity, PROPENSITIES)
        set_(self, "seed", _check_int("seed", self.seed, 0))
        if self.model_params is not None:
            set_(self, "model_params", Params(self.model_params))
        for kind in ("nuisance", "propensity", "treatment"):
            value = getattr(self, f"{kind}_model")
            if value is not None:
                set_(self, f"{kind}_model", ModelChoice.parse(value, f"{kind}_model"))
        if self.grid is not None:  # last: it needs the learner, outcome and seed checked
            self._check_grid()

    def _check_grid(self) -> None:
        """A grid scenario: base_model "grid", no single-model fields, a grid the learner can search."""
        object.__setattr__(self, "grid", GridSpec.parse(self.grid))
        if self.base_model != GRID_BASE_MODEL:
            raise ValueError(f"base_model={self.base_model!r} with a grid: a grid scenario's models are its grid; leave base_model out")
        if self.data is not None:  # the file checks (categoricals, weights) are per model, not per grid yet
            raise ValueError("data with a grid: a grid scenario runs on synthetic data; leave data out")
        given = [name for name in _MODEL_FIELDS if getattr(self, name) is not None]
        if given:
            raise ValueError(f"{given[0]} with a grid: a grid scenario's models and params are its grid's")
        check_grid(self.grid, self.learner, self.outcome == "binary", self.seed)

    @property
    def grid_size(self) -> int | None:
        """Grid points of a grid scenario (None without a grid)."""
        return None if self.grid is None else grid_size(self.grid, self.learner, self.outcome == "binary", self.seed)

    @functools.cached_property  # a frozen value: hashed once, not per planned trial
    def id(self) -> str:
        """Stable, human-readable id, e.g.
        ``DR-50k-f20-v2-k5-lightgbm-cont-lin-rand-s0-<6 hex>``.

        The readable part is lossless for the current fields; the hex suffix is a
        SHA-256 digest of all fields, identical in every process and Python run. A
        scenario on a data file is named after it: ``DR-events-8k-f12-v3-k5-lightgbm-cont-s0-<6 hex>``
        (``...-cont-weighted-s0-...`` with sample weights). A grid scenario says its
        grid points instead of a model: ``DR-16k-f20-v2-k5-grid8-cont-lin-rand-s0-<6 hex>``.
        """
        if self.data is not None:
            return (
                f"{self.learner}-{self.data.stem}-{_short_count(self.n_rows)}-f{self.n_features}"
                f"-v{self.n_variants}-k{self.n_folds}-{self.model_label}-{_ABBREV[self.outcome]}"
                f"{'-weighted' if self.data.weights else ''}-s{self.seed}-{_digest(self.to_dict())}"
            )
        return (
            f"{self.learner}-{_short_count(self.n_rows)}-f{self.n_features}"
            f"-v{self.n_variants}-k{self.n_folds}-{self.model_label if self.grid is not None else self.base_model}"
            f"-{_ABBREV[self.outcome]}-{_ABBREV[self.effect]}-{_ABBREV[self.propensity]}"
            f"-s{self.seed}-{_digest(self.to_dict())}"
        )

    @property
    def model_label(self) -> str:
        """``base_model``, or its class name for an import path."""
        if self.grid is not None:
            return f"grid{self.grid_size}"
        return self.base_model.rpartition(":")[2] if ":" in self.base_model else self.base_model

    @property
    def data_spec(self) -> DataSpec | FileData:
        """The data-defining fields only (shared by all learners/folds/models): the
        :class:`FileData` of a scenario on a file."""
        if self.data is not None:
            return self.data
        return DataSpec(**{name: getattr(self, name) for name in self.DATA_FIELDS})

    @property
    def data_key(self) -> str:
        """Key of this scenario's data set; see :attr:`DataSpec.key`.

        Covers only ``n_rows, n_features, n_variants, outcome, effect, propensity,
        seed``: learner, folds and base model do not change the data.
        """
        return self.data_spec.key

    @property
    def is_classification(self) -> bool:
        """True for a binary outcome (classifier nuisance models)."""
        return self.outcome == "binary"

    def replace(self, **changes: Any) -> Scenario:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-able dict of all fields (round-trips through :meth:`from_dict`);
        the optional fields only when set."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _OPTIONAL_FIELDS}
        for name in _OPTIONAL_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = dict(value) if isinstance(value, Params) else value.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scenario:
        """Build from a mapping; unknown keys raise a ``ValueError`` naming them."""
        return _from_mapping(cls, data)
