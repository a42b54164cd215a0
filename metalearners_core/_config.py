"""The library's own settings (scikit-learn style): :func:`set_config`, :func:`get_config`,
:func:`config_context`.

``share_lightgbm_bins`` (default True): LightGBM models that train on the same rows
of one fit share one binned Dataset (:mod:`metalearners_core._lightgbm_bins`). It
only ever happens in-process (threads or serial); worker processes bin as before.
Set it to False to build every Dataset from scratch (the models are the same).

``oversubscription`` (default "warn"): what a fit does when explicit settings ask
for more threads in flight than cores (:mod:`metalearners_core._execution.oversubscription`):
"warn" (one :class:`OversubscriptionWarning` per fit), "limit" (cap threads per
model, then workers, at the cores; same answer) or "allow" (run as asked, silently).

``predict_split`` (default "both"): how ``predict``, ``predict_conditional_average_outcomes``
and ``evaluate`` with ``n_jobs`` > 1 cut their base-model predictions across the workers
(:mod:`metalearners_core._execution.predict`): "models" (whole models run concurrently),
"rows" (every model's rows in one chunk per worker) or "both" (models concurrently, rows
cut only as far as needed to keep the workers even). The answer is the same.

Settings are process-wide and read when a fit or a prediction starts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["config_context", "get_config", "set_config"]

_DEFAULTS: dict[str, Any] = {"share_lightgbm_bins": True, "oversubscription": "warn", "predict_split": "both"}
_TYPES: dict[str, type] = {"share_lightgbm_bins": bool, "oversubscription": str, "predict_split": str}
_CHOICES: dict[str, tuple[str, ...]] = {
    "oversubscription": ("warn", "limit", "allow"),
    "predict_split": ("both", "rows", "models"),
}
_config = dict(_DEFAULTS)
_lock = threading.Lock()


def get_config() -> dict[str, Any]:
    """The current settings (a copy)."""
    with _lock:
        return dict(_config)


def set_config(**settings: Any) -> None:
    """Change settings, e.g. ``set_config(share_lightgbm_bins=False)``, ``set_config(oversubscription="limit")``
    or ``set_config(predict_split="rows")``."""
    for key, value in settings.items():
        if key not in _DEFAULTS:
            raise ValueError(f"unknown setting {key!r}; allowed: {', '.join(sorted(_DEFAULTS))}")
        if key in _CHOICES and value not in _CHOICES[key]:
            raise ValueError(f"{key}={value!r} is not allowed; choose one of {', '.join(map(repr, _CHOICES[key]))}")
        if not isinstance(value, _TYPES[key]):
            raise TypeError(f"{key}={value!r} is not allowed; use a {_TYPES[key].__name__}")
    with _lock:
        _config.update(settings)


@contextmanager
def config_context(**settings: Any) -> Iterator[None]:
    """Settings changed for the ``with`` block, restored after it."""
    before = get_config()
    set_config(**settings)
    try:
        yield
    finally:
        with _lock:
            _config.clear()
            _config.update(before)
