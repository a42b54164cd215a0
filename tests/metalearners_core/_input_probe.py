"""Estimators that record, in their fitted state, the type of every X they were given
(an importable module, so that loky worker processes can unpickle them and send the
record back with the fitted model)."""

from __future__ import annotations

from sklearn.linear_model import LinearRegression, LogisticRegression


class _Recorder:
    def _record(self, name: str, X) -> None:
        self.__dict__.setdefault(name, []).append(type(X))


class ProbeRegressor(LinearRegression, _Recorder):
    def fit(self, X, y, sample_weight=None):
        self._record("fit_input_types_", X)
        return super().fit(X, y, sample_weight=sample_weight)

    def predict(self, X):
        self._record("predict_input_types_", X)
        return super().predict(X)


class ProbeClassifier(LogisticRegression, _Recorder):
    def fit(self, X, y, sample_weight=None):
        self._record("fit_input_types_", X)
        return super().fit(X, y, sample_weight=sample_weight)

    def predict_proba(self, X):
        self._record("predict_input_types_", X)
        return super().predict_proba(X)
