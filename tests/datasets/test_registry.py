"""The registry of named test sets: names, aliases, sizes, ReaL attachment, registration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heldout.classes import ClassSet
from heldout.datasets import (
    Manifest,
    TestSet,
    _registry,
    list_datasets,
    load_dataset,
    register_dataset,
    resolve_name,
)
from heldout.errors import DatasetError, UnknownDatasetError

CANONICAL = [
    "imagenet-annotatedval20k-0",
    "imagenet-validation-original",
    "imagenetv2-a-44",
    "imagenetv2-b-33",
    "imagenetv2-c-12",
]
ALIASES = {
    "imagenet-val": "imagenet-validation-original",
    "imagenetv2-threshold0.7": "imagenetv2-a-44",
    "imagenetv2-matched-frequency": "imagenetv2-b-33",
    "imagenetv2-top-images": "imagenetv2-c-12",
}
SIZES = {  # from the public releases
    "imagenet-validation-original": 50_000,
    "imagenet-annotatedval20k-0": 20_000,
    "imagenetv2-a-44": 10_000,
    "imagenetv2-b-33": 10_000,
    "imagenetv2-c-12": 10_000,
}


@pytest.fixture()
def isolated_registry(monkeypatch):
    """Registrations made in a test vanish after it."""
    monkeypatch.setattr(_registry, "_ENTRIES", dict(_registry._ENTRIES))
    monkeypatch.setattr(_registry, "_ALIASES", dict(_registry._ALIASES))


def test_list_datasets_names_the_five_published_sets():
    assert list_datasets() == CANONICAL


def test_list_datasets_pattern_selects_imagenetv2_sets():
    assert list_datasets("imagenetv2-*") == ["imagenetv2-a-44", "imagenetv2-b-33", "imagenetv2-c-12"]


def test_list_datasets_pattern_without_match_is_empty():
    assert list_datasets("cifar*") == []


def test_list_datasets_leaves_aliases_out_by_default():
    assert not set(ALIASES) & set(list_datasets())


def test_list_datasets_with_aliases_includes_them():
    assert list_datasets(include_aliases=True) == sorted([*CANONICAL, *ALIASES])


def test_list_datasets_pattern_applies_to_aliases():
    assert list_datasets("*frequency*", include_aliases=True) == ["imagenetv2-matched-frequency"]


@pytest.mark.parametrize(("alias", "canonical"), ALIASES.items())
def test_alias_resolves_to_canonical_name(alias, canonical):
    assert resolve_name(alias) == canonical


@pytest.mark.parametrize(("alias", "canonical"), ALIASES.items())
def test_load_dataset_by_alias_gives_the_canonical_set(alias, canonical):
    testset = load_dataset(alias)
    assert testset.name == canonical
    assert testset.sha256 == load_dataset(canonical).sha256


@pytest.mark.parametrize(("alias", "canonical"), ALIASES.items())
def test_test_set_lists_its_alias(alias, canonical):
    assert alias in load_dataset(canonical).aliases


@pytest.mark.parametrize(("name", "size"), SIZES.items())
def test_published_set_has_release_size(name, size):
    testset = load_dataset(name)
    assert len(testset) == size
    assert testset.labels.shape == (size,)


@pytest.mark.parametrize("name", CANONICAL)
def test_published_set_labels_are_class_indices_of_its_wnids(name):
    testset = load_dataset(name)
    assert np.array_equal(testset.classes.ids[testset.labels], testset.manifest.wnids)


def test_published_imagenetv2_sets_have_ten_images_per_class():
    for name in ("imagenetv2-a-44", "imagenetv2-b-33", "imagenetv2-c-12"):
        assert np.bincount(load_dataset(name).labels, minlength=1000).tolist() == [10] * 1000


def test_val_labels_equal_the_original_val_labels(shared_data: Path):
    original = np.loadtxt(shared_data / "real" / "val_original_labels.txt", dtype=np.int64)
    val = load_dataset("imagenet-val")
    numbers = np.array(
        [int(i.removeprefix("ILSVRC2012_val_").removesuffix(".JPEG")) for i in val.ids.tolist()]
    )
    assert np.array_equal(original[numbers - 1], val.labels)


def test_unknown_name_raises_unknown_dataset_error_with_did_you_mean():
    with pytest.raises(UnknownDatasetError, match=r"did you mean .*imagenetv2-b-33"):
        load_dataset("imagenetv2-b-3")


def test_unknown_name_suggests_close_alias():
    with pytest.raises(UnknownDatasetError, match=r"did you mean .*imagenetv2-matched-frequency"):
        resolve_name("imagenetv2-matched-frequncy")


def test_unknown_name_far_from_any_name_gives_no_suggestion():
    with pytest.raises(UnknownDatasetError) as caught:
        load_dataset("cifar10")
    assert "did you mean" not in caught.value.message
    assert "'cifar10'" in caught.value.message


def test_unknown_dataset_error_is_a_dataset_error():
    with pytest.raises(DatasetError):
        load_dataset("nope")


@pytest.mark.parametrize("name", ["imagenet-validation-original", "imagenet-annotatedval20k-0"])
def test_val_based_sets_carry_real_labels_aligned_to_manifest(name):
    testset = load_dataset(name)
    assert testset.real is not None
    assert np.array_equal(testset.real.file_names, testset.ids)


@pytest.mark.parametrize("name", ["imagenetv2-a-44", "imagenetv2-b-33", "imagenetv2-c-12"])
def test_imagenetv2_sets_have_no_real_labels(name):
    assert load_dataset(name).real is None


def test_manifest_file_loads_without_real_labels(tmp_path):
    path = Manifest.create(["ILSVRC2012_val_00000001.JPEG"], ["n01751748"]).save(tmp_path / "one.json")
    assert load_dataset(path).real is None


def test_load_dataset_of_a_path_uses_the_given_class_set(tmp_path):
    classes = ClassSet.from_file(_write(tmp_path / "two.csv", "id,name\nb,Bee\na,Ant\n"))
    path = Manifest.create(["x", "y", "z"], ["a", "b", "a"]).save(tmp_path / "mine.json")
    assert load_dataset(path, classes=classes).labels.tolist() == [1, 0, 1]


def test_register_dataset_of_duplicate_name_raises(isolated_registry):
    with pytest.raises(ValueError, match="imagenetv2-b-33"):
        register_dataset("imagenetv2-b-33")(lambda: load_dataset("imagenetv2-b-33"))


def test_register_dataset_with_alias_taken_by_another_set_raises(isolated_registry):
    with pytest.raises(ValueError, match="imagenet-val"):
        register_dataset("my-set", aliases=("imagenet-val",))(lambda: load_dataset("imagenet-val"))


def test_failed_registration_leaves_the_registry_unchanged(isolated_registry):
    with pytest.raises(ValueError):
        register_dataset("my-set", aliases=("imagenet-val",))(lambda: load_dataset("imagenet-val"))
    assert "my-set" not in list_datasets(include_aliases=True)


def test_registered_set_loads_by_name_and_alias(isolated_registry):
    manifest = Manifest.create(["a", "b"], ["n01440764", "n15075141"], {"output_filename": "tiny-set.json"})

    @register_dataset("tiny-set", aliases=("tiny",), description="two images")
    def tiny() -> TestSet:
        return TestSet("tiny-set", manifest, ClassSet.imagenet1k(), aliases=("tiny",))

    assert "tiny-set" in list_datasets()
    assert load_dataset("tiny").labels.tolist() == [0, 999]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
