"""What the paths a user gives (``--db``, ``--out``, ``--plot``) may be, checked the same way
for every command.

One behaviour for every path option: a results database must be a file (a directory
is named as such, never "no such database"); every ``--out`` creates its missing
parent folders; an ``--out`` that must be a file but is a directory, or must be a
directory but is a file, is one :class:`~harness.errors.UsageError` line (exit 2);
an existing file is replaced, and the command says so (:func:`wrote`).
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import UsageError

__all__ = ["db_path", "out_dir", "out_file", "wrote"]


def db_path(text: str | Path, must_exist: bool, flag: str = "--db") -> Path:
    """A results database path: a file, or (``must_exist=False``) one that can be created."""
    path = Path(text)
    if path.is_dir():
        raise UsageError(f"{flag} {text}: is a directory, not a results database file (give a file such as {path / 'harness.db'})")
    if path.exists() and not path.is_file():
        raise UsageError(f"{flag} {text}: is not a regular file")
    if must_exist and not path.exists():
        raise UsageError(f"{flag} {text}: no such results database (run `python -m harness sweep --db {text}` first)")
    parent = path.parent
    if not must_exist and parent.exists() and not parent.is_dir():
        raise UsageError(f"{flag} {text}: {parent} is not a directory")
    return path


def _make_parents(path: Path, flag: str, text: str | Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{flag} {text}: {_first_file(path)} is a file, not a directory") from None
    except NotADirectoryError:
        raise UsageError(f"{flag} {text}: {_first_file(path)} is a file, not a directory") from None
    except OSError as e:
        raise UsageError(f"{flag} {text}: cannot create the folder {path}: {e.strerror or e}") from None


def _first_file(path: Path) -> Path:
    """The first ancestor of ``path`` (or itself) that exists and is not a directory."""
    for p in [*reversed(path.parents), path]:
        if p.exists() and not p.is_dir():
            return p
    return path


def out_file(text: str | Path, flag: str = "--out") -> Path:
    """An output file: not a directory; its missing parent folders are created."""
    path = Path(text)
    if path.is_dir():
        raise UsageError(f"{flag} {text}: is a directory; give a file name")
    _make_parents(path.parent, flag, text)
    return path


def out_dir(text: str | Path, flag: str = "--out") -> Path:
    """An output folder: not a file; it and its missing parents are created."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {text}: is a file; give a folder (it is created if missing)")
    _make_parents(path, flag, text)
    return path


def wrote(path: Path, existed: bool) -> str:
    """The line a command prints after writing ``path``: says when it replaced a file."""
    return f"wrote {path}" + (" (replaced the existing file)" if existed else "")
