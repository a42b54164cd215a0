"""The harness's two locks: one trial at a time per host, one measuring command per store.

* :class:`HostTrialLock` -- an exclusive ``flock`` on a host-wide file
  (``$HARNESS_LOCK_FILE``, default ``<tmp>/metalearners-harness-trial.lock``) held
  around every measured trial and around data generation, by sweep, tune and
  recommend alike: trials of commands started at once take turns instead of
  measuring each other. Released by the kernel if the holder dies.
* :func:`store_lock` -- an exclusive, non-blocking ``flock`` on ``<db>.lock`` that a
  measuring command holds for its whole run, so a second one is refused with the
  holder's pid (or, with ``allow_concurrent``, warned about).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from harness.errors import LockBusy

__all__ = ["HOST_LOCK_ENV", "HostTrialLock", "host_lock_path", "store_lock"]

#: Environment variable naming the host-wide lock file that serialises trials.
HOST_LOCK_ENV = "HARNESS_LOCK_FILE"


def host_lock_path() -> Path:
    return Path(os.environ.get(HOST_LOCK_ENV) or Path(tempfile.gettempdir()) / "metalearners-harness-trial.lock")


class HostTrialLock:
    """The host-wide trial lock; ``held()`` waits for another process's trial.

    ``on_first_wait`` is called the first time this process has to wait (to say so);
    ``waits`` counts the waits. ``enabled=False`` makes ``held()`` a no-op (tests,
    ``--allow-concurrent``). Where the lock file cannot be opened, trials of this
    process still run one at a time.
    """

    def __init__(self, enabled: bool = True, on_first_wait: Callable[[], None] | None = None) -> None:
        self.waits = 0
        self._on_first_wait = on_first_wait
        self._fd: int | None = None
        if enabled:
            try:
                path = host_lock_path()
                path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError:
                self._fd = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if self._fd is None:
            yield
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.waits += 1
            if self.waits == 1 and self._on_first_wait is not None:
                self._on_first_wait()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> HostTrialLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def store_lock(
    db: str | Path, allow_concurrent: bool = False, command: str = "tune", warn: Callable[[str], None] | None = None
) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``<db>.lock`` while measuring; yields whether it is held.

    Raises :class:`LockBusy` when another process holds it, unless ``allow_concurrent``:
    then it warns and goes on without the lock.
    """
    warn = warn or (lambda text: print(f"warning: {text}", file=sys.stderr))
    path = Path(str(db) + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    held = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = True
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            holder = _read_holder(path)
            if not allow_concurrent:
                raise LockBusy(
                    f"another measuring process ({holder}) holds {path}: one tune/sweep at a time per "
                    "machine, or their timings corrupt each other; wait for it, or pass "
                    "--allow-concurrent to measure anyway"
                ) from None
            warn(
                f"--allow-concurrent: another measuring process ({holder}) holds {path}; the timings of "
                "trials that run concurrently on one host are corrupted (they compete for the cores)"
            )
        if held:
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} ({command})\n".encode())
        yield held
    finally:
        if held:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown pid"
    except OSError:
        return "unknown pid"
