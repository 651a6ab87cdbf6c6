"""OnnxModel: loading, metadata defaults, and clear errors for files that are not models."""

from __future__ import annotations

import numpy as np
import pytest

from heldout.errors import ModelError, ModelOutputError
from heldout.models import OnnxModel


def test_a_file_that_is_not_onnx_is_a_model_error(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(ModelError, match="not a loadable ONNX model") as raised:
        OnnxModel(path)
    assert str(path) in str(raised.value)


def test_a_missing_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="no such ONNX file"):
        OnnxModel(tmp_path / "absent.onnx")


def test_wrong_declared_class_count_fails_on_first_batch(tiny_onnx):
    model = OnnxModel(tiny_onnx, num_classes=1000)
    with pytest.raises(ModelOutputError, match=r"expected \(2, 1000\)"):
        model.logits(np.zeros((2, 3, 32, 32), dtype=np.float32))


def test_class_count_and_input_size_come_from_the_graph(tiny_onnx):
    model = OnnxModel(tiny_onnx)
    assert model.num_classes == 7 and model.preprocessing.size_px == 32


def test_fingerprint_is_the_file_hash(tiny_onnx):
    import hashlib

    assert OnnxModel(tiny_onnx).fingerprint == hashlib.sha256(tiny_onnx.read_bytes()).hexdigest()


def test_features_without_a_features_output_is_a_model_error(tiny_onnx):
    with pytest.raises(ModelError, match="no feature output"):
        OnnxModel(tiny_onnx).features(np.zeros((1, 3, 32, 32), dtype=np.float32))


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory, tiny_module):
    """A 7-class conv net exported with a static 32 px input."""
    import warnings

    import torch

    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            tiny_module,
            (torch.zeros(1, 3, 32, 32),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
        )
    return path
