"""The oversubscription guard: explicit settings that ask for more threads in flight than cores.

Threads in flight are (threads per base model) x (workers in flight), the workers
being the pool's (fold workers x stage workers for explicit levels; one for a
sequential backend). The library's own choices keep to the cores: a model thread
count it sets is ``cores // workers`` (:func:`~.plan.with_explicit_threads`) and
``"auto"`` never plans more workers than cores. Explicit ones can multiply past
them, e.g. ``nuisance_model_params={"n_jobs": 2}`` with ``n_jobs_cross_fitting=2,
n_jobs_base_learners=2`` runs 8 LightGBM threads on 2 cores, which makes a fit many
times slower than a serial one. What a fit does then is the ``oversubscription``
setting (:func:`metalearners_core.set_config`):

* ``"warn"`` (default): run as asked, with one :class:`OversubscriptionWarning` per
  fit naming the threads in flight and the cores;
* ``"limit"``: cap at the cores, threads per model first (down to one), then
  workers: a grid search's grid workers first, then stage workers, then fold
  workers (a model's folds are equal fits, so the fold level keeps the load
  even). The answer never depends on the split, so a limited fit gives the same
  models;
* ``"allow"``: run as asked, silently.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from typing import Any

from metalearners_core._execution.jobs import Plan
from metalearners_core._execution.plan import _THREAD_KEYWORDS, with_explicit_threads

POLICIES = ("warn", "limit", "allow")
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class OversubscriptionWarning(RuntimeWarning):
    """A fit whose explicit settings ask for more threads in flight than cores."""


def workers_in_flight(plan: Plan) -> int:
    return 1 if plan.backend == "sequential" else plan.workers


def limit_workers(plan: Plan, cores: int) -> Plan:
    """The plan with at most ``cores`` workers: grid workers reduced first, then stage
    workers, then fold workers."""
    if workers_in_flight(plan) <= cores:
        return plan
    fold_workers = min(plan.fold_workers, cores)
    stage_workers = max(1, min(plan.stage_workers, cores // fold_workers))
    graph_workers = max(1, min(plan.graph_workers, cores // (fold_workers * stage_workers)))
    workers = fold_workers * stage_workers * graph_workers
    backend = "sequential" if workers == 1 and plan.backend != "dask" else plan.backend
    return dataclasses.replace(
        plan, fold_workers=fold_workers, stage_workers=stage_workers, graph_workers=graph_workers,
        workers=workers, model_threads=max(1, cores // workers), backend=backend,
    )


def _explicit_threads(params: dict, cores: int) -> int | None:
    """The thread count the user gave a model (joblib's and LightGBM's meaning of
    negative values and 0), or None where the library chooses it or cannot tell."""
    value = next((params[k] for k in _THREAD_KEYWORDS if params.get(k) is not None), None)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if value < 0:
        return max(1, cores + 1 + value)
    return value or cores  # LightGBM: 0 is OpenMP's default, all cores


def _outside_package_stacklevel() -> int:
    """The stacklevel of the first caller outside this package (the user's fit call)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


class ThreadGuard:
    """Gives each job its model params for one fit, and applies the policy to them."""

    def __init__(self, plan: Plan, cores: int, policy: str) -> None:
        if policy not in POLICIES:
            raise ValueError(f"oversubscription={policy!r} is not allowed; choose one of {', '.join(map(repr, POLICIES))}")
        self.plan, self.cores, self.policy = plan, cores, policy
        self.warned = False

    def params(self, factory: Any, params: dict) -> dict:
        """The params a job's models are built with: the library's thread count where the
        user set none, and the user's own, capped at the cores under ``"limit"``."""
        params = with_explicit_threads(factory, params, self.plan.model_threads)
        threads = _explicit_threads(params, self.cores) or self.plan.model_threads
        workers = workers_in_flight(self.plan)
        if threads * workers <= self.cores or self.policy == "allow":
            return params
        if self.policy == "limit":
            capped = max(1, self.cores // workers)
            return {k: capped if k in _THREAD_KEYWORDS and v is not None else v for k, v in params.items()}
        if not self.warned:
            self.warned = True
            warnings.warn(self._message(threads), OversubscriptionWarning, stacklevel=_outside_package_stacklevel())
        return params

    def _message(self, threads: int) -> str:
        plan = self.plan
        per_model = _count(threads, "thread") + " per model"
        if plan.backend == "sequential":
            factors = f"{per_model} x 1 worker"
        elif plan.workers == plan.fold_workers * plan.stage_workers * plan.graph_workers:
            factors = f"{per_model} x {_count(plan.fold_workers, 'fold worker')} x {_count(plan.stage_workers, 'stage worker')}"
            if plan.graph_workers > 1:
                factors += f" x {_count(plan.graph_workers, 'grid worker')}"
        else:
            factors = f"{per_model} x {_count(plan.workers, 'worker')}"
        return (
            f"{threads * workers_in_flight(plan)} threads in flight ({factors}) on {self.cores} cores: the explicit "
            "thread settings oversubscribe the machine, which can make the fit many times slower. Lower n_jobs in "
            "the *_model_params or n_jobs_cross_fitting / n_jobs_base_learners, or call "
            "metalearners_core.set_config(oversubscription='limit') to cap them at the cores "
            "('allow' runs them as asked, silently)."
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
