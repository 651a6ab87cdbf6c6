"""Manifests in the published ImageNetV2 format: read and written byte for byte."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import lzma
import os
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from heldout.datasets import Manifest, load_dataset
from heldout.errors import ManifestError

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = (
    "imagenet-validation-original",
    "imagenet-annotatedval20k-0",
    "imagenetv2-a-44",
    "imagenetv2-b-33",
    "imagenetv2-c-12",
)


@pytest.fixture(scope="session")
def manifests_dir(shared_data: Path) -> Path:
    return shared_data / "imagenetv2" / "datasets"


@pytest.fixture(scope="session")
def b33_document(manifests_dir: Path) -> dict:
    return json.loads((manifests_dir / "imagenetv2-b-33.json").read_bytes())


@pytest.fixture(scope="session")
def build_script():
    spec = importlib.util.spec_from_file_location(
        "build_package_data_for_manifests", REPO / "scripts" / "build_package_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_manifest(path: Path, pairs: list, **metadata) -> Path:
    path.write_text(json.dumps({**metadata, "image_filenames": pairs}, indent=2))
    return path


def test_the_five_published_manifests_are_the_ones_shipped(manifests_dir, build_script):
    assert sorted(p.stem for p in manifests_dir.glob("*.json")) == sorted(PUBLISHED)
    assert sorted(build_script.MANIFESTS) == sorted(PUBLISHED)


@pytest.mark.parametrize("name", PUBLISHED)
def test_save_of_load_is_byte_identical_for_published_manifest(name, manifests_dir, tmp_path):
    source = manifests_dir / f"{name}.json"
    saved = Manifest.load(source).save(tmp_path / f"{name}.json")
    assert saved.read_bytes() == source.read_bytes()


@pytest.mark.parametrize("name", PUBLISHED)
def test_packaged_manifest_equals_published_file(name, manifests_dir):
    assert load_dataset(name).manifest.to_bytes() == (manifests_dir / f"{name}.json").read_bytes()


@pytest.mark.parametrize("name", PUBLISHED)
def test_packaged_manifest_file_decompresses_to_published_bytes(name, manifests_dir):
    packaged = resources.files("heldout").joinpath(f"data/manifests/{name}.json.xz").read_bytes()
    assert lzma.decompress(packaged) == (manifests_dir / f"{name}.json").read_bytes()


def test_packaged_manifest_regenerates_byte_identically(manifests_dir, build_script):
    packaged = resources.files("heldout").joinpath("data/manifests/imagenetv2-b-33.json.xz").read_bytes()
    assert build_script.compress((manifests_dir / "imagenetv2-b-33.json").read_bytes()) == packaged


@pytest.mark.parametrize("name", PUBLISHED)
def test_manifest_sha256_is_hash_of_published_bytes(name, manifests_dir):
    expected = hashlib.sha256((manifests_dir / f"{name}.json").read_bytes()).hexdigest()
    assert load_dataset(name).sha256 == expected


def test_load_gives_ids_and_wnids_as_aligned_arrays(manifests_dir, b33_document):
    manifest = Manifest.load(manifests_dir / "imagenetv2-b-33.json")
    assert isinstance(manifest.ids, np.ndarray)
    assert isinstance(manifest.wnids, np.ndarray)
    assert manifest.ids.tolist() == [pair[0] for pair in b33_document["image_filenames"]]
    assert manifest.wnids.tolist() == [pair[1] for pair in b33_document["image_filenames"]]


def test_load_keeps_every_other_key_as_metadata_in_file_order(manifests_dir, b33_document):
    manifest = Manifest.load(manifests_dir / "imagenetv2-b-33.json")
    expected = {k: v for k, v in b33_document.items() if k != "image_filenames"}
    assert dict(manifest.metadata) == expected
    assert list(manifest.metadata) == list(expected)


def test_manifest_name_comes_from_output_filename(manifests_dir):
    assert Manifest.load(manifests_dir / "imagenetv2-a-44.json").name == "imagenetv2-a-44"


def test_manifest_name_falls_back_to_file_name(tmp_path):
    path = write_manifest(tmp_path / "my-set.json", [["a", "n01440764"]])
    assert Manifest.load(path).name == "my-set"


def test_manifest_length_is_number_of_images(manifests_dir):
    assert len(Manifest.load(manifests_dir / "imagenet-annotatedval20k-0.json")) == 20_000


def test_duplicate_ids_raise_manifest_error_naming_the_file_and_id(tmp_path, b33_document):
    pairs = b33_document["image_filenames"][:5]
    path = write_manifest(tmp_path / "dup.json", [*pairs, pairs[2]])
    with pytest.raises(ManifestError, match=pairs[2][0]) as caught:
        Manifest.load(path)
    assert caught.value.where == str(path)


def test_unknown_wnid_raises_manifest_error_at_load_dataset(tmp_path, b33_document):
    pairs = [*b33_document["image_filenames"][:3], ["someimage", "n00000042"]]
    path = write_manifest(tmp_path / "odd-classes.json", pairs)
    with pytest.raises(ManifestError, match="n00000042") as caught:
        load_dataset(path)
    assert caught.value.where == str(path)


def test_bad_json_raises_manifest_error_naming_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"image_filenames": [["a", "n01440764"],')
    with pytest.raises(ManifestError, match="not valid JSON") as caught:
        Manifest.load(path)
    assert caught.value.where == str(path)


@pytest.mark.parametrize(
    "document",
    [[], {"seed": 1}, {"image_filenames": {"a": "n01440764"}}],
    ids=["list", "no-image-list", "image-list-is-object"],
)
def test_json_that_is_not_a_manifest_raises_manifest_error(tmp_path, document):
    path = tmp_path / "other.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ManifestError, match="image_filenames"):
        Manifest.load(path)


def test_entry_that_is_not_a_pair_raises_manifest_error(tmp_path):
    path = write_manifest(tmp_path / "triples.json", [["a", "n01440764", "extra"]])
    with pytest.raises(ManifestError, match=r"\[image_id, class_id\]"):
        Manifest.load(path)


def test_missing_manifest_file_raises_manifest_error(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        Manifest.load(tmp_path / "absent.json")


def test_ids_and_wnids_of_different_length_raise_manifest_error():
    with pytest.raises(ManifestError, match="length"):
        Manifest.create(["a", "b"], ["n01440764"])


def test_save_leaves_no_temporary_files(tmp_path):
    manifest = Manifest.create(["a", "b"], ["n01440764", "n15075141"])
    manifest.save(tmp_path / "set.json")
    manifest.save(tmp_path / "set.json")  # overwrite in place
    assert os.listdir(tmp_path) == ["set.json"]


def test_failed_save_keeps_the_old_file_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "set.json"
    old = Manifest.create(["a"], ["n01440764"])
    old.save(path)

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("heldout.atomic.os.replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        Manifest.create(["b", "c"], ["n01443537", "n15075141"]).save(path)
    assert path.read_bytes() == old.to_bytes()
    assert os.listdir(tmp_path) == ["set.json"]


def test_save_creates_missing_parent_folders(tmp_path):
    path = Manifest.create(["a"], ["n01440764"]).save(tmp_path / "deep" / "er" / "set.json")
    assert path.is_file()


def test_create_writes_metadata_keys_first_then_images(tmp_path):
    manifest = Manifest.create(["x"], ["n01440764"], {"seed": 7, "username": "me"})
    document = json.loads(manifest.to_bytes())
    assert list(document) == ["seed", "username", "image_filenames"]
    assert document["image_filenames"] == [["x", "n01440764"]]


def test_created_manifest_loads_as_test_set_with_labels(tmp_path):
    path = Manifest.create(["x", "y", "z"], ["n15075141", "n01440764", "n01443537"]).save(
        tmp_path / "mine.json"
    )
    testset = load_dataset(path)
    assert testset.name == "mine"
    assert testset.labels.tolist() == [999, 0, 1]


def test_created_manifest_round_trips_through_file_byte_for_byte(tmp_path):
    manifest = Manifest.create(["x", "y"], ["n15075141", "n01440764"], {"seed": 3})
    path = manifest.save(tmp_path / "mine.json")
    assert Manifest.load(path).to_bytes() == path.read_bytes() == manifest.to_bytes()
