"""Fingerprints of cross-fit jobs: two jobs with one fingerprint are the same fits.

A grid search fits many learners that often share base models: a DR grid of 3
outcome x 4 propensity x 2 treatment models asks for each outcome model at all 8
points that use it. :class:`JobIdentity` gives every job a fingerprint of
everything its fits depend on: stage and model kind (so that traces stay true),
the estimator factory and its parameters, the training data and targets, the
folds (which carry the seed), whether an overall model is fitted, the fit params
and the predictions its models make after fitting. The scheduler fits each
fingerprint once and hands the result to every job that has it.

Values are hashed by content (``joblib.hash``: numpy arrays, frames, sparse
matrices, classes by their import path), each object once per grid search
(memoised by identity; the memo keeps the object alive, so its id stays unique).
A value that cannot be hashed (a lambda factory, say) is fingerprinted by its
identity: such jobs are shared only with jobs holding the very same object.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import joblib

from metalearners_core._execution.jobs import CrossFitJob

_PLAIN = (bool, int, float, str, bytes, type(None))


class JobIdentity:
    """The fingerprint of a job (call it), with each input hashed once."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[Any, Hashable]] = {}

    def of(self, value: Any) -> Hashable:
        """The fingerprint of one value: by content where it can be hashed."""
        if isinstance(value, _PLAIN):
            return (type(value).__name__, value)
        hit = self._memo.get(id(value))
        if hit is None:
            hit = self._memo[id(value)] = (value, _content_hash(value))
        return hit[1]

    def of_mapping(self, mapping: dict) -> Hashable:
        """Params and fit params: fresh dicts per learner, so hashed by content, not memoised."""
        return tuple(sorted((str(k), self.of(v)) for k, v in mapping.items()))

    def __call__(self, job: CrossFitJob) -> Hashable:
        wanted = job.predictions
        predictions = None
        if wanted is not None:
            outside = tuple(self.of(rows) for rows in wanted.outside_rows)
            predictions = (wanted.method, wanted.in_sample, self.of(wanted.outside_X), outside)
        splits = tuple((self.of(train), self.of(test)) for train, test in job.splits)
        return (
            job.stage,
            job.model_kind,
            self.of(job.estimator_factory),
            self.of_mapping(job.estimator_params),
            self.of(job.X),
            self.of(job.y),
            self.of_mapping(job.fit_params),
            splits,
            job.fit_overall,
            predictions,
        )


def _content_hash(value: Any) -> Hashable:
    try:
        return ("content", joblib.hash(value))
    except Exception:  # noqa: BLE001 - not picklable: the object itself is the identity
        return ("identity", id(value))
