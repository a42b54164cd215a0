from __future__ import annotations

import os
import re

import numpy
import psutil

from harness.manifest import collect_manifest, finish_manifest


def test_manifest_describes_machine_software_and_commit():
    m = collect_manifest()
    for key in (
        "hostname", "timestamp_start", "cpu_model", "cores_logical", "cores_physical",
        "cpu_affinity", "cores_available", "memory_total_mb", "loadavg_start", "os",
        "kernel", "python", "packages", "git_commit", "git_dirty",
    ):
        assert key in m, key
    assert m["cores_logical"] == os.cpu_count()
    assert m["cpu_affinity"] == sorted(os.sched_getaffinity(0))
    assert abs(m["memory_total_mb"] - psutil.virtual_memory().total / 2**20) < 1
    assert len(m["loadavg_start"]) == 3
    packages = m["packages"]
    for name in ("numpy", "pandas", "scikit-learn", "lightgbm", "joblib", "threadpoolctl",
                 "psutil", "metalearners", "metalearners-core"):
        assert name in packages
    assert packages["numpy"] == numpy.__version__
    assert packages["psutil"] == psutil.__version__
    assert re.fullmatch(r"[0-9a-f]{40}", m["git_commit"])
    assert isinstance(m["git_dirty"], bool)

    end = finish_manifest(m)
    assert len(end["loadavg_end"]) == 3 and "timestamp_end" in end
    assert "loadavg_end" not in m
