"""What a meta-learner asks the execution layer to fit, and what it gets back.

The plain values passed between the learners and the scheduler: a
:class:`CrossFitJob` (one cross-fit estimator: a fit per fold plus the overall
model, and the predictions its models should make right after fitting), a
:class:`Deferred` builder of jobs that wait for other models, the
:class:`FittedCrossFit` a job yields, the :class:`TaskRecord` of each fit (when and
where it ran) and the :class:`Plan` of how one fit uses the machine. In a grid
search, jobs and deferred jobs carry their grid point (``graph``). Nothing here
runs anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

AUTO = "auto"
OVERALL_FOLD = None  # the ``fold`` of a task that trains on all rows

ModelKey = tuple[str, int]  # (model_kind, model_ord)


@dataclass(frozen=True)
class FitPredictions:
    """Predictions a job's models make in the worker right after fitting.

    The second stage needs them; made in the workers, they run in parallel and
    overlap other fits instead of leaving every core idle between the stages.
    """

    method: str  # "predict" | "predict_proba"
    in_sample: bool = False  # each fold model predicts the rows it held out
    outside_X: Any = None  # data the overall model predicts rows of (not the job's own X)...
    outside_rows: tuple = ()  # ...these row sets (masks or indices) of it, one by one


@dataclass(frozen=True)
class CrossFitJob:
    """One cross-fit estimator to train: a fit per fold, plus the overall model."""

    stage: str
    model_kind: str
    model_ord: int
    estimator_factory: Any
    estimator_params: dict
    X: Any
    y: Any
    fit_params: dict
    splits: Sequence[tuple[np.ndarray, np.ndarray]]
    fit_overall: bool
    predictions: FitPredictions | None = None
    graph: int | None = None  # the grid point whose learner asked for it (None: a single learner's fit)

    @property
    def key(self) -> ModelKey:
        """The model within its learner."""
        return (self.model_kind, self.model_ord)

    @property
    def node(self) -> tuple:
        """The model within the task graph: its key, prefixed by its grid point in a grid search."""
        return self.key if self.graph is None else (self.graph, *self.key)

    @property
    def folds(self) -> list[int | None]:
        folds: list[int | None] = list(range(len(self.splits)))
        return [OVERALL_FOLD, *folds] if self.fit_overall else folds


@dataclass(frozen=True)
class Deferred:
    """Jobs that can only be built once the models in ``needs`` are fitted."""

    needs: frozenset  # the nodes (CrossFitJob.node) of the models it waits for
    n_jobs: int  # how many jobs ``build`` returns (to size the pool up front)
    build: Callable[[], list[CrossFitJob]]
    data: tuple = ()  # the matrices the jobs will train on: LightGBM bins on them are kept
    graph: int | None = None  # as CrossFitJob.graph


@dataclass(frozen=True)
class TaskRecord:
    """When and where one base-model fit ran (for timelines, work and span)."""

    stage: str
    model_kind: str
    model_ord: int
    fold: int | None  # None: the overall model
    n_rows: int
    start: float  # time.monotonic(): system-wide, comparable across processes
    end: float
    pid: int
    thread: int
    model_n_jobs: int | None  # the thread count given to the base model
    openmp_threads: int | None  # what threadpoolctl saw in the worker after the fit
    bins: str | None = None  # LightGBM's binned data: "built" or "copied" (see _lightgbm_bins)
    worker: str | None = None  # the Dask worker's address it ran on (None: this machine)

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class FittedCrossFit:
    estimators: list  # one per fold, in split order
    overall: Any
    records: list[TaskRecord]
    fold_predictions: list | None = None  # per fold, of its held-out rows (FitPredictions.in_sample)
    outside_predictions: list | None = None  # the overall model's, per FitPredictions.outside_rows set


@dataclass(frozen=True)
class Plan:
    """How one fit uses the machine: the pool, its caps per level, threads per fit, backend.

    ``workers`` is the pool's size; ``fold_workers`` caps the fits of one model in
    flight, ``stage_workers`` the models of one learner in flight and
    ``graph_workers`` (a grid search's ``n_jobs``) the grid points in flight.
    Explicit levels make a pool of their product; ``"auto"`` caps only the pool, so
    that a worker never waits for another model's last fold.
    """

    fold_workers: int
    stage_workers: int
    model_threads: int
    backend: str  # "processes" | "threads" | "sequential" | "dask" (a Dask cluster's workers)
    workers: int
    graph_workers: int = 1
