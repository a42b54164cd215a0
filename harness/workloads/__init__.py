"""Workloads: what a trial's child process runs and times.

A workload is built from the trial's params (as keyword arguments) and offers

* ``prepare()``   -- untimed: load cached data, build the estimator, warm imports;
* ``run_once()``  -- the timed part, called once per fit (first cold, then warm);
* ``result_extras() -> dict`` (optional) -- untimed, after each fit: anything worth
  keeping with that fit (a CATE RMSE, a task trace, a reference CPU figure).

The registry maps a name to ``"module:attribute"`` and imports it lazily, inside the
child, so a trial pays only for the imports of its own workload. It is a static table
on purpose: the child is a fresh interpreter, so anything registered at runtime in
the supervisor would not exist there. To add a workload, put it in its own module and
add one line to ``WORKLOADS``, or name it directly as ``"package.module:Factory"``.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Protocol, runtime_checkable

__all__ = ["WORKLOADS", "Workload", "make_workload", "resolve_workload"]


@runtime_checkable
class Workload(Protocol):
    def prepare(self) -> None: ...

    def run_once(self) -> None: ...


WORKLOADS: dict[str, str] = {
    # The real thing: fit a meta-learner (core or metalearners engine) on a scenario.
    "scenario": "harness.workloads.scenario:FitScenario",
    # A grid-search scenario: MetaLearnerGridSearch of either engine over the scenario's grid.
    "grid_search": "harness.workloads.grid_search:FitGridSearch",
    # A fitted learner's predict calls on a batch of rows (--phase predict).
    "predict": "harness.workloads.predict:PredictScenario",
    # Calibration workloads with independently known CPU / wall / memory figures.
    "burn_threads": "harness.workloads.calibration:BurnThreads",
    "burn_processes": "harness.workloads.calibration:BurnProcesses",
    "sleep": "harness.workloads.calibration:Sleep",
    "allocate": "harness.workloads.calibration:Allocate",
    "shared_map": "harness.workloads.calibration:SharedMap",
    # Failure modes, to prove the supervisor reports and cleans up.
    "crash": "harness.workloads.calibration:Crash",
    "hang": "harness.workloads.calibration:Hang",
    "raise_error": "harness.workloads.calibration:RaiseError",
}


def resolve_workload(name: str) -> Callable[..., Workload]:
    """The factory for a registered name or a ``"module:attribute"`` path."""
    target = WORKLOADS.get(name, name)
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise ValueError(
            f"unknown workload {name!r}: use one of {sorted(WORKLOADS)} "
            "or a 'package.module:Factory' path"
        )
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"workload {name!r} ({target}) cannot be loaded: {e}") from e


def make_workload(name: str, params: dict[str, Any]) -> Workload:
    workload = resolve_workload(name)(**params)
    if not isinstance(workload, Workload):
        raise TypeError(f"workload {name!r} built {workload!r}, which lacks prepare()/run_once()")
    return workload
