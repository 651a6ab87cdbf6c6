"""TorchModel: the same logits from the ONNX export and from eager torch, and a cached export."""

from __future__ import annotations

import numpy as np
import pytest

from heldout.errors import ModelError
from heldout.models import TorchModel
from heldout.preprocessing import Preprocessing

SMALL = Preprocessing(size_px=32, crop_pct=1.0)


def batch(n: int = 3) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, 3, 32, 32), dtype=np.float32)


def test_onnx_backend_matches_eager(tiny_module, tmp_path):
    exported = TorchModel(tiny_module, preprocessing=SMALL, backend="onnx", cache=tmp_path)
    eager = TorchModel(tiny_module, preprocessing=SMALL, backend="eager")
    assert exported.backend == "onnx" and eager.backend == "eager"
    np.testing.assert_allclose(exported.logits(batch()), eager.logits(batch()), atol=1e-4)


def test_class_count_is_read_from_the_output(tiny_module):
    assert TorchModel(tiny_module, preprocessing=SMALL, backend="eager").num_classes == 7


def test_auto_picks_a_backend_that_agrees(tiny_module, tmp_path):
    model = TorchModel(tiny_module, preprocessing=SMALL, cache=tmp_path)
    reference = TorchModel(tiny_module, preprocessing=SMALL, backend="eager")
    assert model.backend in ("onnx", "eager")
    np.testing.assert_allclose(model.logits(batch()), reference.logits(batch()), atol=1e-4)


def test_export_is_cached_by_state_fingerprint(tiny_module, tmp_path):
    model = TorchModel(tiny_module, preprocessing=SMALL, backend="onnx", cache=tmp_path)
    (path,) = (tmp_path / "models").glob("torch-*.onnx")
    assert model.fingerprint.removeprefix("sha256:")[:16] in path.name


def test_fingerprint_changes_with_the_weights(tiny_module):
    import copy

    import torch

    changed = copy.deepcopy(tiny_module)
    with torch.no_grad():
        changed[-1].bias += 1
    first = TorchModel(tiny_module, preprocessing=SMALL, backend="eager").fingerprint
    assert first != TorchModel(changed, preprocessing=SMALL, backend="eager").fingerprint


def test_a_module_that_raises_is_a_model_error():
    import torch

    class Broken(torch.nn.Module):
        def forward(self, images):
            raise RuntimeError("boom")

    with pytest.raises(ModelError, match="the module raised RuntimeError: boom"):
        TorchModel(Broken(), preprocessing=SMALL, backend="eager")
