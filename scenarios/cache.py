"""The on-disk cache of synthetic data sets.

A data set is generated once per data key (:attr:`DataSpec.key`: the scenario's data
fields, not its learner, folds or model) and kept as an uncompressed ``.npz`` in
:func:`default_cache_dir`; :func:`load_data` reads it back, regenerating a missing,
foreign or damaged file, and writes atomically so that processes sharing a cache see
either no file or a complete one. How the data is generated is :mod:`scenarios.data`.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from scenarios.data import ARRAY_FIELDS, MAX_TEST_ROWS, DataSource, SyntheticData, as_data_spec, generate
from scenarios.filedata import FileData
from scenarios.files import FileTable, load_file_data
from scenarios.spec import DataSpec, Scenario

__all__ = ["CACHE_ENV_VAR", "cache_path", "default_cache_dir", "load_data"]

#: Environment variable that overrides the default cache folder.
CACHE_ENV_VAR = "HARNESS_DATA_DIR"


def default_cache_dir() -> Path:
    """``$HARNESS_DATA_DIR`` if set, else ``<repo>/.cache/data`` (when running from
    a source checkout), else ``~/.cache/metalearners-core/data``."""
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").is_file():
        return repo / ".cache" / "data"
    return Path.home() / ".cache" / "metalearners-core" / "data"


def cache_path(source: DataSource, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where :func:`load_data` keeps the data set: ``<cache_dir>/<data_key>.npz``."""
    spec = as_data_spec(source)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / f"{spec.key}.npz"


def _read(path: Path, spec: DataSpec) -> SyntheticData | None:
    """The cached data set, or ``None`` if the file is missing, foreign or damaged."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if str(npz["key"]) != spec.key:
                return None
            arrays = {name: npz[name] for name in ARRAY_FIELDS}
    except (FileNotFoundError, KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError):
        return None
    n, k1 = spec.n_rows, spec.n_variants - 1
    n_test = min(n, MAX_TEST_ROWS)
    expected = {
        "X": (n, spec.n_features),
        "y": (n,),
        "w": (n,),
        "cate": (n, k1),
        "X_test": (n_test, spec.n_features),
        "cate_test": (n_test, k1),
    }
    if any(arrays[name].shape != shape for name, shape in expected.items()):
        return None
    return SyntheticData(**arrays, spec=spec)


def _write_atomic(path: Path, data: SyntheticData) -> None:
    """Write to a temp file in the same folder, then ``os.replace`` it into place:
    readers see either no file or a complete one, and concurrent writers of the
    same key write identical content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(
                f,
                key=np.array(data.spec.key),
                spec=np.array(json.dumps(data.spec.to_dict(), sort_keys=True)),
                **{name: getattr(data, name) for name in ARRAY_FIELDS},
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_data(
    source: DataSource, cache_dir: str | os.PathLike[str] | None = None
) -> SyntheticData | FileTable:
    """The data set of a scenario, from the disk cache when present.

    A scenario on a data file (or its :class:`FileData`) gets its converted arrays,
    memory-mapped (:func:`scenarios.files.load_file_data`).

    On a miss (or a damaged file) the data is generated and written atomically to
    :func:`cache_path`; later calls, from any process, only read the ``.npz``
    (uncompressed, so loading costs about a disk read).
    """
    file_data = source.data if isinstance(source, Scenario) else source
    if isinstance(file_data, FileData):
        return load_file_data(file_data, Path(cache_dir) if cache_dir is not None else default_cache_dir())
    spec = as_data_spec(source)
    path = cache_path(spec, cache_dir)
    cached = _read(path, spec)
    if cached is not None:
        return cached
    data = generate(spec)
    _write_atomic(path, data)
    return data
