"""Benchmark workloads: validated scenarios, synthetic data with a known CATE or the
user's own data file, base models (the registry's named defaults or the user's
estimators) and TOML presets.

Dependencies point one way: ``harness -> scenarios -> metalearners_core``; this
package never imports ``harness``.
"""

from scenarios.base_models import (
    BASE_MODELS,
    BaseModelSpec,
    get_base_model,
    learner_kwargs,
    make_model,
    model_params,
)
from scenarios.cache import cache_path, default_cache_dir, load_data
from scenarios.data import SyntheticData, cate_rmse, generate
from scenarios.filedata import FileData
from scenarios.files import file_scenario
from scenarios.models import ModelChoice
from scenarios.presets import PresetError, list_presets, load_preset, preset_descriptions, sweep_settings
from scenarios.spec import DataSpec, Scenario

__all__ = [
    "BASE_MODELS",
    "BaseModelSpec",
    "DataSpec",
    "FileData",
    "ModelChoice",
    "PresetError",
    "Scenario",
    "SyntheticData",
    "cache_path",
    "cate_rmse",
    "default_cache_dir",
    "file_scenario",
    "generate",
    "get_base_model",
    "learner_kwargs",
    "list_presets",
    "load_data",
    "load_preset",
    "make_model",
    "model_params",
    "preset_descriptions",
    "sweep_settings",
]
