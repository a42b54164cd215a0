"""How a fitted base model is asked for its predictions: :func:`call_model`.

LightGBM's scikit-learn wrapper spends about 0.23 ms a call on its parameters
(``get_params``: ``inspect.signature`` and a deep copy of every parameter), ten times
its booster's work for one row: a one-row out-of-sample prediction of a 5-fold DR
learner calls it five times. For a plain ``LGBMRegressor``/``LGBMClassifier`` asked
for ``predict``/``predict_proba`` on a float NumPy matrix of the fitted width (fitted
without feature names), :func:`call_model` calls the booster directly with the
parameters the wrapper would pass, worked out once per fitted model: the same C++
call, so the same numbers (tested bit for bit). Everything else goes through the
model's own method, as does any model whose wrapper internals are not the expected
ones (another LightGBM version), so the shortcut can only ever be skipped, not wrong.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

__all__ = ["call_model"]

# model -> (its booster, its n_jobs, the wrapper's predict parameters without threads, its thread setting):
# read once per fitted model; a refit or a new n_jobs is seen, other set_params after fitting are not.
_PREDICT_PARAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# The prediction options the wrapper passes as arguments, never from the model's parameters.
_ARGUMENTS = ("data", "X", "raw_score", "start_iteration", "num_iteration", "pred_leaf", "pred_contrib")


def call_model(model: Any, method: str, X: Any, **kwargs: Any) -> Any:
    """``getattr(model, method)(X, **kwargs)``, the LightGBM booster called directly where
    that is the same call (see the module); ``kwargs`` may only be ``num_threads`` then."""
    direct = _direct_lightgbm(model, method, X, kwargs)
    if direct is None:
        return getattr(model, method)(X, **kwargs)
    booster, params, threads = direct
    result = booster.predict(X, num_threads=threads, **params)
    if method == "predict_proba" and model.n_classes_ <= 2:
        return np.vstack((1.0 - result, result)).transpose()  # as LGBMClassifier.predict_proba
    return result


def _direct_lightgbm(model: Any, method: str, X: Any, kwargs: dict) -> tuple | None:
    """(booster, predict parameters, threads) where the booster may be called directly, else None."""
    try:
        from lightgbm import LGBMClassifier, LGBMRegressor
    except ImportError:  # pragma: no cover - lightgbm is a dependency
        return None
    kind = type(model)
    if not ((kind is LGBMRegressor and method == "predict") or (kind is LGBMClassifier and method == "predict_proba")):
        return None
    if set(kwargs) - {"num_threads"} or not isinstance(X, np.ndarray) or X.ndim != 2 or X.dtype.kind != "f":
        return None
    try:
        booster = model.booster_  # raises where the model is not fitted: its own method says so
        if (callable(model.objective) or X.shape[0] < 1 or X.shape[1] != model.n_features_in_
                or getattr(model, "feature_names_in_", None) is not None):
            return None  # the wrapper's own handling (raw scores, errors, the feature-names warning)
        cached = _PREDICT_PARAMS.get(model)
        if cached is None or cached[0] is not booster or cached[1] != model.n_jobs:
            cached = _PREDICT_PARAMS[model] = (booster, model.n_jobs, *_wrapper_params(model))
        _, _, params, own_threads = cached
        threads = model._process_n_jobs(kwargs["num_threads"] if "num_threads" in kwargs else own_threads)
    except Exception:  # another LightGBM's internals, or not fitted: the wrapper decides
        return None
    return booster, params, threads


def _wrapper_params(model: Any) -> tuple[dict, Any]:
    """What ``LGBMModel.predict`` (lightgbm 4.x) passes to the booster, worked out once: its
    parameters without the prediction arguments and thread aliases, and the thread setting
    it picks when the call gives none (``num_threads``, else an alias, else ``n_jobs``)."""
    from lightgbm.basic import _choose_param_value, _ConfigAliases

    params = model._process_params(stage="predict")
    for alias in _ConfigAliases.get_by_alias(*_ARGUMENTS):
        params.pop(alias, None)
    params = _choose_param_value("num_threads", params, model.n_jobs)
    return params, params.pop("num_threads")
