"""Feature rows from stored renditions: pixels, EfficientNet-Lite0 embeddings cached by sha256."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from heldout.collect import FolderSource, collect
from heldout.collect.idx import read_idx
from heldout.dedup.features import (
    create_extractor,
    extract_features,
    feature_key,
    list_extractors,
    near_copies,
)
from heldout.dedup.knn import knn
from heldout.errors import ConfigError, ObjectMissingError
from heldout.ingest import ingest

FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "camera", "coins")


@pytest.fixture(scope="module")
def cnn():
    pytest.importorskip("onnxruntime")
    return create_extractor("efficientnet-lite0")


@pytest.fixture()
def stored(project, photo_folder) -> list[str]:
    """Ids of the four ingested real photos (coffee-copy has coffee's bytes: one candidate)."""
    collect(project, FolderSource(photo_folder))
    ingest(project)
    return project.images.ids(status="stored")


def test_built_in_extractors_are_listed():
    assert list_extractors() == ["efficientnet-lite0", "pixels"]


def test_an_unknown_extractor_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown feature extractor"):
        create_extractor("vgg16-fc7")


def test_pixel_rows_are_the_flattened_256_renditions(project, stored):
    rows = extract_features(project, stored, extractor="pixels")
    expected = np.stack([np.asarray(project.images.load(i, "256")).reshape(-1) for i in stored])
    assert rows.dtype == np.uint8 and np.array_equal(rows, expected)


def test_cnn_rows_are_cached_in_the_store_by_sha256(project, stored, cnn):
    rows = extract_features(project, stored, extractor=cnn)
    key = feature_key(cnn, hashlib.sha256(project.images.bytes(stored[0], "original")).hexdigest())
    assert rows.shape == (len(stored), 1280)
    assert np.array_equal(np.load(io.BytesIO(project.store.get(key))), rows[0])


def test_a_second_run_computes_only_the_missing_rows(project, stored, cnn, monkeypatch):
    first = extract_features(project, stored[:2], extractor=cnn)
    computed = []
    original = type(cnn).rows

    def counting(self, prepared):
        computed.append(len(prepared))
        return original(self, prepared)

    monkeypatch.setattr(type(cnn), "rows", counting)
    again = extract_features(project, stored, extractor=cnn)
    assert sum(computed) == len(stored) - 2
    assert np.array_equal(again[:2], first)


def test_an_image_without_stored_bytes_is_an_error(project, stored):
    with pytest.raises(ObjectMissingError, match="no stored bytes"):
        extract_features(project, [*stored, "never-collected"])


def test_near_copies_have_their_original_as_top_1_cnn_neighbour(cnn):
    if not FASHION.is_file():
        pytest.skip(f"Fashion-MNIST not found at {FASHION} (apt-get install dataset-fashion-mnist)")
    photos = [Image.fromarray(getattr(skimage.data, name)()).convert("RGB") for name in PHOTOS]
    clothes = [Image.fromarray(image).convert("RGB") for image in read_idx(FASHION)[:20]]
    kinds = ("jpeg-q20", "resized", "cropped", "noise", "brighter")
    copies = [near_copies(photo, seed=i)[kind] for kind in kinds for i, photo in enumerate(photos)]
    references = cnn.extract(photos + clothes)
    found = knn(cnn.extract(copies), references, k=1).indices[:, 0]
    assert found.tolist() == list(range(len(photos))) * len(kinds)


def test_near_copies_keep_the_size_and_differ_from_the_original():
    photo = Image.fromarray(skimage.data.chelsea())
    copies = near_copies(photo, seed=3)
    assert sorted(copies) == ["brighter", "cropped", "flipped", "jpeg-q20", "noise", "resized"]
    assert all(copy.size == photo.size for copy in copies.values())
    assert all(np.any(np.asarray(copy) != np.asarray(photo)) for copy in copies.values())
