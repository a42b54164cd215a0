"""S-learner (Kuenzel et al. 2019): one model on the covariates plus the treatment."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse

from metalearners_core._execution import CrossFitJob
from metalearners_core._frames import is_polars_frame
from metalearners_core._utils import n_rows, supports_categoricals
from metalearners_core.cross_fit_estimator import OVERALL, OosMethod
from metalearners_core._evaluation import _evaluate_model_kind
from metalearners_core._model_kinds import _ModelSpecifications, get_one
from metalearners_core._prediction import PredictionBatch
from metalearners_core.metalearner import MetaLearner

_BASE_MODEL = "base_model"
_TREATMENT = "treatment"


def _append_treatment(X: Any, w: np.ndarray, categorical: bool, n_variants: int) -> Any:
    """X with the treatment appended: a categorical column, or one-hot without variant 0.

    Frames get string column names (as in metalearners 0.13: some models reject mixed
    names). A sparse X stays sparse: with a categorical-taking model the treatment codes
    become its last column, which :func:`_categorical_fit_params` marks as categorical.
    A polars X keeps polars for one-hot columns; for the categorical column it goes
    through pandas, since LightGBM aborts on a polars Categorical column.
    (metalearners 0.13 casts the treatment to strings before setting integer categories,
    which turns the categorical column into all-NaN; here the codes are kept.)
    """
    if hasattr(X, "columns") and _TREATMENT in X.columns:
        raise ValueError(f"{_TREATMENT} cannot be a column name in X. The S-learner adds it.")
    if scipy.sparse.issparse(X):
        added = w[:, None].astype(X.dtype) if categorical else np.eye(n_variants, dtype=np.int8)[w][:, 1:]
        return scipy.sparse.hstack([X, scipy.sparse.csr_matrix(added)], format="csr")
    if categorical:
        if is_polars_frame(X):
            X = X.to_pandas()
        frame = (
            X.reset_index(drop=True)
            if isinstance(X, pd.DataFrame)
            else pd.DataFrame(X, columns=[str(i) for i in range(X.shape[1])])
        )
        frame.columns = [str(c) for c in frame.columns]
        treatment = pd.Categorical(w, categories=list(range(n_variants)))
        return frame.assign(**{_TREATMENT: treatment})
    dummies = np.eye(n_variants, dtype=np.int8)[w][:, 1:]
    names = [f"{_TREATMENT}_{v}" for v in range(1, n_variants)]
    if is_polars_frame(X):
        import polars as pl

        return pl.concat([X, pl.DataFrame(dummies, schema=names)], how="horizontal")
    if isinstance(X, pd.DataFrame):
        frame = X.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        return pd.concat([frame, pd.DataFrame(dummies, columns=names)], axis=1)
    return np.concatenate([X, dummies], axis=1)


def _categorical_fit_params(X: Any, categorical: bool, factory: Any) -> dict:
    """For a sparse X and a LightGBM model, the fit parameter that makes the appended
    treatment column categorical (a frame says so through its dtype)."""
    if not (categorical and scipy.sparse.issparse(X) and _is_lightgbm(factory)):
        return {}
    return {"categorical_feature": [X.shape[1]]}


def _is_lightgbm(factory: Any) -> bool:
    try:
        from lightgbm import LGBMModel
    except ImportError:  # pragma: no cover - lightgbm is a dependency
        return False
    return isinstance(factory, type) and issubclass(factory, LGBMModel)


class SLearner(MetaLearner):
    """S-Learner for CATE estimation as described by Kuenzel et al. (2019)."""

    @classmethod
    def nuisance_model_specifications(cls) -> dict[str, _ModelSpecifications]:
        return {
            _BASE_MODEL: _ModelSpecifications(
                cardinality=get_one, predict_method=MetaLearner._outcome_predict_method
            )
        }

    @classmethod
    def _supports_multi_class(cls) -> bool:
        return True

    def __init__(self, is_classification: bool, n_variants: int, *args: Any, feature_set: Any = None, **kwargs: Any):
        if feature_set is not None:
            warnings.warn(
                "Base-model specific feature_sets were provided to S-Learner. "
                "These will be ignored and all available features will be used instead.",
                stacklevel=2,
            )
        super().__init__(is_classification, n_variants, *args, feature_set=None, **kwargs)
        factory = self.nuisance_model_factory.get(_BASE_MODEL)
        params = self.nuisance_model_params.get(_BASE_MODEL, {})
        if _BASE_MODEL in self._prefitted_nuisance_models:
            model = self._nuisance_models[_BASE_MODEL][0]
            factory, params = model.estimator_factory, model.estimator_params
        self._supports_categoricals = supports_categoricals(factory(**params))

    def _with_treatment(self, X: Any, w: np.ndarray) -> Any:
        return _append_treatment(X, w, self._supports_categoricals, self.n_variants)

    def _nuisance_jobs(
        self, X: Any, y: np.ndarray, w: np.ndarray, fit_params: dict[str, dict], synchronize: bool
    ) -> list[CrossFitJob | None]:
        factory = self._nuisance_models[_BASE_MODEL][0].estimator_factory
        params = _categorical_fit_params(X, self._supports_categoricals, factory) | fit_params[_BASE_MODEL]
        return [self._nuisance_job(self._with_treatment(X, w), y, _BASE_MODEL, 0, params)]

    def predict_conditional_average_outcomes(
        self, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL, n_jobs: int | str | None = None
    ) -> np.ndarray:
        """E[Y(k) | X] for every variant k: shape (n_obs, n_variants, n_outputs); ``n_jobs`` as in ``predict``."""
        self._start_predict(X, is_oos, oos_method, n_jobs)
        n_obs = n_rows(X)
        batch = PredictionBatch(n_jobs)
        outcomes = [
            self._nuisance_request(batch, _BASE_MODEL, 0, self._with_treatment(X, np.full(n_obs, v)), is_oos, oos_method)
            for v in range(self.n_variants)
        ]
        batch.run()
        return np.stack([outcome() for outcome in outcomes], axis=1).reshape(n_obs, self.n_variants, -1)

    def predict(
        self, X: Any, is_oos: bool, oos_method: OosMethod = OVERALL, n_jobs: int | str | None = None
    ) -> np.ndarray:
        outcomes = self.predict_conditional_average_outcomes(X, is_oos, oos_method, n_jobs)
        return outcomes[:, 1:] - outcomes[:, [0]]

    def evaluate(
        self, X: Any, y: Any, w: Any, is_oos: bool, oos_method: OosMethod = OVERALL, scoring: dict | None = None,
        n_jobs: int | str | None = None,
    ) -> dict[str, float]:
        y_np, w_np = self._start_evaluate(X, y, w, n_jobs)
        return _evaluate_model_kind(
            cfes=self._nuisance_models[_BASE_MODEL],
            Xs=[self._with_treatment(X, w_np)],
            ys=[y_np],
            scorers=self._scoring(scoring)[_BASE_MODEL],
            model_kind=_BASE_MODEL,
            is_oos=is_oos,
            oos_method=oos_method,
            is_treatment_model=False,
            feature_set=None,
            n_jobs=n_jobs,
        )

    # The package leaves the S-learner out of ONNX export (its tutorial explains why:
    # the treatment is an input of the one model), with these errors.
    @classmethod
    def _necessary_onnx_models(cls) -> dict[str, list[Any]]:
        raise ValueError(
            "The SLearner does not implement this method. Please refer to comment in the tutorial."
        )

    def _build_onnx(self, models: Mapping[str, Sequence], output_name: str = "tau") -> Any:
        raise ValueError(
            "The SLearner does not implement this method. Please refer to comment in the tutorial."
        )
