"""Scenario presets: TOML files that expand into lists of :class:`Scenario`.

Format::

    # what the preset is for
    description = "one line"          # optional

    [defaults]                         # optional: fields shared by all entries
    n_features = 20
    base_model = "lightgbm"

    [sweep]                            # optional: how to sweep it (flags win)
    repeats = 3                        # trials (processes) per config
    values = 2                         # warm fits per trial, after the cold one

    [[scenario]]                       # one or more entries
    learner = ["S", "T", "X", "R", "DR"]   # a list expands to a grid
    n_rows = 50000
    n_variants = 2
    n_folds = 5

A grid-search scenario gives its grid after its entry (see :mod:`scenarios.grid`)::

    [[scenario]]
    learner = "T"
    [scenario.grid.base_learner_grid]
    variant_outcome_model = ["linear", "lightgbm"]
    [scenario.grid.param_grid.variant_outcome_model.LGBMRegressor]
    n_estimators = [50, 100]

A scenario on the user's own table names it instead of ``n_rows``/``n_variants``:
``data = { path = "events.parquet", outcome = "y", treatment = "w" }`` (a path relative
to the preset file; see :mod:`scenarios.files`), and any scenario can give its base
models as the user runs them: ``model_params = {...}``, ``nuisance_model = { model =
"package.module:Class", model_params = {...} }`` (see :mod:`scenarios.models`).

Each entry is merged over ``[defaults]``; every field given as a list (in the entry
or in the defaults) expands to the cartesian product of the lists. A bad preset
raises :class:`PresetError` with one line naming the file, the entry and the key;
nothing is returned half-loaded.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scenarios.files import file_scenario
from scenarios.grid import GRID_BASE_MODEL
from scenarios.spec import Scenario

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

#: Folder of the bundled presets.
PRESET_DIR = Path(__file__).resolve().parent / "presets"
_TOP_LEVEL_KEYS = ("description", "defaults", "scenario", "sweep")
#: How a preset asks to be swept (command-line flags win): key -> (check, allowed).
_SWEEP_KEYS = {
    "repeats": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1"),
    "values": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1"),
    "levels": (
        lambda v: isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v),
        "a non-empty list of integers >= 1",
    ),
    "backends": (
        lambda v: isinstance(v, list) and v and all(x in ("loky", "threading") for x in v),
        'a non-empty list of "loky", "threading"',
    ),
    # sweep --phase predict: rows per predict call, and its own repeats / values
    "predict_batches": (
        lambda v: isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v),
        "a non-empty list of integers >= 1 (rows per predict call)",
    ),
    "predict_repeats": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1"),
    "predict_values": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1"),
    "predict_configs": (
        lambda v: isinstance(v, list) and v and all(isinstance(x, str) and x.startswith("p-") for x in v),
        'a non-empty list of predict config ids ("p-serial", "p-n2-rows", "p-auto", ...)',
    ),
}
_FIELDS = tuple(f.name for f in dataclasses.fields(Scenario))
_REQUIRED = tuple(
    f.name for f in dataclasses.fields(Scenario) if f.default is dataclasses.MISSING
)


_REQUIRED_WITH_FILE = tuple(name for name in _REQUIRED if name not in ("n_rows", "n_variants"))


class PresetError(ValueError):
    """A preset cannot be loaded; the message is one line naming file and key."""


def list_presets() -> list[str]:
    """Names of the bundled presets (``scenarios/presets/*.toml``), sorted."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset_descriptions() -> dict[str, str]:
    """``{name: description}`` of the bundled presets (their ``description`` key;
    empty when a preset has none or cannot be parsed)."""
    out: dict[str, str] = {}
    for name in list_presets():
        try:
            with (PRESET_DIR / f"{name}.toml").open("rb") as f:
                description = tomllib.load(f).get("description", "")
        except (OSError, tomllib.TOMLDecodeError):
            description = ""
        out[name] = description if isinstance(description, str) else ""
    return out


def preset_path(name_or_path: str | os.PathLike[str]) -> Path:
    """Resolve a bundled preset name (``"default"``) or a path to a ``.toml`` file."""
    text = os.fspath(name_or_path)
    candidate = Path(text)
    looks_like_path = candidate.suffix == ".toml" or os.sep in text or "/" in text
    if looks_like_path:
        if not candidate.is_file():
            raise PresetError(f"{text}: preset file not found")
        return candidate
    bundled = PRESET_DIR / f"{text}.toml"
    if not bundled.is_file():
        raise PresetError(
            f"{text}: unknown preset name; available presets: {', '.join(list_presets())}"
            " (or pass a path to a .toml file)"
        )
    return bundled


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _expand(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Cartesian product over the list-valued fields of one merged entry."""
    names = list(entry)
    axes = [entry[k] if isinstance(entry[k], list) else [entry[k]] for k in names]
    return [dict(zip(names, combo)) for combo in itertools.product(*axes)]


def _check_table(where: str, table: Any, what: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise PresetError(f"{where}: {what} must be a table, got {type(table).__name__}")
    unknown = [k for k in table if k not in _FIELDS]
    if unknown:
        raise PresetError(
            f"{where}: unknown key {unknown[0]!r} in {what}; allowed keys: {', '.join(_FIELDS)}"
        )
    for key, value in table.items():
        if isinstance(value, list) and not value:
            raise PresetError(f"{where}: key {key!r} in {what} is an empty list")
        if isinstance(value, list) and len(set(map(repr, value))) != len(value):
            raise PresetError(f"{where}: key {key!r} in {what} repeats a value: {value!r}")
    return table


def load_preset(name_or_path: str | os.PathLike[str]) -> list[Scenario]:
    """Load a bundled preset by name or a preset file by path.

    Returns the scenarios in file order (grids expand in key order, last key
    fastest). Raises :class:`PresetError` (a ``ValueError``) with one line naming the
    file, the ``[[scenario]]`` entry and the key for: unreadable or invalid TOML,
    unknown keys (typos), wrong types or values, missing required fields, empty
    lists, an unknown preset name (listing the available ones), and duplicate
    scenarios after expansion.
    """
    where, doc = _read(name_or_path)
    unknown = [k for k in doc if k not in _TOP_LEVEL_KEYS]
    if unknown:
        raise PresetError(
            f"{where}: unknown top-level key {unknown[0]!r}; "
            f"allowed keys: {', '.join(_TOP_LEVEL_KEYS)}"
        )
    if "description" in doc and not isinstance(doc["description"], str):
        raise PresetError(f"{where}: key 'description' must be a string")
    _sweep_settings(where, doc)
    defaults = _check_table(where, doc.get("defaults", {}), "[defaults]")
    entries = doc.get("scenario")
    if not isinstance(entries, list) or not entries:
        raise PresetError(
            f"{where}: no [[scenario]] entries; add at least one [[scenario]] table"
        )

    scenarios: list[Scenario] = []
    origin: dict[Scenario, int] = {}
    for index, raw in enumerate(entries, start=1):
        what = f"[[scenario]] #{index}"
        entry = _check_table(where, raw, what)
        merged = {**defaults, **entry}
        if "grid" in merged and "base_model" not in entry:  # a default base_model is not a grid's
            merged["base_model"] = GRID_BASE_MODEL
        for fields in _expand(merged):
            # On a data file, rows, features and variants come from the file.
            required = _REQUIRED_WITH_FILE if "data" in fields else _REQUIRED
            missing = [name for name in required if name not in fields]
            if missing:
                raise PresetError(
                    f"{where}: {what}: missing key(s) {', '.join(map(repr, missing))}; "
                    "set them in the entry or in [defaults]"
                )
            try:
                if "data" in fields:
                    scenario = file_scenario(fields, base_dir=Path(where).resolve().parent)
                else:
                    scenario = Scenario(**fields)
            except (TypeError, ValueError, OSError) as exc:
                raise PresetError(f"{where}: {what}: {_one_line(str(exc))}") from None
            if scenario in origin:
                raise PresetError(
                    f"{where}: {what}: duplicate scenario {scenario.id} "
                    f"(already defined by [[scenario]] #{origin[scenario]})"
                )
            origin[scenario] = index
            scenarios.append(scenario)
    return scenarios


def _read(name_or_path: str | os.PathLike[str]) -> tuple[str, dict[str, Any]]:
    path = preset_path(name_or_path)
    where = str(path)
    try:
        with path.open("rb") as f:
            return where, tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{where}: invalid TOML: {_one_line(str(exc))}") from None
    except OSError as exc:
        raise PresetError(f"{where}: cannot read: {_one_line(str(exc))}") from None


def _sweep_settings(where: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    table = doc.get("sweep", {})
    if not isinstance(table, dict):
        raise PresetError(f"{where}: [sweep] must be a table")
    for key, value in table.items():
        if key not in _SWEEP_KEYS:
            raise PresetError(f"{where}: unknown key {key!r} in [sweep]; allowed keys: {', '.join(_SWEEP_KEYS)}")
        check, allowed = _SWEEP_KEYS[key]
        if not check(value):
            raise PresetError(f"{where}: [sweep] {key} = {value!r} is not allowed; use {allowed}")
    return dict(table)


def sweep_settings(name_or_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The preset's optional ``[sweep]`` table: ``repeats`` (trials per config), ``values``
    (warm fits per trial, after the cold one), ``levels``, ``backends``; for ``sweep --phase
    predict``: ``predict_batches`` (rows per call), ``predict_repeats``, ``predict_values``,
    ``predict_configs`` (ids; default: the whole predict grid)."""
    where, doc = _read(name_or_path)
    return _sweep_settings(where, doc)


__all__ = [
    "PRESET_DIR",
    "PresetError",
    "list_presets",
    "load_preset",
    "preset_descriptions",
    "preset_path",
    "sweep_settings",
]
