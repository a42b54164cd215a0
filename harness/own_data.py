"""The command-line shorthand for one workload on the user's own data file.

``python -m harness sweep --data events.parquet --outcome y --treatment w --learner DR
--model lightgbm --model-params n_estimators=500,num_leaves=63`` needs no TOML: the
flags become the one ``[[scenario]]`` of a preset (:func:`preset_text`), which
``init-preset`` prints to edit and keep, and which ``sweep`` writes next to its
results database (``<db folder>/workloads/<file>-<digest>.toml``) and sweeps like any
``--scenarios`` file, so that resuming and the report's command line work as usual.
``measure`` builds the scenario directly (:func:`data_scenario`). The same workload
from keywords (:func:`workload_entry`) is what the Python API (:mod:`harness.api`) sweeps.
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

__all__ = [
    "add_data_options", "data_preset_file", "data_scenario", "entry_scenario", "parse_model_params",
    "preset_text", "workload_entry", "write_workload_preset",
]


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """The flags that describe one workload on a data file."""
    group = parser.add_argument_group("your own workload (instead of a preset)")
    group.add_argument("--data", help="a CSV, zipped CSV or Parquet file of your data")
    group.add_argument("--outcome", help="the outcome column (with --data)")
    group.add_argument("--treatment", help="the treatment column (with --data); its labels become variants 0..k-1")
    group.add_argument("--features", help="comma-separated feature columns (default: every other column)")
    group.add_argument("--weights", help="a column of sample weights (numbers >= 0), passed to the base-model fits; not a feature")
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


def workload_entry(
    path: str | Path,
    *,
    outcome: str,
    treatment: str,
    features: list[str] | None = None,
    weights: str | None = None,
    classification: bool = False,
    learner: str = "DR",
    folds: int = 5,
    model: str = "lightgbm",
    model_params: dict[str, Any] | None = None,
    encode_categoricals: str = "native",
) -> dict[str, Any]:
    """The ``[[scenario]]`` entry of one workload on a data file (defaults left out)."""
    data: dict[str, Any] = {"path": str(Path(path).expanduser().resolve()), "outcome": outcome, "treatment": treatment}
    if features:
        data["features"] = list(features)
    if weights:
        data["weights"] = weights
    if encode_categoricals != "native":
        data["encode_categoricals"] = encode_categoricals
    entry: dict[str, Any] = {"learner": learner, "n_folds": folds, "base_model": model}
    if classification:
        entry["outcome"] = "binary"
    if model_params:
        entry["model_params"] = dict(model_params)
    entry["data"] = data
    return entry


def _entry(args: argparse.Namespace) -> dict[str, Any]:
    missing = [flag for flag, value in (("--outcome", args.outcome), ("--treatment", args.treatment)) if not value]
    if missing:
        raise UsageError(f"--data {args.data}: {' and '.join(missing)} must be given too")
    return workload_entry(
        args.data,
        outcome=args.outcome,
        treatment=args.treatment,
        features=[f.strip() for f in args.features.split(",") if f.strip()] if args.features else None,
        weights=getattr(args, "weights", None),
        classification=args.classification,
        learner=args.learner,
        folds=args.folds,
        model=args.model,
        model_params=parse_model_params(args.model_params),
        encode_categoricals=args.encode_categoricals,
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # numbers; strings as TOML basic strings


def entry_text(entry: dict[str, Any]) -> str:
    """The preset TOML of one workload entry (one ``[[scenario]]``)."""
    from scenarios.weights import weights_note

    lines = [f"# your own workload: {Path(entry['data']['path']).name}"]
    if entry["data"].get("weights"):
        lines.append(f"# {weights_note(entry['learner'], entry['data']['weights'])}")
    lines.append("[[scenario]]")
    lines += [f"{key} = {_toml_value(value)}" for key, value in entry.items()]
    return "\n".join(lines) + "\n"


def preset_text(args: argparse.Namespace) -> str:
    """The preset TOML of what the flags say (one ``[[scenario]]``)."""
    return entry_text(_entry(args))


def write_workload_preset(entry: dict[str, Any], db: str | Path) -> Path:
    """The entry's preset, written once to ``<db folder>/workloads/`` (same workload, same file)."""
    text = entry_text(entry)
    folder = Path(db).parent / "workloads"
    name = Path(entry["data"]["path"]).name.split(".")[0]
    path = folder / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}.toml"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not path.is_file():
            path.write_text(text)
    except OSError as e:
        raise UsageError(f"{path}: cannot write the workload's preset: {e.strerror or e}") from None
    return path


def data_preset_file(args: argparse.Namespace) -> Path:
    """The flags' preset, written to ``<db folder>/workloads/`` after the scenario is
    checked (bad input writes nothing)."""
    if getattr(args, "preset", None) or getattr(args, "scenarios", None):
        raise UsageError("--data replaces --preset and --scenarios; give one of them")
    data_scenario(args)
    return write_workload_preset(_entry(args), args.db)


def entry_scenario(entry: dict[str, Any], what: str):
    """The scenario of a workload entry (the file read and cached, checked); a
    :class:`UsageError` of one line (starting with ``what``) for bad input. Says on
    stderr which base models sample weights cannot reach."""
    from scenarios.files import file_scenario
    from scenarios.weights import UNWEIGHTED, weights_note

    with user_input(what):
        scenario = file_scenario(entry)
    if scenario.data.weights and UNWEIGHTED[scenario.learner]:
        print(f"note: {weights_note(scenario.learner, scenario.data.weights)}", file=sys.stderr)
    return scenario


def data_scenario(args: argparse.Namespace):
    """The scenario the flags describe (the file read and cached, checked)."""
    with user_input(f"--data {args.data}: "):
        entry = _entry(args)
    return entry_scenario(entry, f"--data {args.data}: ")
