"""The command-line shorthand for one workload on the user's own data file.

``python -m harness sweep --data events.parquet --outcome y --treatment w --learner DR
--model lightgbm --model-params n_estimators=500,num_leaves=63`` needs no TOML: the
flags become the one ``[[scenario]]`` of a preset (:func:`preset_text`), which
``init-preset`` prints to edit and keep, and which ``sweep`` writes next to its
results database (``<db folder>/workloads/<file>-<digest>.toml``) and sweeps like any
``--scenarios`` file, so that resuming and the report's command line work as usual.
``measure`` builds the scenario directly (:func:`data_scenario`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from harness.errors import UsageError, user_input

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["add_data_options", "data_preset_file", "data_scenario", "parse_model_params", "preset_text"]


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """The flags that describe one workload on a data file."""
    group = parser.add_argument_group("your own workload (instead of a preset)")
    group.add_argument("--data", help="a CSV, zipped CSV or Parquet file of your data")
    group.add_argument("--outcome", help="the outcome column (with --data)")
    group.add_argument("--treatment", help="the treatment column (with --data); its labels become variants 0..k-1")
    group.add_argument("--features", help="comma-separated feature columns (default: every other column)")
    group.add_argument("--classification", action="store_true", help="the outcome is 0/1 (classifier nuisance models)")
    group.add_argument("--learner", default="DR", help="S, T, X, R or DR (default DR)")
    group.add_argument("--folds", type=int, default=5, help="cross-fitting folds (default 5)")
    group.add_argument("--model", default="lightgbm", help="a registry name (lightgbm, random_forest, ...) or package.module:Class (default lightgbm)")
    group.add_argument("--model-params", default="", help="params of every base model, like n_estimators=500,num_leaves=63")
    group.add_argument("--encode-categoricals", default="native", help="native (LightGBM takes them), onehot or ordinal")


def parse_model_params(text: str) -> dict[str, Any]:
    """``"n_estimators=500,learning_rate=0.05,boosting_type=goss"`` as a dict (TOML
    values: numbers, booleans; anything else a string)."""
    params: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--model-params {text!r}: {part!r} is not name=value")
        try:
            params[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            params[key.strip()] = value.strip()
    return params


def _entry(args: argparse.Namespace) -> dict[str, Any]:
    missing = [flag for flag, value in (("--outcome", args.outcome), ("--treatment", args.treatment)) if not value]
    if missing:
        raise UsageError(f"--data {args.data}: {' and '.join(missing)} must be given too")
    data: dict[str, Any] = {"path": str(Path(args.data).expanduser().resolve()), "outcome": args.outcome, "treatment": args.treatment}
    if args.features:
        data["features"] = [f.strip() for f in args.features.split(",") if f.strip()]
    if args.encode_categoricals != "native":
        data["encode_categoricals"] = args.encode_categoricals
    entry: dict[str, Any] = {"learner": args.learner, "n_folds": args.folds, "base_model": args.model}
    if args.classification:
        entry["outcome"] = "binary"
    params = parse_model_params(args.model_params)
    if params:
        entry["model_params"] = params
    entry["data"] = data
    return entry


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # numbers; strings as TOML basic strings


def preset_text(args: argparse.Namespace) -> str:
    """The preset TOML of what the flags say (one ``[[scenario]]``)."""
    entry = _entry(args)
    lines = [f"# your own workload: {Path(args.data).name}", "[[scenario]]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in entry.items()]
    return "\n".join(lines) + "\n"


def data_preset_file(args: argparse.Namespace) -> Path:
    """The flags' preset, written to ``<db folder>/workloads/`` (same flags, same file)."""
    if getattr(args, "preset", None) or getattr(args, "scenarios", None):
        raise UsageError("--data replaces --preset and --scenarios; give one of them")
    text = preset_text(args)
    folder = Path(args.db).parent / "workloads"
    path = folder / f"{Path(args.data).name.split('.')[0]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}.toml"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not path.is_file():
            path.write_text(text)
    except OSError as e:
        raise UsageError(f"{path}: cannot write the workload's preset: {e.strerror or e}") from None
    return path


def data_scenario(args: argparse.Namespace):
    """The scenario the flags describe (the file read and cached, checked)."""
    from scenarios.files import file_scenario

    with user_input(f"--data {args.data}: "):
        return file_scenario(_entry(args))
