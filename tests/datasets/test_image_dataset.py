"""ImageDataset over real photos (scikit-image's sample images), through torch's DataLoader."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from torch.utils.data import DataLoader

from heldout.classes import ClassSet
from heldout.datasets import ImageDataset, Manifest, RealLabels, TestSet, load_dataset
from heldout.errors import DatasetError, ImageError, ManifestMismatchError
from heldout.preprocessing import Preprocessing

# photo -> the ImageNet class (by its first name) it is filed under
PHOTOS = {
    "chelsea": "tabby",
    "coffee": "espresso",
    "astronaut": "suit",
    "rocket": "space shuttle",
    "camera": "tripod",  # grayscale
}


@pytest.fixture(scope="session")
def imagenet() -> ClassSet:
    return ClassSet.imagenet1k()


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> dict[str, Path]:
    """The sample photos written once as JPEG files."""
    folder = tmp_path_factory.mktemp("photos")
    paths = {}
    for name in PHOTOS:
        path = folder / f"{name}.jpeg"
        Image.fromarray(getattr(skimage.data, name)()).save(path, "JPEG", quality=90)
        paths[name] = path
    return paths


def wnid_named(classes: ClassSet, name: str) -> str:
    return next(c.id for c in classes if c.names[0] == name)


@pytest.fixture(scope="session")
def v2_set(tmp_path_factory, photos, imagenet) -> tuple[TestSet, Path]:
    """A manifest file of the five photos and their folder in the released layout ``<class index>/<id>.jpeg``."""
    folder = tmp_path_factory.mktemp("v2set")
    wnids = [wnid_named(imagenet, PHOTOS[name]) for name in photos]
    manifest_path = Manifest.create(list(photos), wnids, {"seed": 0}).save(folder / "photos.json")
    testset = load_dataset(manifest_path)
    root = folder / "images"
    for name, label in zip(photos, testset.labels.tolist(), strict=True):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        os.link(photos[name], root / str(label) / f"{name}.jpeg")
    return testset, root


VAL_ROWS = [0, 1, 2, 3, 4, 5, 6]  # val images 1..7: image 1 has no ReaL label, images 2, 3, 5 have two


@pytest.fixture(scope="session")
def val_set(tmp_path_factory, photos, imagenet) -> tuple[TestSet, Path]:
    """Seven ImageNet val file names (flat, as distributed) holding the photos, with packaged ReaL labels."""
    val = load_dataset("imagenet-val")
    ids = [f"ILSVRC2012_val_{row + 1:08d}.JPEG" for row in VAL_ROWS]
    wnid_of = dict(zip(val.ids.tolist(), val.manifest.wnids.tolist(), strict=True))
    wnids = [wnid_of[i] for i in ids]
    manifest = Manifest.create(ids, wnids)
    testset = TestSet("val-photos", manifest, imagenet, RealLabels.load().align(manifest.ids))
    root = tmp_path_factory.mktemp("valset")
    for image_id, photo in zip(ids, [*photos.values(), *photos.values()], strict=False):
        os.link(photo, root / image_id)
    return testset, root


def copy_tree(source: Path, target: Path) -> Path:
    return Path(shutil.copytree(source, target, copy_function=os.link))


# ---------------------------------------------------------------- batches through DataLoader


def test_loader_batches_are_float32_224px_tensors(v2_set):
    testset, root = v2_set
    images, labels = next(
        iter(DataLoader(ImageDataset(testset, root, preprocessing=Preprocessing()), batch_size=4))
    )
    assert images.shape == (4, 3, 224, 224)
    assert images.dtype == torch.float32


def test_loader_labels_are_an_int64_tensor_in_manifest_order(v2_set):
    testset, root = v2_set
    loader = DataLoader(ImageDataset(testset, root, preprocessing=Preprocessing()), batch_size=2)
    labels = torch.cat([batch[1] for batch in loader])
    assert labels.dtype == torch.int64
    assert labels.tolist() == testset.labels.tolist()


def test_loader_gives_every_image_once(v2_set):
    testset, root = v2_set
    loader = DataLoader(ImageDataset(testset, root, preprocessing=Preprocessing()), batch_size=2)
    assert sum(len(images) for images, _ in loader) == len(testset) == 5


def test_item_is_preprocessing_of_the_photo_file(v2_set):
    testset, root = v2_set
    dataset = ImageDataset(testset, root, preprocessing=Preprocessing())
    with Image.open(dataset.paths[1]) as photo:
        expected = Preprocessing()(photo)
    assert np.array_equal(dataset[1][0], expected)


def test_labels_name_the_classes_the_photos_were_filed_under(v2_set, imagenet):
    testset, root = v2_set
    dataset = ImageDataset(testset, root)
    assert [imagenet[dataset[i][1]].name for i in range(len(dataset))] == list(PHOTOS.values())


def test_item_without_preprocessing_is_the_rgb_photo(v2_set):
    testset, root = v2_set
    image, _ = ImageDataset(testset, root)[0]
    assert isinstance(image, Image.Image)
    assert image.mode == "RGB"
    assert image.size == (451, 300)  # chelsea is 451 x 300


def test_transform_replaces_preprocessing(v2_set):
    testset, root = v2_set
    dataset = ImageDataset(testset, root, transform=lambda image: image.size, preprocessing=Preprocessing())
    assert dataset[3][0] == (640, 427)  # rocket is 640 x 427


def test_grayscale_photo_comes_out_with_three_channels(v2_set):
    testset, root = v2_set
    dataset = ImageDataset(testset, root, preprocessing=Preprocessing())
    with Image.open(dataset.paths[4]) as photo:
        assert photo.mode == "L"
    assert dataset[4][0].shape == (3, 224, 224)


def test_extra_file_in_folder_is_not_an_error(v2_set, tmp_path, photos):
    testset, root = v2_set
    copy = copy_tree(root, tmp_path / "images")
    os.link(photos["coffee"], copy / str(testset.labels[0]) / "unlisted.jpeg")
    assert len(ImageDataset(testset, copy)) == len(testset)


# ---------------------------------------------------------------- ReaL labels


def test_real_multi_hot_batches_are_bool_and_match_real_labels(val_set):
    testset, root = val_set
    dataset = ImageDataset(testset, root, preprocessing=Preprocessing(), real="multi_hot")
    batches = list(DataLoader(dataset, batch_size=3))
    hot = torch.cat([batch[2] for batch in batches])
    assert batches[0][2].shape == (3, 1000)
    assert hot.dtype == torch.bool
    assert torch.equal(hot, torch.from_numpy(testset.real.multi_hot(1000)))


def test_real_multi_hot_rows_hold_the_public_label_sets(val_set, shared_data):
    lists = json.loads((shared_data / "real" / "real.json").read_bytes())
    testset, root = val_set
    dataset = ImageDataset(testset, root, real="multi_hot")
    assert [set(np.flatnonzero(dataset[i][2]).tolist()) for i in range(len(dataset))] == [
        set(lists[r]) for r in VAL_ROWS
    ]


def test_real_list_gives_each_image_its_label_set(val_set):
    testset, root = val_set
    dataset = ImageDataset(testset, root, real="list")
    assert [dataset[i][2] for i in range(len(dataset))] == [
        testset.real.labels_of(i) for i in range(len(dataset))
    ]


def test_val_set_labels_are_the_original_val_labels(val_set, shared_data):
    original = np.loadtxt(shared_data / "real" / "val_original_labels.txt", dtype=np.int64)
    testset, root = val_set
    dataset = ImageDataset(testset, root)
    assert [dataset[i][1] for i in range(len(dataset))] == original[VAL_ROWS].tolist()


def test_real_on_set_without_real_labels_raises_dataset_error(v2_set):
    testset, root = v2_set
    with pytest.raises(DatasetError, match="no ReaL labels"):
        ImageDataset(testset, root, real="multi_hot")


# ---------------------------------------------------------------- folders that do not match


def test_missing_image_raises_manifest_mismatch_error(v2_set, tmp_path):
    testset, root = v2_set
    copy = copy_tree(root, tmp_path / "images")
    label = testset.labels[2]
    (copy / str(label) / "astronaut.jpeg").unlink()
    with pytest.raises(ManifestMismatchError, match="1 missing"):
        ImageDataset(testset, copy)


def test_missing_val_image_raises_manifest_mismatch_error(val_set, tmp_path):
    testset, root = val_set
    copy = copy_tree(root, tmp_path / "val")
    (copy / "ILSVRC2012_val_00000004.JPEG").unlink()
    with pytest.raises(ManifestMismatchError, match="6/7 images found"):
        ImageDataset(testset, copy, real="multi_hot")


def test_image_in_wrong_class_folder_raises_manifest_mismatch_error(v2_set, tmp_path):
    testset, root = v2_set
    copy = copy_tree(root, tmp_path / "images")
    label = testset.labels[0]
    (copy / "0").mkdir()
    (copy / str(label) / "chelsea.jpeg").rename(copy / "0" / "chelsea.jpeg")
    with pytest.raises(ManifestMismatchError, match="1 in the wrong class"):
        ImageDataset(testset, copy)


def test_undecodable_image_raises_image_error_naming_the_file(v2_set, tmp_path):
    testset, root = v2_set
    copy = copy_tree(root, tmp_path / "images")
    broken = copy / str(testset.labels[1]) / "coffee.jpeg"
    broken.unlink()
    broken.write_bytes(b"not a jpeg at all")
    dataset = ImageDataset(testset, copy, preprocessing=Preprocessing())
    with pytest.raises(ImageError, match="cannot decode") as caught:
        dataset[1]
    assert caught.value.where == str(broken)
