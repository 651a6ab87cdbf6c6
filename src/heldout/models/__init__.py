"""Models to evaluate: a common contract, built-in EfficientNet-Lite0/1/2, ONNX, torch and callables.

>>> from heldout.models import create_model
>>> model = create_model("efficientnet-lite0")  # doctest: +SKIP
>>> model.logits(batch).shape, model.features(batch).shape  # doctest: +SKIP
((8, 1000), (8, 1280))

``model.preprocessing`` turns a PIL image into the float32 CHW array ``logits`` expects;
``model.fingerprint`` identifies the weights, so cached logits are keyed by it.
"""

from heldout.models._cache import cache_dir
from heldout.models.base import Model
from heldout.models.callable import CallableModel
from heldout.models.efficientnet import EFFICIENTNET_LITE, build_torch_module
from heldout.models.onnx import OnnxModel
from heldout.models.registry import create_model, list_models, resolve_specs
from heldout.models.torch import TorchModel

__all__ = [
    "EFFICIENTNET_LITE",
    "CallableModel",
    "Model",
    "OnnxModel",
    "TorchModel",
    "build_torch_module",
    "cache_dir",
    "create_model",
    "list_models",
    "resolve_specs",
]
