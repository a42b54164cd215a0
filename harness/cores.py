"""``--cores N``: a trial limited to N CPUs of this machine, and the checks of what the user typed.

A trial with ``cores`` set runs its child pinned to N CPUs (:func:`pin`, called in the
child between fork and exec, so before any import; every process it starts inherits
the affinity). Everything that derives a core count then follows it without being
told: the harness's :func:`harness.measure.available_cores` (the affinity), joblib's and
loky's ``cpu_count`` (the affinity, and ``LOKY_MAX_CPU_COUNT``, set as well), and
OpenMP's default thread count in LightGBM (libgomp counts the CPUs of the affinity).
``OMP_NUM_THREADS`` is deliberately not set: joblib's loky pools derive their workers'
thread limit (``cores // n_jobs``) only where it is unset, and setting it would change
what the ``metalearners`` package does. The supervisor-side grids and bounds take N
from the command (:func:`cores_or_available`).
"""

from __future__ import annotations

import argparse
import os

from harness.errors import UsageError

__all__ = ["add_cores_option", "check_cores", "cores_or_available", "cpu_set", "limit_env", "parse_cores", "pin"]


def parse_cores(text: str) -> list[int]:
    """``--cores 1,2`` -> ``[1, 2]`` (argparse type): integers >= 1, at least one."""
    from harness.cli_parser import positive_ints  # imported here: cli_parser imports this module

    return positive_ints(text, "core count", "1 or 1,2", prefix=f"--cores {text!r}: ")


def check_cores(cores: int | list[int] | None) -> None:
    """One line (:class:`UsageError`) for a core count above the CPUs this process may use."""
    from harness.measure import available_cores

    if cores is None:
        return
    available = available_cores()
    for n in [cores] if isinstance(cores, int) else cores:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise UsageError(f"--cores {n!r} is not allowed; use an integer >= 1")
        if n > available:
            raise UsageError(f"--cores {n}: this machine lets the harness use {available} CPUs; choose 1..{available}")


def cores_or_available(cores: int | None) -> int:
    """The cores a command plans for: ``--cores`` where given, else what this process may use."""
    from harness.measure import available_cores

    return cores if cores is not None else available_cores()


def cpu_set(n: int) -> list[int]:
    """The first ``n`` CPUs of this process's affinity (a ``UsageError`` beyond them)."""
    allowed = sorted(os.sched_getaffinity(0))
    if not 1 <= n <= len(allowed):
        raise UsageError(f"--cores {n}: this process may use {len(allowed)} CPUs; choose 1..{len(allowed)}")
    return allowed[:n]


def limit_env(n: int) -> dict[str, str]:
    """What the child's environment adds to the affinity: loky's own cap (see the module)."""
    return {"LOKY_MAX_CPU_COUNT": str(n)}


def pin(cpus: list[int]):
    """A ``preexec_fn`` pinning the child to ``cpus``: one system call, safe after fork."""

    def preexec() -> None:
        os.sched_setaffinity(0, cpus)

    return preexec


def _one_core_count(text: str) -> int:
    values = parse_cores(text)
    if len(values) != 1:
        raise argparse.ArgumentTypeError(f"--cores {text!r}: give one core count here (a list only for sweep)")
    return values[0]


def add_cores_option(parser: argparse.ArgumentParser, many: bool = False) -> None:
    """``--cores`` on a measuring command: one count, or (``many``: sweep) a comma list."""
    what = "comma-separated core counts, one sweep each (e.g. 1,2: the strong-scaling curve)" if many else "a core count"
    parser.add_argument(
        "--cores", type=parse_cores if many else _one_core_count, default=None,
        help=f"{what}: pin every trial and the processes it starts to that many CPUs; the config grid, "
             "the library's and joblib's core counts and the ideal bound follow it (default: every CPU available)",
    )
