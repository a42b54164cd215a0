"""The harness's error types: what the user asked for cannot be done, said in one line.

Every error a user can cause (a bad option, an unknown scenario, an empty store, a
busy lock) is a :class:`HarnessError` (a ``ValueError`` as well, so library callers
that catch ``ValueError`` keep working). The CLI prints those as one line and exits
with status 2; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["HarnessError", "LockBusy", "NoData", "UsageError"]


class HarnessError(ValueError):
    """A problem with what the user asked for: reported as one line, exit status 2."""


class UsageError(HarnessError):
    """A bad option value, scenario, preset or path (named in the message)."""


class NoData(HarnessError):
    """The store has no usable measurement for what was asked (the message says how to get one)."""


class LockBusy(HarnessError):
    """Another measuring process holds the store's lock."""
