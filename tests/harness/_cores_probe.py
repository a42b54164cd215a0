"""A workload for the --cores tests: what a trial's child sees of its cores (run by name in the child)."""

from __future__ import annotations

import os


class CoresProbe:
    def prepare(self) -> None:
        pass

    def run_once(self) -> None:
        pass

    def result_extras(self) -> dict:
        import joblib

        from harness.measure import available_cores

        return {
            "affinity": sorted(os.sched_getaffinity(0)),
            "joblib_cpu_count": joblib.cpu_count(),
            "available_cores": available_cores(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        }
