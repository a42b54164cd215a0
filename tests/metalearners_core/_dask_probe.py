"""Base models that misbehave on a Dask worker on purpose: kill their worker process or raise on a first
attempt (an importable module, so that Dask worker processes can unpickle them).

The first attempt is claimed through a marker file (created atomically), so exactly one fit of a whole
fit misbehaves, whichever worker runs it; the retry, elsewhere, finds the marker and fits normally.
"""

from __future__ import annotations

import os
import signal

from sklearn.linear_model import LinearRegression


def _claim_first_attempt(marker: str) -> bool:
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


class MisbehavingRegressor(LinearRegression):
    """A LinearRegression whose fit, on the first attempt (``marker``) or every attempt (``always``),
    SIGKILLs its own process (``how="kill"``) or raises (``how="raise"``)."""

    def __init__(self, marker=None, how="kill", always=False, fit_intercept=True, copy_X=True, n_jobs=None, positive=False):
        super().__init__(fit_intercept=fit_intercept, copy_X=copy_X, n_jobs=n_jobs, positive=positive)
        self.marker, self.how, self.always = marker, how, always

    def fit(self, X, y, sample_weight=None):
        if self.always or (self.marker is not None and _claim_first_attempt(self.marker)):
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise OSError("a first attempt that fails on purpose")
        return super().fit(X, y, sample_weight=sample_weight)
