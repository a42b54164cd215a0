"""Experimental ONNX export: what every learner shares to combine its converted base models.

``metalearners`` 0.13 lets a user convert the overall base models a learner needs
(``_necessary_onnx_models()``) with onnxmltools or skl2onnx and combine them into one
ONNX graph that computes the CATE (``_build_onnx(models, output_name="tau")``). This
module owns the learner-independent half: the mixin with the package's validation
(same checks, same messages), the lazy imports of the optional ``onnx``/``spox`` stack
with a hint at the ``onnx`` extra, and the graph pieces several learners reuse. Each
learner module declares its own ``_necessary_onnx_models`` and ``_build_onnx``.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence, Set
from typing import Any

import numpy as np

# The names skl2onnx and onnxmltools give a classifier's probabilities output.
ONNX_PROBABILITIES_OUTPUTS = ["probabilities", "output_probability"]

_INSTALL_HINT = "(pip install 'metalearners-core[onnx]')"


def check_onnx_installed() -> None:
    """Raise the package's ImportError, with the extra to install, when onnx is missing."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ImportError(
            f"onnx is not installed. Please install onnx to use this feature. {_INSTALL_HINT}"
        ) from None


def check_spox_installed() -> None:
    """Raise the package's ImportError, with the extra to install, when spox is missing."""
    try:
        import spox  # noqa: F401
    except ImportError:
        raise ImportError(
            f"spox is not installed. Please install spox to use this feature. {_INSTALL_HINT}"
        ) from None


def warning_experimental_feature(function_name: str) -> None:
    """The package's warning; called by each learner's ``_build_onnx`` itself."""
    warnings.warn(
        f"{function_name} is an experimental feature. Use it at your own risk!",
        stacklevel=3,  # the user's call of _build_onnx, not the learner's method
    )


def get_overall_estimators(cfes: Sequence[Any]) -> list[Any]:
    """The overall model (fitted on all rows) of each cross-fit estimator."""
    overall_estimators = []
    for cfe in cfes:
        if cfe._overall_estimator is None:
            raise ValueError("To use this functionality the overall models need to be fitted.")
        overall_estimators.append(cfe._overall_estimator)
    return overall_estimators


def infer_dtype_and_shape_onnx(tensor: Any) -> tuple[np.dtype, tuple]:
    """The numpy dtype and shape (``None`` for a free dimension) of an ONNX tensor."""
    check_onnx_installed()
    import onnx

    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.type.tensor_type.elem_type)
    shape = tuple(
        d.dim_value if d.HasField("dim_value") else None for d in tensor.type.tensor_type.shape.dim
    )
    return dtype, shape


def infer_probabilities_output(model: Any) -> tuple[int, str]:
    """Index and name of the output of an ONNX classifier that holds its probabilities."""
    check_onnx_installed()
    for i, output in enumerate(model.graph.output):
        if output.name in ONNX_PROBABILITIES_OUTPUTS:
            return i, output.name
    raise ValueError("No probabilities output was found.")


def infer_input_dict(model: Any) -> dict[str, Any]:
    """One spox argument per input of ``model``, of the same type and shape."""
    check_spox_installed()
    from spox import Tensor, argument

    input_dict = {}
    for input_tensor in model.graph.input:
        input_dtype, input_shape = infer_dtype_and_shape_onnx(input_tensor)
        input_dict[input_tensor.name] = argument(Tensor(input_dtype, input_shape))
    return input_dict


class _OnnxMixin(ABC):
    """The ONNX helpers of ``MetaLearner``: validation shared by all learners, and the
    two methods every learner implements."""

    def _validate_onnx_models(self, models: Mapping[str, Sequence], necessary_models: Set[str]) -> None:
        """Validates that the converted ONNX models are correct.

        Specifically it validates the following:

        * The ``necessary_models`` are equal to the keys of the ``models`` dictionary
        * The number of models for each model matches the cardinality in the MetaLearner
        * All ONNX have the same input format
        * The models with ``"predict"`` as ``predict_method`` have only one output
        * The models with ``"predict_proba"`` as ``predict_method`` have a probabilities output
        """
        if set(models.keys()) != necessary_models:
            raise ValueError(
                f"necessary_model ({necessary_models}) should equal to keys present in models dictionary."
            )
        specifications = self.nuisance_model_specifications() | self.treatment_model_specifications()
        input_format = None
        for model_kind in necessary_models:
            model_specification = specifications[model_kind]
            if len(models[model_kind]) != model_specification["cardinality"](self):
                raise ValueError(f"{model_kind} cardinality does not match the expected cardinality.")
            predict_method = model_specification["predict_method"](self)
            for model_index, model in enumerate(models[model_kind]):
                if input_format is None:
                    input_format = model.graph.input
                elif input_format != model.graph.input:
                    raise ValueError(
                        "Some ONNX model has a different input, check that all models have "
                        "the same input format."
                    )
                if predict_method == "predict" and len(model.graph.output) != 1:
                    raise ValueError(
                        f"ONNX {model_kind} with index {model_index} has {len(model.graph.output)} "
                        "outputs and should have only one."
                    )
                elif predict_method == "predict_proba" and not any(
                    output.name in ONNX_PROBABILITIES_OUTPUTS for output in model.graph.output
                ):
                    raise ValueError(
                        f"ONNX {model_kind} model with index {model_index} needs to have an output "
                        f"with name in {ONNX_PROBABILITIES_OUTPUTS}."
                    )

    def _validate_feature_set_none(self) -> None:
        """Validates that the feature set for all the models is None, i.e. all models
        use all features."""
        for feature_set in self.feature_set.values():
            if feature_set is not None:
                raise ValueError(
                    "ONNX conversion can only be used if all base models have `None` "
                    "as feature set (and therefore use all the features)."
                )

    @abstractmethod
    def _necessary_onnx_models(self) -> dict[str, list[Any]]:
        """Return a dictionary with the necessary models to convert the MetaLearner to
        ONNX.

        The returned dictionary keys will be strings and the values will be list of the
        overall base models (trained on the complete dataset) which should be converted
        to onnx.
        """

    @abstractmethod
    def _build_onnx(self, models: Mapping[str, Sequence], output_name: str = "tau") -> Any:
        """Convert the MetaLearner to an ONNX model.

        .. warning::

            This is an experimental feature which is not subject to deprecation cycles.
            Use it at your own risk!

        ``output_name`` can be used to change the output name of the ONNX model.

        ``models`` should be a dictionary of sequences with the necessary base models
        converted to ONNX. The necessary models for the specific MetaLearner can be
        accessed with ``_necessary_onnx_models``.

        This method combines the converted ONNX base models into a single ONNX model.
        This combined model has a single 2D input ``"X"`` and a single output named
        ``output_name``.
        """

    def _build_onnx_of_effect_models(
        self, models: Mapping[str, Sequence], model_kind: str, output_name: str
    ) -> Any:
        """The ONNX model of a learner whose CATE is one effect model per treatment
        variant (R- and DR-learner): their outputs stacked to (n_obs, n_variants - 1,
        n_outputs), as ``-tau, tau`` for a binary outcome."""
        check_spox_installed()
        from spox import inline

        self._validate_feature_set_none()
        self._validate_onnx_models(models, set(self._necessary_onnx_models().keys()))

        input_dict = infer_input_dict(models[model_kind][0])
        effect_output_name = models[model_kind][0].graph.output[0].name

        tau_hats = [inline(model)(**input_dict)[effect_output_name] for model in models[model_kind]]
        return self._build_cate_onnx(input_dict, tau_hats, output_name)

    def _build_cate_onnx(self, input_dict: dict[str, Any], tau_hats: Sequence[Any], output_name: str) -> Any:
        """One ONNX model from each variant's effect (n_obs,): stacked to (n_obs,
        n_variants - 1, n_outputs), as ``-tau, tau`` for a binary outcome, and checked."""
        import spox.opset.ai.onnx.v21 as op
        from onnx.checker import check_model
        from spox import build

        outputs = []
        for tau_hat_tv in tau_hats:
            tau_hat_tv = op.unsqueeze(tau_hat_tv, axes=op.constant(value_int=2))
            if self.is_classification:
                if self._supports_multi_class():
                    raise ValueError("ONNX conversion is not implemented for a multi-class output.")
                tau_hat_tv = op.concat([op.neg(tau_hat_tv), tau_hat_tv], axis=-1)
            outputs.append(tau_hat_tv)
        final_model = build(input_dict, {output_name: op.concat(outputs, axis=1)})
        check_model(final_model, full_check=True)
        return final_model
