"""Follow-up commands printed for the user: they carry every option that locates the data
(the store, the engine), so that pasting one works as printed."""

from __future__ import annotations

import shlex
from pathlib import Path

__all__ = ["DEFAULT_DB", "follow_up"]

DEFAULT_DB = Path("results") / "harness.db"


def follow_up(command: str, *, scenario: str | None = None, engine: str = "core", db: str | Path | None = None,
              extra: tuple[str, ...] = ()) -> str:
    """``python -m harness COMMAND [--scenario S] [--engine E] [--db DB] ...`` (defaults left out)."""
    parts = ["python", "-m", "harness", command]
    if scenario is not None:
        parts += ["--scenario", scenario]
    if engine != "core":
        parts += ["--engine", engine]
    if db is not None and Path(db) != DEFAULT_DB:
        parts += ["--db", str(db)]
    return shlex.join([*parts, *extra])
