"""The demo's data: Fashion-MNIST split into pool, training part and reference, plus contamination."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from heldout.classes import load_class_set
from heldout.collect import content_id, read_idx
from heldout.demo.fashion import (
    DEBIAN_FOLDER,
    SMALL_SIZES,
    DemoSizes,
    find_fashion_mnist,
    load_fashion_mnist,
    reference_name,
    split_demo_data,
    write_sources,
)
from heldout.errors import ConfigError

TINY = DemoSizes(
    candidates_per_class=5,
    references_per_class=8,
    train_limit=200,
    exact_copies=4,
    near_copies=6,
    digits=5,
    assignments=3,
    cnn_epochs=1,
    per_class=3,
)


@pytest.fixture(scope="module")
def fashion():
    if not DEBIAN_FOLDER.is_dir():
        pytest.skip(
            f"Fashion-MNIST is not installed at {DEBIAN_FOLDER} (apt-get install dataset-fashion-mnist)"
        )
    return load_fashion_mnist()


@pytest.fixture(scope="module")
def classes():
    return load_class_set("fashion-mnist")


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return load_digits().images


@pytest.fixture(scope="module")
def data(fashion, classes, digits):
    return split_demo_data(fashion, TINY, classes, seed=3, digits=digits)


def test_load_fashion_mnist_reads_the_70000_images_and_labels(fashion):
    assert fashion.train_images.shape == (60_000, 28, 28)
    assert fashion.test_images.shape == (10_000, 28, 28)
    assert set(np.unique(fashion.test_labels).tolist()) == set(range(10))


def test_find_fashion_mnist_without_the_files_says_how_to_get_them(tmp_path):
    with pytest.raises(ConfigError) as info:
        find_fashion_mnist(tmp_path)
    assert "t10k-images-idx3-ubyte" in info.value.what
    assert "apt-get install dataset-fashion-mnist" in info.value.fix
    assert "--fashion-mnist DIR" in info.value.fix


def test_find_fashion_mnist_accepts_plain_idx_files(tmp_path, fashion):
    for path in DEBIAN_FOLDER.glob("*.gz"):
        (tmp_path / path.stem).write_bytes(gzip.decompress(path.read_bytes()))
    assert find_fashion_mnist(tmp_path) == tmp_path


def test_pool_and_training_part_never_share_an_image(data):
    assert not np.intersect1d(data.pool_index, data.train_index).size
    assert len(data.train_index) == TINY.train_limit


def test_pool_and_reference_are_balanced_over_the_ten_classes(data):
    assert np.bincount(data.source.train_labels[data.pool_index]).tolist() == [5] * 10
    assert np.bincount(data.source.test_labels[data.reference_index]).tolist() == [8] * 10


def test_split_with_the_same_seed_is_identical(fashion, classes, digits, data):
    again = split_demo_data(fashion, TINY, classes, seed=3, digits=digits)
    assert np.array_equal(again.pool_index, data.pool_index)
    assert [c.data for c in again.contamination] == [c.data for c in data.contamination]


def test_contamination_has_exact_near_and_digit_images_in_the_asked_numbers(data):
    kinds = [c.kind for c in data.contamination]
    assert kinds.count("exact") == 4 and kinds.count("digit") == 5
    assert sum(kinds.count(k) for k in ("jpeg", "resized", "shifted")) == 6


def test_exact_copies_have_the_pixels_of_a_reference_image(data):
    exact = [c for c in data.contamination if c.kind == "exact"]
    for item in exact:
        assert item.test_index in data.reference_index
        pixels = np.asarray(Image.open(io.BytesIO(item.data)))
        assert np.array_equal(pixels, data.source.test_images[item.test_index])


def test_near_copies_differ_from_their_original_but_stay_close(data):
    for item in (c for c in data.contamination if c.kind in ("jpeg", "shifted")):
        pixels = np.asarray(Image.open(io.BytesIO(item.data))).astype(float)
        original = data.source.test_images[item.test_index].astype(float)
        assert 0 < np.abs(pixels - original).mean() < 60


def test_digits_are_28_pixel_images_of_no_class(data):
    for item in (c for c in data.contamination if c.kind == "digit"):
        assert Image.open(io.BytesIO(item.data)).size == (28, 28)
        assert item.test_index == -1 and not item.is_copy


def test_write_sources_writes_the_reference_folder_pool_idx_and_manifest(data, classes, tmp_path):
    files = write_sources(data, classes, tmp_path)
    assert len(list(files.reference.glob("*/*.png"))) == 80
    assert np.array_equal(read_idx(files.pool_images), data.source.train_images[data.pool_index])
    manifest = json.loads(files.manifest.read_text())
    exact = next(c for c in data.contamination if c.kind == "exact")
    assert manifest[content_id(exact.data)]["copy_of"] == reference_name(exact.test_index)


def test_small_sizes_give_at_least_100_candidates_per_class():
    assert SMALL_SIZES.candidates_per_class >= 100


def test_reference_files_are_named_by_their_test_index():
    assert Path(reference_name(42)).stem == "fmnist-test-00042"
