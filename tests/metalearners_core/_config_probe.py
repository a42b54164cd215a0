"""Estimators that check, inside their own fit, the scikit-learn config they see (an
importable module, so that loky worker processes can unpickle them)."""

from __future__ import annotations

import sklearn
from sklearn.linear_model import LinearRegression, LogisticRegression

EXPECTED_WORKING_MEMORY = 123


def _check() -> None:
    seen = sklearn.get_config()["working_memory"]
    if seen != EXPECTED_WORKING_MEMORY:
        raise RuntimeError(f"the base model saw working_memory={seen}, not the caller's {EXPECTED_WORKING_MEMORY}")


class ProbeRegressor(LinearRegression):
    def fit(self, X, y, sample_weight=None):
        _check()
        return super().fit(X, y, sample_weight=sample_weight)


class ProbeClassifier(LogisticRegression):
    def fit(self, X, y, sample_weight=None):
        _check()
        return super().fit(X, y, sample_weight=sample_weight)
