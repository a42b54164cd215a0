"""The harness's error types: what the user asked for cannot be done, said in one line.

Every error a user can cause (a bad option, an unknown scenario, an empty store, a
busy lock) is a :class:`HarnessError` (a ``ValueError`` as well, so library callers
that catch ``ValueError`` keep working). The CLI prints those as one line and exits
with status 2; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["HarnessError", "LockBusy", "NoData", "UsageError", "user_input"]


class HarnessError(ValueError):
    """A problem with what the user asked for: reported as one line, exit status 2."""


class UsageError(HarnessError):
    """A bad option value, scenario, preset or path (named in the message)."""


class NoData(HarnessError):
    """The store has no usable measurement for what was asked (the message says how to get one)."""


class LockBusy(HarnessError):
    """Another measuring process holds the store's lock."""


@contextlib.contextmanager
def user_input(what: str = "") -> Iterator[None]:
    """Treat ``ValueError``/``TypeError``/missing files raised while reading what the user
    gave (options, presets, scenario fields, a store path) as a :class:`UsageError`.

    Only for validation phases: inside measuring or analysis code such an exception is
    a bug and must keep its traceback.
    """
    try:
        yield
    except HarnessError:
        raise
    except (ValueError, TypeError, FileNotFoundError, PermissionError, IsADirectoryError) as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UsageError(f"{what}{message}") from e
