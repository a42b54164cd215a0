"""The learners' explainability methods: ``explainer``, ``feature_importances``, ``shap_values``.

A mixin of ``MetaLearner`` with the signatures, behaviour and messages of
``metalearners`` 0.13. Without arguments ``explainer`` explains the learner's own
treatment models of kind ``"treatment_model"`` (the overall model of each variant's
cross-fit estimator): the R- and DR-learner have them; the S-, T- and X-learner (whose
second-stage models are the control and treatment effect models) do not, so there,
as in the package, CATE estimates and a model factory must be passed.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from metalearners_core.explainer import Explainer, Params

if TYPE_CHECKING:
    import shap

# The kind of the treatment models the package explains (metalearner.TREATMENT_MODEL;
# repeated here because metalearner.py imports this module).
_TREATMENT_MODEL = "treatment_model"


class _ExplainMixin:
    """``MetaLearner``'s explainability methods (see the module docstring)."""

    _treatment_models: dict[str, list[Any]]

    def explainer(
        self,
        X: Any | None = None,
        cate_estimates: np.ndarray | None = None,
        cate_model_factory: type | None = None,
        cate_model_params: Params | None = None,
    ) -> Explainer:
        """An ``Explainer`` of this learner's treatment models (all arguments None),
        or of new models fitted from ``X`` to ``cate_estimates`` (``X``,
        ``cate_estimates`` and ``cate_model_factory`` all given)."""
        if X is None and cate_estimates is None and cate_model_factory is None:
            try:
                cross_fit_models = self._treatment_models[_TREATMENT_MODEL]
            except KeyError:
                raise ValueError(
                    "The metalearner does not have treatment models; hence X, cate_estimates, "
                    "and cate_model_factory need to be defined."
                ) from None
            return Explainer(cate_models=[cf._overall_estimator for cf in cross_fit_models])
        if X is not None and cate_estimates is not None and cate_model_factory is not None:
            return Explainer.from_estimates(
                X=X,
                cate_estimates=cate_estimates,
                cate_model_factory=cate_model_factory,
                cate_model_params=cate_model_params,
            )
        raise ValueError(
            "Either all of [X, cate_estimates, cate_model_factory] are None or all "
            "of them must be defined."
        )

    def feature_importances(
        self,
        feature_names: Collection[str] | None = None,
        normalize: bool = False,
        sort_values: bool = False,
        explainer: Explainer | None = None,
        X: Any | None = None,
        cate_estimates: np.ndarray | None = None,
        cate_model_factory: type | None = None,
        cate_model_params: Params | None = None,
    ) -> list[pd.Series]:
        """Feature importances per treatment variant, from ``explainer`` or (when it is
        None) from ``self.explainer(X, cate_estimates, cate_model_factory, cate_model_params)``."""
        if explainer is None:
            explainer = self.explainer(
                X=X,
                cate_estimates=cate_estimates,
                cate_model_factory=cate_model_factory,
                cate_model_params=cate_model_params,
            )
        return explainer.feature_importances(
            normalize=normalize, feature_names=feature_names, sort_values=sort_values
        )

    def shap_values(
        self,
        X: Any,
        shap_explainer_factory: type[shap.Explainer],
        shap_explainer_params: dict | None = None,
        explainer: Explainer | None = None,
        cate_estimates: np.ndarray | None = None,
        cate_model_factory: type | None = None,
        cate_model_params: Params | None = None,
    ) -> list[np.ndarray]:
        """SHAP values of ``X`` per treatment variant, from ``explainer`` or (when it is
        None) from ``self.explainer``: with ``cate_estimates`` its models are fitted on
        ``X``, without them the learner's treatment models are explained."""
        if explainer is None:
            explainer = self.explainer(
                X=None if cate_estimates is None else X,
                cate_estimates=cate_estimates,
                cate_model_factory=cate_model_factory,
                cate_model_params=cate_model_params,
            )
        return explainer.shap_values(
            X=X,
            shap_explainer_factory=shap_explainer_factory,
            shap_explainer_params=shap_explainer_params,
        )
