"""The user's data file: read and converted once, cached by content, loaded memory-mapped.

:func:`file_scenario` turns a preset entry with ``data = {...}`` into a
:class:`~scenarios.spec.Scenario`: it hashes the file (a small index keyed by path,
size and mtime means an unchanged file is never hashed twice, an edited one always
is), reads it with pandas/pyarrow (CSV, zipped or gzipped CSV, Parquet), checks
it (columns, NaN/inf in outcome and treatment, treatment values, rows per variant for
the folds, a binary outcome for classification, non-numeric features for models that
cannot take them; a weights column: numbers >= 0, finite, not all 0), maps the
treatment labels to ``0..k-1``, and writes the arrays to
``<cache>/<FileData.key>/`` (``.npy`` files and ``meta.json``, atomically). All of
that happens in the supervisor, outside any timed window. A trial's
:func:`load_file_data` only memory-maps the arrays. Every bad input is a
``ValueError`` of one line naming the file, column or value and what is allowed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from scenarios.filedata import FileData

__all__ = ["FileTable", "content_hash", "file_scenario", "load_file_data", "prepare_file"]

_CSV_SUFFIXES = (".csv", ".csv.zip", ".csv.gz", ".zip", ".gz", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq")
_ARRAYS = ("X", "y", "w", "X_test", "y_test", "w_test")


@dataclasses.dataclass(frozen=True, eq=False)
class FileTable:
    """A converted data file as a trial fits it; there is no true CATE (``cate*`` None).

    ``X`` is a float64 array (memory-mapped), or a DataFrame when categorical columns
    stay categorical (``encode_categoricals = "native"``). ``w`` holds variants 0..k-1.
    ``weights`` (``weights_test``): the sample weights of the rows, None when unweighted.
    """

    X: Any
    y: np.ndarray
    w: np.ndarray
    X_test: Any
    y_test: np.ndarray
    w_test: np.ndarray
    spec: FileData
    weights: np.ndarray | None = None
    weights_test: np.ndarray | None = None
    cate: None = None
    cate_test: None = None

    @property
    def key(self) -> str:
        return self.spec.key


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def content_hash(path: Path, cache_dir: Path) -> str:
    """SHA-256 of the file; remembered per (path, size, mtime) so that only an edited
    (or new) file is read to hash it."""
    stat = path.stat()
    index = cache_dir / "file-hashes" / (hashlib.sha256(str(path).encode()).hexdigest()[:32] + ".json")
    stamp = {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    with contextlib.suppress(OSError, ValueError):
        known = json.loads(index.read_text())
        if {k: known.get(k) for k in stamp} == stamp:
            return str(known["sha256"])
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    _atomic_write_text(index, json.dumps({**stamp, "sha256": digest.hexdigest()}))
    return digest.hexdigest()


def _header(path: Path) -> list[str]:
    if path.name.lower().endswith(_PARQUET_SUFFIXES):
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    import pandas as pd

    return [str(v) for v in pd.read_csv(path, nrows=1, header=None).iloc[0]]


def _read(data: FileData):
    """The file as a DataFrame of the columns it needs (the header checked first)."""
    import pandas as pd

    path = Path(data.path)
    name = path.name.lower()
    if not name.endswith(_CSV_SUFFIXES + _PARQUET_SUFFIXES):
        raise ValueError(f"{path}: unknown file type; use .csv, .csv.zip, .csv.gz or .parquet")
    try:
        header = _header(path)
    except Exception as e:  # noqa: BLE001 -- pandas/pyarrow raise many kinds
        raise ValueError(f"{path}: cannot be read as a table: {' '.join(str(e).split())[:200]}") from None
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise ValueError(f"{path}: column {dupes[0]!r} appears {header.count(dupes[0])} times; column names must be unique")
    roles = {data.outcome: "outcome", data.treatment: "treatment", **({data.weights: "weights"} if data.weights else {})}
    features = list(data.features) if data.features is not None else [c for c in header if c not in roles]
    for role, column in (*((r, c) for c, r in roles.items()), *(("feature", f) for f in features)):
        if column not in header:
            raise ValueError(f"{path}: no {role} column {column!r}; the columns are {', '.join(header[:20])}")
    for role, column in (("outcome", data.outcome), ("treatment", data.treatment)):
        if column in features:
            raise ValueError(f"{path}: column {column!r} is the {role} and also a feature; drop it from data.features")
    if not features:
        raise ValueError(f"{path}: no feature columns besides the outcome and the treatment")
    columns = [*features, *roles]
    if name.endswith(_PARQUET_SUFFIXES):
        frame = pd.read_parquet(path, columns=columns)
    else:
        frame = pd.read_csv(path, usecols=columns)[columns]
    return frame, features


def _rows(n_total: int, data: FileData) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices, each in file order (the subsample and the split
    drawn with ``data.seed``)."""
    rng = np.random.default_rng(data.seed)
    rows = np.arange(n_total)
    if data.n_rows is not None and data.n_rows < n_total:
        rows = np.sort(rng.choice(n_total, data.n_rows, replace=False))
    n_test = int(round(data.test_fraction * rows.size))
    test = np.zeros(rows.size, dtype=bool)
    test[rng.choice(rows.size, n_test, replace=False)] = True
    return rows[~test], rows[test]


def _treatment(path: Path, column: str, values: Any, control: str | None) -> tuple[np.ndarray, list[str]]:
    import pandas as pd

    if values.isna().any():
        raise ValueError(f"{path}: treatment column {column!r} has {int(values.isna().sum())} missing values; every row needs a treatment")
    uniques = sorted(pd.unique(values), key=lambda v: (str(type(v)), v))
    labels = [str(v) for v in uniques]
    if len(set(labels)) != len(labels):
        raise ValueError(f"{path}: treatment column {column!r} has labels that are equal as text: {labels}")
    if len(labels) < 2:
        raise ValueError(f"{path}: treatment column {column!r} has one value ({labels[0]!r}); it needs at least 2 (control and a variant)")
    if control is not None:
        if control not in labels:
            raise ValueError(f"{path}: data.control={control!r} is not a value of {column!r}; the values are {', '.join(labels)}")
        labels.remove(control)
        labels.insert(0, control)
    code = {label: i for i, label in enumerate(labels)}
    return values.astype(str).map(code).to_numpy(dtype=np.int64), labels


def _outcome(path: Path, column: str, values: Any) -> np.ndarray:
    import pandas as pd

    if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
        raise ValueError(f"{path}: outcome column {column!r} is not numeric (dtype {values.dtype}); use a number or 0/1 column")
    y = values.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(y)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{path}: outcome column {column!r} has {int(bad.sum())} NaN/inf values (first in row {row}: {y[row]}); every outcome must be finite")
    return y


def _weights(path: Path, column: str, values: Any) -> np.ndarray:
    """Sample weights: numbers, finite, >= 0 and not all 0 (the one-line error names the first bad one)."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        raise ValueError(f"{path}: weights column {column!r} is not numeric (dtype {values.dtype}); sample weights must be numbers >= 0")
    weights = values.to_numpy(dtype=np.float64, na_value=np.nan)
    for bad, what in ((~np.isfinite(weights), "NaN/inf"), (weights < 0, "negative")):
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{path}: weights column {column!r} has {int(bad.sum())} {what} values (first in row {row}: {weights[row]}); "
                "every weight must be a finite number >= 0"
            )
    if not weights.any():
        raise ValueError(f"{path}: weights column {column!r} is 0 in every row; at least one weight must be > 0")
    return weights


def _features(frame: Any, features: list[str], encoding: str) -> tuple[np.ndarray, list[str], dict[str, list[str]]]:
    """float64 features; categorical columns as codes (native, ordinal) or one-hot."""
    import pandas as pd

    categories: dict[str, list[str]] = {}
    columns: dict[str, np.ndarray] = {}
    for name in features:
        col = frame[name]
        if pd.api.types.is_bool_dtype(col) or (pd.api.types.is_numeric_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype)):
            columns[name] = col.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        if not (isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)):
            raise ValueError(f"feature column {name!r} has dtype {col.dtype}; features must be numeric, boolean, strings or categoricals")
        cat = col.astype("category") if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("string").astype("category")
        cat = cat.cat.rename_categories([str(c) for c in cat.cat.categories])
        if encoding == "onehot":
            for label in cat.cat.categories:
                columns[f"{name}={label}"] = (cat == label).to_numpy(dtype=np.float64, na_value=0.0)
            continue
        categories[name] = list(cat.cat.categories)
        codes = cat.cat.codes.to_numpy().astype(np.float64)
        codes[codes < 0] = np.nan
        columns[name] = codes
    return np.column_stack(list(columns.values())), list(columns), categories


def _convert(data: FileData, out: Path) -> FileData:
    """Read, check and convert the file into ``out`` (a fresh folder); the labels filled in."""
    path = Path(data.path)
    frame, features = _read(data)
    w_all, labels = _treatment(path, data.treatment, frame[data.treatment], data.control)
    y_all = _outcome(path, data.outcome, frame[data.outcome])
    try:
        X_all, columns, categories = _features(frame, features, data.encode_categoricals)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    train, test = _rows(len(frame), data)
    arrays = {"X": X_all[train], "y": y_all[train], "w": w_all[train], "X_test": X_all[test], "y_test": y_all[test], "w_test": w_all[test]}
    if data.weights is not None:
        weights = _weights(path, data.weights, frame[data.weights])
        if not weights[train].any():
            raise ValueError(f"{path}: weights column {data.weights!r} is 0 in every training row; at least one must be > 0")
        arrays.update(weights=weights[train], weights_test=weights[test])
    for name, array in arrays.items():
        np.save(out / f"{name}.npy", np.ascontiguousarray(array))
    meta = {
        "spec": data.to_dict(),
        "labels": labels,
        "columns": columns,
        "n_features": len(features),
        "categories": categories,
        "variant_rows": np.bincount(arrays["w"], minlength=len(labels)).tolist(),
        "outcome_values": sorted(float(v) for v in np.unique(y_all)[:3]),
        "weights": data.weights,
    }
    (out / "meta.json").write_text(json.dumps(meta))
    return data.replace(treatment_labels=tuple(labels))


_PREPARED: dict[tuple[str, str], tuple[FileData, dict]] = {}


def prepare_file(data: FileData, cache_dir: Path) -> tuple[FileData, dict]:
    """The data with its content hash and labels, and its cached meta: converted on the
    first call for this content and these options, read from the cache afterwards."""
    path = Path(data.path)
    if not path.is_file():
        raise ValueError(f"data.path {path}: no such file")
    data = data.replace(content=content_hash(path, cache_dir), treatment_labels=None)
    memo = (str(cache_dir), data.key)  # per cache: a cluster worker converts into its host's own
    if memo in _PREPARED:
        return _PREPARED[memo]
    folder = cache_dir / data.key
    meta_file = folder / "meta.json"
    if not meta_file.is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{data.key}."))
        try:
            _convert(data, tmp)
            with contextlib.suppress(OSError):  # another process won the race: same content
                os.rename(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    meta = json.loads(meta_file.read_text())
    result = (data.replace(treatment_labels=tuple(meta["labels"])), meta)
    _PREPARED[memo] = result
    return result


def load_file_data(data: FileData, cache_dir: Path) -> FileTable:
    """A trial's data: the cached arrays memory-mapped (converted first if the cache
    was removed; a file edited since the scenario was read is an error)."""
    folder = cache_dir / data.key
    if not (folder / "meta.json").is_file():
        fresh, _ = prepare_file(data.replace(content=None), cache_dir)
        if fresh.content != data.content:
            raise ValueError(f"{data.path}: the file changed since the scenario was read; load the scenarios again")
    meta = json.loads((folder / "meta.json").read_text())
    names = (*_ARRAYS, "weights", "weights_test") if meta.get("weights") else _ARRAYS
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in names}
    if data.encode_categoricals == "native" and meta["categories"]:
        for name in ("X", "X_test"):
            arrays[name] = _frame(arrays[name], meta["columns"], meta["categories"])
    return FileTable(**arrays, spec=data)


def _frame(X: np.ndarray, columns: list[str], categories: Mapping[str, list[str]]):
    import pandas as pd

    out = {}
    for j, name in enumerate(columns):
        if name in categories:
            codes = np.nan_to_num(X[:, j], nan=-1).astype(np.int32)
            out[name] = pd.Categorical.from_codes(codes, categories=categories[name])
        else:
            out[name] = X[:, j]
    return pd.DataFrame(out)


def file_scenario(fields: Mapping[str, Any], base_dir: Path | None = None, cache_dir: Path | None = None):
    """A :class:`Scenario` on a data file from preset fields (``data`` a table; ``n_rows``,
    ``n_features`` and ``n_variants`` come from the file). ``data.path`` is relative to
    ``base_dir`` (the preset's folder). Raises a one-line ``ValueError`` for bad input."""
    from scenarios.cache import default_cache_dir
    from scenarios.spec import NOT_APPLICABLE, Scenario

    fields = dict(fields)
    data = FileData.from_dict(fields.pop("data"))
    path = Path(data.path).expanduser()
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    data = data.replace(path=str(path.resolve()))
    for name in ("n_rows", "n_features", "n_variants", "effect", "propensity"):
        if name in fields:
            raise ValueError(f"{name!r} comes from the data file; set data.n_rows for a subsample, or leave it out")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    data, meta = prepare_file(data, cache)
    rows = sum(meta["variant_rows"])
    if rows < 100:
        raise ValueError(f"{data.path}: {rows} training rows; at least 100 are needed")
    scenario = Scenario(
        **fields, data=data, n_rows=rows,
        n_features=meta["n_features"], n_variants=len(meta["labels"]),
        effect=NOT_APPLICABLE, propensity=NOT_APPLICABLE,
    )
    _check_fit(scenario, meta)
    return scenario


def _check_fit(scenario: Any, meta: Mapping[str, Any]) -> None:
    """What the learner needs of the data: rows for the folds, a 0/1 outcome, models
    that take the categorical columns (and the weights, if any)."""
    from scenarios.models import resolve_models
    from scenarios.weights import check_weights

    data = scenario.data
    for label, count in zip(meta["labels"], meta["variant_rows"]):
        if count < max(2, scenario.n_folds):
            raise ValueError(
                f"{data.path}: treatment {label!r} of {data.treatment!r} has {count} training rows; "
                f"{scenario.n_folds} folds need at least {max(2, scenario.n_folds)} per variant"
            )
    if scenario.outcome == "binary" and not set(meta["outcome_values"]) <= {0.0, 1.0}:
        raise ValueError(
            f"{data.path}: outcome {data.outcome!r} has values {meta['outcome_values']}...; "
            "outcome = \"binary\" (classification) needs 0/1 values"
        )
    models = resolve_models(scenario)
    check_weights(scenario, models)
    if meta["categories"] and data.encode_categoricals == "native":
        for kind, model in models.items():
            if not model.takes_categoricals:
                column = next(iter(meta["categories"]))
                raise ValueError(
                    f"{data.path}: column {column!r} is not numeric and the {kind} model {model.cls.__name__} "
                    "cannot take categorical columns; set data.encode_categoricals = \"onehot\" or \"ordinal\""
                )
