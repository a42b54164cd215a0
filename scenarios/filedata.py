"""The data-file half of a scenario: a frozen, validated :class:`FileData`.

``data = { path = "events.parquet", outcome = "y", treatment = "w", ... }`` in a preset
names a user's table instead of the synthetic generator. This module only holds and
checks the fields; reading, converting and caching the file is :mod:`scenarios.files`,
which also fills the two fields that come from the file itself: ``content`` (its
SHA-256) and ``treatment_labels`` (label ``i`` is treatment variant ``i``; the first is
the control).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ENCODINGS", "FileData"]

#: How non-numeric feature columns reach the base models: as pandas categoricals
#: (models that take them: LightGBM), one column per category, or integer codes.
ENCODINGS: tuple[str, ...] = ("native", "onehot", "ordinal")
#: Version of the conversion from a file to cached arrays; part of every key.
FILE_CONVERSION_VERSION = 1


def file_digest(payload: Mapping[str, Any], n_hex: int = 6) -> str:
    text = json.dumps(dict(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n_hex]


def safe_stem(path: str) -> str:
    """The file name without suffixes, reduced to id-safe characters."""
    name = Path(path).name.split(".")[0] or "data"
    return re.sub(r"[^A-Za-z0-9_]+", "_", name)


def _column(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"data.{name}={value!r} must be a column name (a non-empty string)")
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class FileData:
    """A data file and how to read it.

    Attributes:
        path: the file (CSV, Parquet, or a zipped CSV); made absolute.
        outcome, treatment: column names.
        features: feature columns; ``None``: every other column (but the weights).
        weights: a column of sample weights (numbers >= 0, not all 0) passed to the
            base-model fits that take every training row (:mod:`scenarios.weights`);
            not a feature. ``None``: unweighted.
        n_rows: a random subsample of this many rows (``None``: all), drawn with ``seed``.
        seed: the subsample's and the test split's seed.
        test_fraction: share of the rows held out for the learner's ``evaluate`` (0..0.9).
        encode_categoricals: ``native`` (pandas categoricals, for LightGBM), ``onehot``
            or ``ordinal``.
        control: the treatment label of the control (default: the first sorted label).
        content: SHA-256 of the file (filled when read).
        treatment_labels: the labels of variants 0..k-1 (filled when read).
    """

    path: str
    outcome: str
    treatment: str
    features: tuple[str, ...] | None = None
    weights: str | None = None
    n_rows: int | None = None
    seed: int = 0
    test_fraction: float = 0.2
    encode_categoricals: str = "native"
    control: str | None = None
    content: str | None = None
    treatment_labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.path, str) or not self.path:
            raise TypeError(f"data.path={self.path!r} must be a file name")
        _column("outcome", self.outcome)
        _column("treatment", self.treatment)
        if self.weights is not None:
            _column("weights", self.weights)
            if self.weights in (self.outcome, self.treatment):
                role = "outcome" if self.weights == self.outcome else "treatment"
                raise ValueError(f"data.weights={self.weights!r} is the {role} column; name a column of sample weights")
        if self.features is not None:
            if isinstance(self.features, str) or not all(isinstance(f, str) and f for f in self.features):
                raise TypeError(f"data.features={self.features!r} must be a list of column names")
            set_(self, "features", tuple(self.features))
            if not self.features:
                raise ValueError("data.features is empty; give at least one column, or leave it out for all")
            seen = [f for i, f in enumerate(self.features) if f in self.features[:i]]
            if seen:
                raise ValueError(f"data.features names column {seen[0]!r} twice")
            if self.weights in self.features:
                raise ValueError(f"data.features names {self.weights!r}, the weights column; weights are not a feature")
        if self.n_rows is not None and (isinstance(self.n_rows, bool) or not isinstance(self.n_rows, numbers.Integral) or self.n_rows < 100):
            raise ValueError(f"data.n_rows={self.n_rows!r} is not allowed; it must be an int >= 100 (or left out for all rows)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or self.seed < 0:
            raise ValueError(f"data.seed={self.seed!r} is not allowed; it must be an int >= 0")
        if isinstance(self.test_fraction, bool) or not isinstance(self.test_fraction, numbers.Real) or not 0 <= self.test_fraction <= 0.9:
            raise ValueError(f"data.test_fraction={self.test_fraction!r} is not allowed; it must be a number from 0 to 0.9")
        set_(self, "test_fraction", float(self.test_fraction))
        if self.encode_categoricals not in ENCODINGS:
            raise ValueError(
                f"data.encode_categoricals={self.encode_categoricals!r} is not allowed; choose one of {', '.join(ENCODINGS)}"
            )
        if self.control is not None:
            set_(self, "control", str(self.control))
        if self.treatment_labels is not None:
            set_(self, "treatment_labels", tuple(str(v) for v in self.treatment_labels))

    @property
    def stem(self) -> str:
        return safe_stem(self.path)

    @property
    def key(self) -> str:
        """Key of the converted data in the cache: the file's content and how it is read
        (not the labels, which follow from them)."""
        if self.content is None:
            raise ValueError(f"{self.path}: data file not read yet (no content hash)")
        payload = {k: v for k, v in self.to_dict().items() if k not in ("treatment_labels", "path")}
        payload["conversion_version"] = FILE_CONVERSION_VERSION
        return f"file-{self.stem}-{self.content[:8]}-{file_digest(payload, 8)}"

    def to_dict(self) -> dict[str, Any]:
        """The fields; ``weights`` only when set, so that unweighted data keeps its ids."""
        out = dataclasses.asdict(self)
        if out["weights"] is None:
            del out["weights"]
        for name in ("features", "treatment_labels"):
            if out[name] is not None:
                out[name] = list(out[name])
        return out

    def replace(self, **changes: Any) -> FileData:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileData:
        if isinstance(data, FileData):
            return data
        if not isinstance(data, Mapping):
            raise TypeError(f"data={data!r} must be a table like {{ path = \"events.parquet\", outcome = \"y\", treatment = \"w\" }}")
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in data if k not in fields]
        if unknown:
            raise ValueError(f"unknown data key {unknown[0]!r}; allowed keys: {', '.join(fields)}")
        missing = [k for k in ("path", "outcome", "treatment") if k not in data]
        if missing:
            raise ValueError(f"data: missing key {missing[0]!r}; path, outcome and treatment are required")
        return cls(**data)
