"""heldout verify: changed, missing, extra, renamed files and wrong class folders."""

from __future__ import annotations

import json
import shutil

import pytest
from release_helpers import image_ids

from heldout.datasets import load_dataset
from heldout.datasets.verify import verify
from heldout.errors import DatasetError


def _image(root, project, photo: str) -> str:
    records = json.loads((root / "manifest.json").read_bytes())["images"]
    return next(r["file"] for r in records if r["id"] == image_ids(project)[photo])


def test_an_intact_release_verifies(release_copy, release_master):
    report = verify(release_copy)
    assert report.ok and report.mode == "checksums" and report.dataset == "photos-a-0"
    assert report.files == len((release_copy / "SHA256SUMS").read_text().splitlines())


def test_one_flipped_byte_is_a_changed_file(release_copy, release_master):
    path = release_copy / _image(release_copy, release_master[0], "chelsea")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    report = verify(release_copy)
    assert report.changed == [_image(release_copy, release_master[0], "chelsea")] and not report.ok


def test_a_renamed_file_is_reported_as_renamed(release_copy, release_master):
    old = _image(release_copy, release_master[0], "camera")
    new = old.replace(".jpeg", ".jpg")
    (release_copy / old).rename(release_copy / new)
    report = verify(release_copy)
    assert (report.renamed, report.missing, report.extra) == ([(old, new)], [], [])


def test_a_deleted_file_is_missing(release_copy):
    (release_copy / "DATASHEET.md").unlink()
    report = verify(release_copy)
    assert report.missing == ["DATASHEET.md"] and not report.changed


def test_a_file_in_another_class_folder_is_a_wrong_class(release_copy, release_master):
    old = _image(release_copy, release_master[0], "chelsea")
    other = release_copy / "images" / "967"
    (release_copy / old).rename(other / old.rsplit("/", 1)[1])
    report = verify(release_copy)
    assert report.wrong_class == [(old.rsplit("/", 1)[1], old.split("/")[1], "967")] and not report.renamed


def test_an_added_file_is_extra_but_a_fetched_url_only_image_is_not(release_copy, release_master):
    (release_copy / "notes.txt").write_text("mine")
    fetched = release_copy / _image(release_copy, release_master[0], "coins")
    fetched.write_bytes(b"bytes the user downloaded")
    assert verify(release_copy).extra == ["notes.txt"]


def test_malformed_checksums_are_bad_input(release_copy):
    (release_copy / "SHA256SUMS").write_text("not a checksum line\n")
    with pytest.raises(DatasetError, match="line 1"):
        verify(release_copy)


def test_a_missing_folder_is_bad_input(tmp_path):
    with pytest.raises(DatasetError, match="not a folder"):
        verify(tmp_path / "nowhere")


def _published_folder(root, testset, ids):
    labels = dict(zip(testset.ids.tolist(), testset.labels.tolist(), strict=True))
    for image_id in ids:
        (root / str(labels[image_id])).mkdir(parents=True, exist_ok=True)
        (root / str(labels[image_id]) / f"{image_id}.jpeg").write_bytes(b"jpeg")


def test_published_set_is_recognised_and_checked_by_names_and_folders(tmp_path):
    testset = load_dataset("imagenetv2-c-12")
    ids = testset.ids[:3].tolist()
    _published_folder(tmp_path / "top-images", testset, ids)
    (tmp_path / "top-images" / "0").mkdir(exist_ok=True)
    (tmp_path / "top-images" / "0" / "stray.jpeg").write_bytes(b"jpeg")
    wrong = tmp_path / "top-images" / "999"
    wrong.mkdir(exist_ok=True)
    moved = next((tmp_path / "top-images").glob(f"*/{ids[0]}.jpeg"))
    shutil.move(moved, wrong / moved.name)
    report = verify(tmp_path / "top-images")
    assert (report.mode, report.dataset) == ("manifest", "imagenetv2-c-12")
    assert len(report.missing) == len(testset) - 3 and report.extra == ["0/stray.jpeg"]
    assert report.wrong_class == [(ids[0], str(testset.labels[0]), "999")]


def test_published_set_can_be_named_by_alias(tmp_path):
    testset = load_dataset("imagenetv2-a-44")
    _published_folder(tmp_path / "v2", testset, testset.ids[:5].tolist())
    report = verify(tmp_path / "v2", dataset="imagenetv2-threshold0.7")
    assert (report.dataset, report.files, len(report.missing)) == ("imagenetv2-a-44", 5, 9_995)
    assert not (report.extra or report.wrong_class)
