"""Explainer: feature importances and SHAP values of a learner's CATE models.

Mirrors ``metalearners.explainer`` (QuantCo, 0.13): an ``Explainer`` holds one plain,
fitted model per treatment variant (each estimating tau_k; for a learner's treatment
models, the overall model of each cross-fit estimator), or fits such models itself
from CATE estimates with ``Explainer.from_estimates``. ``shap`` is an optional
dependency (the ``explain`` extra): it is imported only by ``shap_values``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metalearners_core._utils import n_rows

if TYPE_CHECKING:  # only for annotations: shap stays optional
    import shap

Params = dict[str, Any]

_SHAP_HINT = (
    "shap_values needs the shap package: pip install shap "
    "(or pip install 'metalearners-core[explain]')."
)


def require_shap() -> Any:
    """The ``shap`` module, or an ImportError saying how to install it."""
    try:
        import shap
    except ImportError as error:
        raise ImportError(_SHAP_HINT) from error
    return shap


def _simplify_output_2d(tensor: np.ndarray) -> np.ndarray:
    """The CATE tensor (n_obs, n_variants - 1, n_outputs) as (n_obs, n_variants - 1).

    Binary classification keeps the positive class's effect; more classes are refused.
    """
    if (n_dim := len(tensor.shape)) != 3:
        raise ValueError(f"Output needs to be 3-dimensional but is {n_dim}-dimensional.")
    n_outputs = tensor.shape[2]
    if n_outputs == 1:
        return tensor[:, :, 0]
    if n_outputs == 2:
        return tensor[:, :, 1]
    raise ValueError(
        "This function requires a regression or a classification with binary outcome "
        "task."
    )


def _build_feature_importance_dict(
    feature_importance: np.ndarray, feature_names: Collection[str] | None = None
) -> pd.Series:
    if feature_names is None:
        feature_names = [f"Feature {i}" for i in range(len(feature_importance))]
    return pd.Series(feature_importance, index=feature_names)


class Explainer:
    """Feature importances and SHAP values of one CATE model per treatment variant.

    ``cate_models`` holds ``n_variants - 1`` plain, fitted scikit-learn style models
    (not ``CrossFitEstimator``s), the one at index k estimating the effect of variant
    k + 1 against control.
    """

    def __init__(self, cate_models: list[Any]):
        self.n_variants = len(cate_models) + 1
        self.cate_models = cate_models

    @classmethod
    def from_estimates(
        cls,
        X: Any,
        cate_estimates: np.ndarray,
        cate_model_factory: type,
        cate_model_params: Params | None = None,
    ) -> Explainer:
        """Fit one ``cate_model_factory`` model per variant from ``X`` to its CATE estimates.

        ``cate_estimates`` is a learner's raw, 3-dimensional output (not simplified).
        """
        if n_rows(X) != len(cate_estimates) or n_rows(X) == 0:
            raise ValueError(
                "X and cate_estimates should contain the same number of observations "
                "and not be empty."
            )
        if np.any(np.isnan(cate_estimates)) or np.any(np.isinf(cate_estimates)):
            raise ValueError("cate_estimates can not contain any NaN or inf.")
        cate_estimates = _simplify_output_2d(cate_estimates)
        params = cate_model_params or {}
        cate_models = [
            cate_model_factory(**params).fit(X, cate_estimates[:, variant])
            for variant in range(cate_estimates.shape[1])
        ]
        return cls(cate_models)

    def feature_importances(
        self,
        normalize: bool = False,
        feature_names: Collection[str] | None = None,
        sort_values: bool = False,
    ) -> list[pd.Series]:
        """The models' ``feature_importances_``, one Series per treatment variant.

        ``normalize`` scales each variant's importances to sum to 1; without
        ``feature_names`` the index is ``"Feature {i}"``.
        """
        feature_importances: list[pd.Series] = []
        for variant in range(self.n_variants - 1):
            model = self.cate_models[variant]
            if not hasattr(model, "feature_importances_"):
                raise ValueError(
                    f"Model used for treatment variant {variant + 1} has no attribute feature_importances_. "
                    "You need to use a model which computes them, e.g. LGBMRegressor."
                )
            importance = model.feature_importances_
            if normalize:
                importance = importance / np.sum(importance)
            series = _build_feature_importance_dict(importance, feature_names)
            if sort_values:
                series = series.sort_values(ascending=False)
            feature_importances.append(series)
        return feature_importances

    def shap_values(
        self,
        X: Any,
        shap_explainer_factory: type[shap.Explainer],
        shap_explainer_params: dict | None = None,
    ) -> list[np.ndarray]:
        """SHAP values of ``X`` per treatment variant, from ``shap_explainer_factory``
        (e.g. ``shap.TreeExplainer``) built on each variant's model."""
        require_shap()
        params = shap_explainer_params or {}
        return [
            shap_explainer_factory(model=self.cate_models[variant], **params).shap_values(X)
            for variant in range(self.n_variants - 1)
        ]
