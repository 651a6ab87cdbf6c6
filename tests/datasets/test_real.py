"""ReaL label sets: the packaged copy against the public real.json, alignment, membership."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from heldout.datasets import RealLabels, load_dataset, val_file_name
from heldout.errors import LabelsError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def real() -> RealLabels:
    return RealLabels.load()


@pytest.fixture(scope="session")
def real_json(shared_data: Path) -> Path:
    return shared_data / "real" / "real.json"


@pytest.fixture(scope="session")
def lists(real_json: Path) -> list[list[int]]:
    return json.loads(real_json.read_bytes())


@pytest.fixture(scope="session")
def sample_rows(lists) -> np.ndarray:
    """A few hundred val positions: random ones plus every kind of list (empty, one, several labels)."""
    rng = np.random.default_rng(7)
    lengths = np.array([len(x) for x in lists])
    picks = [
        rng.choice(50_000, 300, replace=False),
        rng.choice(np.flatnonzero(lengths == 0), 20, replace=False),
        rng.choice(np.flatnonzero(lengths >= 3), 30, replace=False),
        [int(np.argmax(lengths))],
    ]
    return np.unique(np.concatenate(picks))


def python_contains(lists, rows, predictions) -> list[list[bool]]:
    return [[int(p) in set(lists[r]) for p in preds] for r, preds in zip(rows, predictions, strict=True)]


def test_packaged_real_has_50000_lists(real):
    assert len(real) == 50_000


def test_packaged_real_has_3163_empty_lists(real):
    assert int((real.counts == 0).sum()) == 3_163


def test_packaged_real_has_7443_lists_with_two_or_more_labels(real):
    assert int((real.counts >= 2).sum()) == 7_443


def test_packaged_real_has_at_most_nine_labels_per_image(real):
    assert int(real.counts.max()) == 9


def test_packaged_real_sha256_is_hash_of_public_file(real, real_json):
    assert real.sha256 == hashlib.sha256(real_json.read_bytes()).hexdigest()


def test_packaged_real_label_sets_equal_public_lists(real, lists):
    assert real.counts.tolist() == [len(x) for x in lists]
    assert real.labels.tolist() == [v for x in lists for v in x]


def test_packaged_real_regenerates_byte_identically(real_json):
    spec = importlib.util.spec_from_file_location(
        "build_package_data_for_real", REPO / "scripts" / "build_package_data.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    packaged = resources.files("heldout").joinpath("data/real.json.xz").read_bytes()
    assert script.compress(real_json.read_bytes()) == packaged


def test_load_from_path_equals_packaged_copy(real, real_json):
    loaded = RealLabels.load(real_json)
    assert np.array_equal(loaded.offsets, real.offsets)
    assert np.array_equal(loaded.labels, real.labels)


def test_list_i_belongs_to_val_image_i_plus_1(real, lists):
    assert real.file_names[0] == "ILSVRC2012_val_00000001.JPEG"
    assert real.file_names[49_999] == "ILSVRC2012_val_00050000.JPEG"
    assert real.labels_of(1) == lists[1]


def test_val_file_name_is_one_based_and_zero_padded():
    assert val_file_name(np.array([0, 9, 49_999])).tolist() == [
        "ILSVRC2012_val_00000001.JPEG",
        "ILSVRC2012_val_00000010.JPEG",
        "ILSVRC2012_val_00050000.JPEG",
    ]


def test_align_in_shuffled_order_gives_same_label_sets(real, lists):
    order = np.random.default_rng(1).permutation(50_000)
    aligned = real.align(real.file_names[order])
    assert aligned.file_names.tolist() == real.file_names[order].tolist()
    assert all(sorted(aligned.labels_of(i)) == sorted(lists[r]) for i, r in enumerate(order[:2000]))
    assert np.array_equal(aligned.counts, real.counts[order])


def test_align_on_subset_gives_same_label_sets(real, lists, sample_rows):
    subset = sample_rows[::-1]
    aligned = real.align(val_file_name(subset))
    assert len(aligned) == len(subset)
    assert [sorted(aligned.labels_of(i)) for i in range(len(subset))] == [sorted(lists[r]) for r in subset]


def test_align_to_val_manifest_order_matches_file_numbers(real, lists):
    val = load_dataset("imagenet-val")
    aligned = real.align(val.ids)
    numbers = [int(i.removeprefix("ILSVRC2012_val_").removesuffix(".JPEG")) for i in val.ids[:500].tolist()]
    assert [aligned.labels_of(i) for i in range(500)] == [lists[n - 1] for n in numbers]


@pytest.mark.parametrize(
    "image_id",
    ["ILSVRC2012_val_00050001.JPEG", "ILSVRC2012_val_00000001.jpeg", "ILSVRC2012_val_00000001"],
)
def test_align_with_non_val_id_raises_labels_error(real, image_id):
    with pytest.raises(LabelsError, match="no ReaL entry"):
        real.align(["ILSVRC2012_val_00000002.JPEG", image_id])


def test_align_with_imagenetv2_ids_raises_labels_error(real):
    with pytest.raises(LabelsError, match="10000 image"):
        real.align(load_dataset("imagenetv2-b-33").ids)


@pytest.mark.parametrize("length", [0, 49_999, 50_001])
def test_from_lists_with_wrong_length_raises_labels_error(length):
    with pytest.raises(LabelsError, match=f"found {length}"):
        RealLabels.from_lists([[1]] * length)


def test_from_lists_of_non_list_raises_labels_error():
    with pytest.raises(LabelsError, match="found dict"):
        RealLabels.from_lists({"a": [1]})


def test_from_lists_with_class_out_of_range_raises_labels_error():
    lists = [[1]] * 50_000
    lists[123] = [1000]
    with pytest.raises(LabelsError, match="0..999"):
        RealLabels.from_lists(lists)


def test_from_lists_with_non_integer_label_raises_labels_error():
    lists = [[1]] * 50_000
    lists[5] = ["1"]
    with pytest.raises(LabelsError, match="list of class indices"):
        RealLabels.from_lists(lists)


def test_bad_json_raises_labels_error_naming_the_file(tmp_path):
    path = tmp_path / "real.json"
    path.write_text("[[1], [2]")
    with pytest.raises(LabelsError, match="not valid JSON") as caught:
        RealLabels.load(path)
    assert caught.value.where == str(path)


def test_missing_real_file_raises_labels_error(tmp_path):
    with pytest.raises(LabelsError, match="not found"):
        RealLabels.load(tmp_path / "real.json")


def test_contains_agrees_with_python_membership(real, lists, sample_rows):
    rng = np.random.default_rng(3)
    predictions = rng.integers(0, 1000, size=(len(sample_rows), 5))
    for i, r in enumerate(sample_rows):  # make sure there are hits, at varying ranks
        if lists[r]:
            predictions[i, i % 5] = lists[r][i % len(lists[r])]
    aligned = real.align(val_file_name(sample_rows))
    assert aligned.contains(predictions).tolist() == python_contains(lists, sample_rows, predictions)


def test_contains_on_full_set_agrees_with_python_membership(real, lists, sample_rows):
    predictions = np.random.default_rng(4).integers(0, 1000, size=(50_000, 3))
    predictions[:, 1] = [x[-1] if x else 0 for x in lists]
    found = real.contains(predictions)
    assert found[sample_rows].tolist() == python_contains(lists, sample_rows, predictions[sample_rows])


def test_contains_on_set_without_empty_lists_agrees_with_python_membership(real, lists, sample_rows):
    rows = np.array([r for r in sample_rows if lists[r]])
    predictions = np.random.default_rng(5).integers(0, 1000, size=(len(rows), 5))
    predictions[:, 0] = [lists[r][0] for r in rows]
    aligned = real.align(val_file_name(rows))
    assert aligned.contains(predictions).tolist() == python_contains(lists, rows, predictions)


def test_contains_of_empty_label_set_is_always_false(real, lists):
    empty = [i for i, x in enumerate(lists) if not x][:50]
    aligned = real.align(val_file_name(np.array(empty)))
    assert not aligned.contains(np.tile(np.arange(1000), (len(empty), 1))).any()


def test_multi_hot_rows_equal_label_sets(real, lists, sample_rows):
    hot = real.align(val_file_name(sample_rows)).multi_hot(1000)
    assert hot.shape == (len(sample_rows), 1000)
    assert hot.dtype == bool
    assert [set(np.flatnonzero(row).tolist()) for row in hot] == [set(lists[r]) for r in sample_rows]


def test_multi_hot_counts_equal_list_lengths(real, lists):
    assert real.multi_hot(1000).sum(axis=1).tolist() == [len(set(x)) for x in lists]


def test_contains_never_matches_padding_or_out_of_range_predictions(real, lists, sample_rows):
    predictions = np.array([[-1, 1000, (x or [0])[0], -1] for x in (lists[r] for r in sample_rows)])
    aligned = real.align(val_file_name(sample_rows))
    assert aligned.contains(predictions).tolist() == python_contains(lists, sample_rows, predictions)


def test_contains_on_uint16_predictions_agrees_with_python_membership(real, lists, sample_rows):
    predictions = np.random.default_rng(6).integers(0, 1000, size=(len(sample_rows), 5)).astype(np.uint16)
    predictions[:, 2] = [(lists[r] or [7])[-1] for r in sample_rows]
    aligned = real.align(val_file_name(sample_rows))
    assert aligned.contains(predictions).tolist() == python_contains(lists, sample_rows, predictions)


def test_real_top1_of_published_resnet50_val_predictions_is_82_96(predictions_dir):
    val = load_dataset("imagenet-val")
    top5 = np.load(predictions_dir / "imagenet-validation-original" / "resnet50.npy")
    hits = val.real.contains(top5[:, :1])[:, 0]
    assert round(100 * hits[val.real.counts > 0].mean(), 2) == 82.96


def test_real_top1_of_original_val_labels_is_90_02():
    val = load_dataset("imagenet-val")
    hits = val.real.contains(val.labels[:, None])[:, 0]
    assert round(100 * hits[val.real.counts > 0].mean(), 2) == 90.02
