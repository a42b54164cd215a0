"""The run manifest: what a run was measured on.

:func:`collect_manifest` records, once at the start of a run, the machine (host, CPU
model, cores logical / physical / available, affinity, memory), its load, the OS and
Python, the versions of the packages that decide a fit's speed, the environment
variables that change how many threads a fit uses, and the git commit of the
checkout; :func:`finish_manifest` adds the closing load average and time. The store
keeps it with the run (``harness_runs.manifest``).
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from harness.measure import MIB, available_cores

__all__ = ["collect_manifest", "finish_manifest", "machine_type"]

_PACKAGES = (
    "numpy",
    "pandas",
    "scikit-learn",
    "lightgbm",
    "joblib",
    "threadpoolctl",
    "psutil",
    "optuna",
    "metalearners",
    "metalearners-core",
)
# Variables that change how many threads a fit really uses.
_THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "LOKY_MAX_CPU_COUNT",
    "JOBLIB_START_METHOD",
)


def collect_manifest(repo: str | Path | None = None) -> dict[str, Any]:
    """What a run was measured on: machine, load, software versions, commit.

    Call it once at the start of a run and :func:`finish_manifest` at the end (for
    the closing load average). ``repo`` defaults to the checkout holding this package.
    """
    vm = psutil.virtual_memory()
    try:
        affinity = sorted(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    return {
        "hostname": os.environ.get("HARNESS_HOSTNAME") or socket.gethostname(),  # a posing cluster worker
        "timestamp_start": _now(),
        "cpu_model": _cpu_model(),
        "cores_logical": psutil.cpu_count(logical=True),
        "cores_physical": psutil.cpu_count(logical=False),
        "cpu_affinity": affinity,
        "cores_available": available_cores(),
        "memory_total_mb": round(vm.total / MIB, 1),
        "loadavg_start": list(os.getloadavg()),
        "os": platform.platform(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "packages": {name: _version(name) for name in _PACKAGES},
        "thread_env": {k: os.environ[k] for k in _THREAD_ENV if k in os.environ},
        **_git(Path(repo) if repo else Path(__file__).resolve().parents[1]),
    }


def machine_type(manifest: dict[str, Any] | None) -> str | None:
    """What makes two hosts the same machine for a benchmark: CPU model, cores a trial may
    use, memory (GiB, rounded); None without a manifest."""
    if not manifest or not manifest.get("cpu_model"):
        return None
    cores = manifest.get("cores_available") or manifest.get("cores_logical")
    memory = manifest.get("memory_total_mb")
    gib = f", {round(memory / 1024)} GiB" if memory else ""
    return f"{manifest['cpu_model']}, {cores} cores{gib}"


def finish_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``manifest`` with the end-of-run load average and timestamp."""
    return {**manifest, "timestamp_end": _now(), "loadavg_end": list(os.getloadavg())}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    # platform.processor() is empty on most Linux systems; /proc/cpuinfo is the source.
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(repo: Path) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                # --no-optional-locks: never take index.lock, others may be committing.
                ["git", "--no-optional-locks", "-C", str(repo), *args],
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}
