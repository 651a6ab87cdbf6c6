"""Image folders against manifests: released layout, wnid layout, flat layout."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from heldout.classes import ClassSet
from heldout.datasets import Manifest, TestSet, load_dataset, match_folder, scan_folder
from heldout.errors import DatasetError, HeldoutError


@pytest.fixture(scope="session")
def b33() -> TestSet:
    return load_dataset("imagenetv2-b-33")


@pytest.fixture(scope="session")
def pixel_jpeg(tmp_path_factory) -> Path:
    """One 1-pixel JPEG; every image of a generated tree is a hard link to it."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 30, 30)).save(buffer, "JPEG")
    path = tmp_path_factory.mktemp("pixel") / "pixel.jpeg"
    path.write_bytes(buffer.getvalue())
    return path


def build_tree(root: Path, testset: TestSet, source: Path, *, layout: str = "imagenetv2") -> Path:
    """The released layout ``<class index>/<id>.jpeg`` (or ``<wnid>/<id>``, or flat) for ``testset``."""
    for image_id, label, wnid in zip(
        testset.ids.tolist(), testset.labels.tolist(), testset.manifest.wnids.tolist(), strict=True
    ):
        file_name = image_id if image_id.endswith(".JPEG") else f"{image_id}.jpeg"
        if layout == "imagenetv2":
            path = root / str(label) / file_name
        elif layout == "wnid":
            path = root / wnid / file_name
        else:
            path = root / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, path)
    return root


def subset(testset: TestSet, rows, name: str = "subset") -> TestSet:
    rows = np.asarray(rows)
    manifest = Manifest.create(testset.ids[rows], testset.manifest.wnids[rows])
    return TestSet(name, manifest, testset.classes)


@pytest.fixture(scope="session")
def clean_tree(tmp_path_factory, b33, pixel_jpeg) -> Path:
    return build_tree(tmp_path_factory.mktemp("clean") / "imagenetv2-b-33", b33, pixel_jpeg)


@pytest.fixture(scope="session")
def faulty(tmp_path_factory, b33, pixel_jpeg):
    """The b-33 tree with one file missing, one extra file and one file in the wrong class folder."""
    root = build_tree(tmp_path_factory.mktemp("faulty") / "imagenetv2-b-33", b33, pixel_jpeg)
    missing_row, moved_row = 1234, 5678
    missing_id, moved_id = b33.ids[missing_row], b33.ids[moved_row]
    expected = int(b33.labels[moved_row])
    found = (expected + 500) % 1000
    (root / str(b33.labels[missing_row]) / f"{missing_id}.jpeg").unlink()
    moved_to = root / str(found) / f"{moved_id}.jpeg"
    (root / str(expected) / f"{moved_id}.jpeg").rename(moved_to)
    extra = root / "17" / ("f" * 40 + ".jpeg")
    shutil.copy(pixel_jpeg, extra)
    return {
        "root": root,
        "missing": str(missing_id),
        "moved": (str(moved_id), expected, found),
        "moved_to": moved_to,
        "moved_row": moved_row,
        "extra": extra,
        "match": match_folder(root, b33),
    }


# ---------------------------------------------------------------- released layout, whole set


def test_clean_tree_matches_exactly(clean_tree, b33):
    match = match_folder(clean_tree, b33)
    assert match.ok
    assert (match.missing, match.extra, match.mislabelled) == ([], [], [])


def test_clean_tree_is_detected_as_imagenetv2_layout(clean_tree, b33):
    assert match_folder(clean_tree, b33).index.layout == "imagenetv2"


def test_paths_follow_manifest_order(clean_tree, b33):
    paths = match_folder(clean_tree, b33).paths
    expected = [
        str(clean_tree / str(label) / f"{i}.jpeg")
        for i, label in zip(b33.ids.tolist(), b33.labels.tolist(), strict=True)
    ]
    assert paths.tolist() == expected


def test_scan_reads_class_index_from_folder_name(clean_tree, b33):
    index = scan_folder(clean_tree, b33)
    folders = [int(Path(p).parent.name) for p in index.paths.tolist()]
    assert index.labels.tolist() == folders


def test_summary_of_clean_tree_counts_all_images(clean_tree, b33):
    assert "10000/10000 images found" in match_folder(clean_tree, b33).summary()


def test_faulty_tree_does_not_match(faulty):
    assert not faulty["match"].ok


def test_faulty_tree_reports_exactly_the_missing_id(faulty):
    assert faulty["match"].missing == [faulty["missing"]]


def test_faulty_tree_reports_moved_file_as_mislabelled_with_expected_and_found_class(faulty):
    assert faulty["match"].mislabelled == [faulty["moved"]]


def test_faulty_tree_reports_exactly_the_extra_file(faulty):
    assert faulty["match"].extra == [str(faulty["extra"])]


def test_faulty_tree_path_of_moved_file_is_where_it_was_found(faulty):
    assert faulty["match"].paths[faulty["moved_row"]] == str(faulty["moved_to"])


def test_faulty_tree_summary_counts_each_problem(faulty):
    summary = faulty["match"].summary()
    assert "9999/10000 images found" in summary
    assert "1 missing, 1 extra, 1 in the wrong class" in summary


# ---------------------------------------------------------------- class folder names


def test_folder_10_maps_to_class_10_where_text_sorting_would_scramble_labels(tmp_path, b33, pixel_jpeg):
    rows = np.flatnonzero(np.isin(b33.labels, [2, 10, 100]))
    small = subset(b33, rows)
    build_tree(tmp_path, small, pixel_jpeg)
    assert sorted(os.listdir(tmp_path)) == [
        "10",
        "100",
        "2",
    ]  # text order: ImageFolder would call "10" class 0
    index = scan_folder(tmp_path, small)
    by_key = dict(zip(index.keys.tolist(), index.labels.tolist(), strict=True))
    assert [by_key[i] for i in small.ids.tolist()] == small.labels.tolist()
    assert match_folder(tmp_path, small).ok


def test_non_integer_folder_among_class_folders_raises_dataset_error_naming_it(tmp_path, b33, pixel_jpeg):
    small = subset(b33, np.flatnonzero(np.isin(b33.labels, [2, 10])))
    build_tree(tmp_path, small, pixel_jpeg)
    shutil.copytree(tmp_path / "2", tmp_path / "abc")
    with pytest.raises(DatasetError, match="'abc'") as caught:
        match_folder(tmp_path, small)
    assert caught.value.where == str(tmp_path)


def test_non_integer_folder_in_full_release_tree_raises_dataset_error(tmp_path, b33, pixel_jpeg):
    root = build_tree(tmp_path / "tree", b33, pixel_jpeg)
    (root / "abc").mkdir()
    with pytest.raises(DatasetError, match="'abc'"):
        match_folder(root, b33)


def test_class_folder_beyond_last_class_raises_dataset_error(tmp_path, b33, pixel_jpeg):
    small = subset(b33, np.flatnonzero(b33.labels == 3))
    build_tree(tmp_path, small, pixel_jpeg)
    (tmp_path / "1000").mkdir()
    with pytest.raises(DatasetError, match="'1000'"):
        match_folder(tmp_path, small)


def test_hidden_and_non_image_files_are_not_extra(tmp_path, b33, pixel_jpeg):
    small = subset(b33, np.flatnonzero(b33.labels == 3))
    build_tree(tmp_path, small, pixel_jpeg)
    (tmp_path / "3" / ".DS_Store").write_bytes(b"x")
    (tmp_path / "3" / "notes.txt").write_text("x")
    (tmp_path / ".cache").mkdir()
    assert match_folder(tmp_path, small).ok


def test_missing_folder_raises_dataset_error(tmp_path, b33):
    with pytest.raises(DatasetError, match="not found"):
        match_folder(tmp_path / "nowhere", b33)


# ---------------------------------------------------------------- wnid and flat layouts


def test_wnid_layout_matches_and_is_detected(tmp_path, b33, pixel_jpeg):
    small = subset(b33, np.arange(0, 10_000, 97))
    build_tree(tmp_path, small, pixel_jpeg, layout="wnid")
    match = match_folder(tmp_path, small)
    assert match.index.layout == "wnid"
    assert match.ok
    assert (
        match.index.labels.tolist()
        == small.classes.indices([Path(p).parent.name for p in match.index.paths]).tolist()
    )


def test_wnid_layout_reports_file_in_wrong_wnid_folder(tmp_path, b33, pixel_jpeg):
    small = subset(b33, np.arange(0, 10_000, 97))
    build_tree(tmp_path, small, pixel_jpeg, layout="wnid")
    image_id, wnid, expected = small.ids[4], small.manifest.wnids[4], int(small.labels[4])
    other = small.manifest.wnids[0]
    (tmp_path / wnid / f"{image_id}.jpeg").rename(tmp_path / other / f"{image_id}.jpeg")
    assert match_folder(tmp_path, small).mislabelled == [(image_id, expected, small.classes.index(other))]


def test_explicit_imagenetv2_layout_on_wnid_folders_raises_dataset_error(tmp_path, b33, pixel_jpeg):
    small = subset(b33, np.arange(0, 10_000, 997))
    build_tree(tmp_path, small, pixel_jpeg, layout="wnid")
    with pytest.raises(DatasetError, match="integers"):
        match_folder(tmp_path, small, layout="imagenetv2")


def test_explicit_wnid_layout_with_unknown_folder_raises(tmp_path, b33, pixel_jpeg):
    small = subset(b33, np.arange(0, 10_000, 997))
    build_tree(tmp_path, small, pixel_jpeg, layout="wnid")
    (tmp_path / "n99999999").mkdir()
    with pytest.raises(HeldoutError, match="n99999999"):
        match_folder(tmp_path, small, layout="wnid")


@pytest.fixture(scope="session")
def val_subset() -> TestSet:
    val = load_dataset("imagenet-val")
    rows = np.arange(0, 50_000, 499)
    return TestSet(
        "val-subset", Manifest.create(val.ids[rows], val.manifest.wnids[rows]), ClassSet.imagenet1k()
    )


def test_flat_layout_with_val_file_names_matches_and_is_detected(tmp_path, val_subset, pixel_jpeg):
    build_tree(tmp_path, val_subset, pixel_jpeg, layout="flat")
    match = match_folder(tmp_path, val_subset)
    assert match.index.layout == "flat"
    assert match.ok
    assert match.paths.tolist() == [str(tmp_path / i) for i in val_subset.ids.tolist()]


def test_flat_layout_keys_keep_the_jpeg_extension_of_val_ids(tmp_path, val_subset, pixel_jpeg):
    build_tree(tmp_path, val_subset, pixel_jpeg, layout="flat")
    assert sorted(scan_folder(tmp_path, val_subset).keys.tolist()) == sorted(val_subset.ids.tolist())


def test_flat_layout_reports_missing_and_extra_files(tmp_path, val_subset, pixel_jpeg):
    build_tree(tmp_path, val_subset, pixel_jpeg, layout="flat")
    (tmp_path / val_subset.ids[7]).unlink()
    os.link(pixel_jpeg, tmp_path / "ILSVRC2012_val_00000002.JPEG")  # a val image, but not in the subset
    match = match_folder(tmp_path, val_subset)
    assert match.missing == [val_subset.ids[7]]
    assert match.extra == [str(tmp_path / "ILSVRC2012_val_00000002.JPEG")]


def test_wnid_layout_with_val_file_names_matches(tmp_path, val_subset, pixel_jpeg):
    build_tree(tmp_path, val_subset, pixel_jpeg, layout="wnid")
    match = match_folder(tmp_path, val_subset)
    assert match.index.layout == "wnid"
    assert match.ok
