"""Several learners' task graphs run as one: a grid search's single pool, with identical fits shared.

Each grid point's learner builds the task graph of its own fit (its first-stage
:class:`CrossFitJob` s, its :class:`Deferred` second stage and its pre-fitted
models) without running it. :func:`run_learner_graphs` tags every job, deferred job
and dependency with its grid point, so that the learners' models never mix, and
runs the union through :func:`run_fit_graph` in one pool with a :class:`JobIdentity`:
a model with the same factory, parameters, data, folds, fit params and predictions
as another grid point's is fitted once and handed to both. A deferred job waits for
its own grid point's models (which may have been fitted for another grid point).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial

from metalearners_core._execution.identity import JobIdentity
from metalearners_core._execution.jobs import CrossFitJob, Deferred, FittedCrossFit, ModelKey, Plan
from metalearners_core._execution.scheduler import run_fit_graph


@dataclass(frozen=True)
class LearnerGraph:
    """One learner's fit, not yet run: what :meth:`MetaLearner._fit_graph_of` returns."""

    jobs: list[CrossFitJob]
    deferred: list[Deferred]
    fitted: list[ModelKey]  # models it already has (pre-fitted nuisance models)


def _tagged(point: int, jobs: Sequence[CrossFitJob]) -> list[CrossFitJob]:
    return [replace(job, graph=point) for job in jobs]


def _build_tagged(point: int, deferred: Deferred) -> list[CrossFitJob]:
    return _tagged(point, deferred.build())


def _tagged_deferred(point: int, deferred: Deferred) -> Deferred:
    needs = frozenset((point, *need) for need in deferred.needs)
    return Deferred(needs, deferred.n_jobs, partial(_build_tagged, point, deferred), deferred.data, graph=point)


def run_learner_graphs(
    graphs: Sequence[LearnerGraph],
    on_fitted: Callable[[CrossFitJob, FittedCrossFit], None],
    n_jobs_grid: int | str | None = None,
    n_jobs_cross_fitting: int | str | None = None,
    n_jobs_base_learners: int | str | None = None,
    share_identical: bool = True,
) -> Plan:
    """Fit every learner's graph in one pool; ``on_fitted(job, result)`` per job of every
    learner (``job.graph`` is its index in ``graphs``). ``share_identical=False`` fits
    every job, identical or not (to check that sharing changes nothing)."""
    jobs: list[CrossFitJob] = []
    deferred: list[Deferred] = []
    fitted: list[tuple] = []
    for point, graph in enumerate(graphs):
        jobs += _tagged(point, graph.jobs)
        deferred += [_tagged_deferred(point, d) for d in graph.deferred]
        fitted += [(point, *key) for key in graph.fitted]
    return run_fit_graph(
        jobs,
        deferred,
        n_jobs_cross_fitting,
        n_jobs_base_learners,
        on_fitted=on_fitted,
        fitted=fitted,
        n_jobs_grid=n_jobs_grid,
        identity=JobIdentity() if share_identical else None,
    )
