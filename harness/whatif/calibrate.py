"""What a worker pool costs on this machine, for the what-if predictor: start-up and per-task dispatch.

A small calibration, run once per machine in a fresh interpreter (so that the pool's
imports are cold, as in a trial's first fit) and cached as JSON next to the results
store (``<db>.whatif.json``, keyed by host name): the seconds to start joblib's loky
pool of two workers that import LightGBM and scikit-learn (a cold fit's process
pool), and the mean round trip of one small task through a warm loky pool and
through a thread pool (what each fit pays to be handed to a worker). A few seconds of
CPU; ``--recalibrate`` measures again. LightGBM's binning time per data shape (what a
fit in a worker process pays that an in-process pool shares) is measured on demand.
"""

from __future__ import annotations

import functools
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from harness.pools import POOL_COST_SCRIPT as _SCRIPT

__all__ = ["PoolCosts", "pool_costs"]


class PoolCosts(dict):
    """``loky_start_s``, ``loky_dispatch_s``, ``thread_dispatch_s`` (seconds) and ``host``."""

    def dispatch_s(self, kind: str) -> float:
        """Per-task cost of a pool of ``kind``: "processes", "threads" or "sequential"."""
        return {"processes": self["loky_dispatch_s"], "threads": self["thread_dispatch_s"]}.get(kind, 0.0)

    def binning_s(self, rows: int, features: int) -> float:
        """Seconds LightGBM takes to bin ``rows`` x ``features`` (random normal data, one
        thread, median of 3; measured here once per shape and process)."""
        return _binning_s(rows, features)

    def start_s(self, kind: str) -> float:
        """Start-up a cold fit pays for a pool of ``kind`` (a thread pool's is in its dispatch)."""
        return self["loky_start_s"] if kind == "processes" else 0.0


@functools.lru_cache(maxsize=None)
def _binning_s(rows: int, features: int) -> float:
    import lightgbm
    import numpy as np

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(rows, features)), rng.normal(size=rows)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        lightgbm.Dataset(X, label=y, params={"verbose": -1, "num_threads": 1}).construct()
        times.append(time.perf_counter() - t0)
    return sorted(times)[1]


def _measure() -> dict:
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def pool_costs(db: str | Path, recalibrate: bool = False) -> PoolCosts:
    """This machine's :class:`PoolCosts`: from the cache next to ``db``, else measured and cached."""
    cache = Path(f"{db}.whatif.json")
    host = socket.gethostname()
    cached: dict = {}
    if cache.is_file():
        try:
            cached = json.loads(cache.read_text())
        except ValueError:
            cached = {}  # a damaged cache is measured again
    if recalibrate or host not in cached:
        cached[host] = _measure()
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(cached, indent=1, sort_keys=True))
    return PoolCosts({**cached[host], "host": host})
