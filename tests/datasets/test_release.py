"""Releasing a sampled set: layout, manifest, licenses, answers, datasheet, revisions, bad input."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image
from release_helpers import LICENSES, PHOTOS, SET_NAME, add_dataset, image_ids
from sqlalchemy import select, update

from heldout.catalog import Candidate, Dataset, DatasetImage
from heldout.crowd.tokens import hash_worker_id, project_secret
from heldout.datasets import ImageDataset, Manifest, load_dataset
from heldout.datasets.licenses import FLICKR_LICENSES, UNKNOWN_LICENSE
from heldout.datasets.release import register_release, release
from heldout.datasets.verify import verify
from heldout.errors import DatasetError, UnknownDatasetError
from heldout.evaluate import Predictions, evaluate

ALL_LICENSES = (*FLICKR_LICENSES, UNKNOWN_LICENSE)


def _records(root) -> dict[str, dict]:
    return {r["id"]: r for r in json.loads((root / "manifest.json").read_bytes())["images"]}


def test_release_writes_class_index_folders_of_500px_jpegs(sampled_project, tmp_path):
    report = release(sampled_project, SET_NAME, tmp_path / "out", formats=(), licenses=LICENSES)
    ids = image_ids(sampled_project)
    chelsea = (
        tmp_path
        / "out"
        / "images"
        / str(sampled_project.classes.index("n02123045"))
        / f"{ids['chelsea']}.jpeg"
    )
    with Image.open(chelsea) as image:
        assert image.format == "JPEG" and max(image.size) == 500
    assert chelsea.read_bytes() == sampled_project.images.bytes(ids["chelsea"], "500")
    assert (report.images, report.url_only, report.classes) == (3, 1, 2)


def test_class_folders_are_class_indices_parsed_as_integers(release_master):
    _, report = release_master
    folders = sorted((report.root / "images").iterdir())
    testset = load_dataset(report.root)
    labels = dict(zip(testset.ids.tolist(), testset.labels.tolist(), strict=True))
    for folder in folders:
        assert all(labels[f.stem] == int(folder.name) for f in folder.iterdir())


def test_manifest_keeps_the_published_keys_and_image_order(release_master):
    project, report = release_master
    manifest = Manifest.load(report.root / "manifest.json")
    with project.transaction() as session:
        dataset = session.scalar(select(Dataset).where(Dataset.name == SET_NAME))
        order = session.scalars(
            select(DatasetImage.image_id)
            .where(DatasetImage.dataset_id == dataset.dataset_id)
            .order_by(DatasetImage.position)
        ).all()
    assert manifest.ids.tolist() == list(order)
    assert list(manifest.key_order[:4]) == ["sampling_function", "target_size", "seed", "image_filenames"]
    assert manifest.name == SET_NAME


def test_manifest_records_hash_size_frequency_and_attribution(release_master):
    project, report = release_master
    ids = image_ids(project)
    record = _records(report.root)[ids["camera"]]
    data = (report.root / record["file"]).read_bytes()
    assert (record["sha256"], record["size_bytes"]) == (hashlib.sha256(data).hexdigest(), len(data))
    assert (record["selection_frequency"], record["num_annotations"]) == PHOTOS["camera"][1:]
    assert (record["url"], record["license"], record["owner"]) == (
        "https://example.org/camera.jpg",
        "9",
        "owner of camera",
    )


def test_license_outside_the_allow_list_is_a_url_only_entry(release_master):
    project, report = release_master
    coins = _records(report.root)[image_ids(project)["coins"]]
    assert (coins["redistributed"], coins["withheld_because"], coins["sha256"]) == (False, "license", None)
    assert coins["url"] and coins["original_sha256"]
    assert not (report.root / coins["file"]).exists()


def test_unknown_license_is_withheld_unless_allowed(sqlite_project, tmp_path):
    with sqlite_project.transaction() as session:
        session.execute(update(Candidate).values(license=None))
    withheld = release(sqlite_project, SET_NAME, tmp_path / "a", formats=())
    allowed = release(sqlite_project, SET_NAME, tmp_path / "b", formats=(), licenses=(UNKNOWN_LICENSE,))
    assert (withheld.images, withheld.withheld) == (0, {"license": 4})
    assert allowed.images == 4


def test_answers_are_released_with_pseudonymous_workers(release_master):
    project, report = release_master
    text = (report.root / "answers.csv").read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    secret = project_secret(project.root)
    assert len(rows) == 4 and {r["answer"] for r in rows} == {"yes"}
    assert {r["worker"] for r in rows} == {hash_worker_id("platform-worker-hash-1", secret)}
    everything = b"".join(p.read_bytes() for p in report.root.rglob("*") if p.is_file())
    assert b"platform-worker-hash-1" not in everything and secret.encode() not in everything


def test_reviewed_duplicate_pairs_are_released(release_master):
    project, report = release_master
    pairs = json.loads((report.root / "near_duplicates.json").read_text())
    assert pairs == {image_ids(project)["chelsea"]: ["ref-cat"]}


def test_datasheet_has_frequency_histogram_and_licenses(release_master):
    _, report = release_master
    text = (report.root / "DATASHEET.md").read_text()
    assert "| [0.8, 1.0] | 1 | 0 |" in text and "| [0.4, 0.6) | 1 | 0 |" in text
    assert "| 0 | All Rights Reserved | 1 | URL only |" in text
    assert "`seed`: `7`" in text and "| collect |" in text


def test_checksums_list_every_other_file(release_master):
    _, report = release_master
    lines = (report.root / "SHA256SUMS").read_text().splitlines()
    listed = {name: digest for digest, name in (line.split("  ", 1) for line in lines)}
    on_disk = {p.relative_to(report.root).as_posix() for p in report.root.rglob("*") if p.is_file()} - {
        "SHA256SUMS"
    }
    assert set(listed) == on_disk
    assert all(hashlib.sha256((report.root / n).read_bytes()).hexdigest() == d for n, d in listed.items())


def test_two_releases_are_byte_identical_except_the_hf_copy(release_master, tmp_path):
    project, first = release_master
    second = release(project, SET_NAME, tmp_path / "again", licenses=LICENSES, shard_size=2)

    def digests(root):
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*")
            if p.is_file() and "exports/hf" not in p.as_posix() and p.name != "SHA256SUMS"
        }

    ours, theirs = digests(first.root), digests(second.root)
    assert ours == theirs and "exports/photos-a-0.tar.gz" in ours


def test_revision_ships_a_rename_map_from_the_previous_one(sampled_project, tmp_path):
    ids = image_ids(sampled_project)
    with sampled_project.transaction() as session:
        add_dataset(
            session,
            "photos-a-1",
            [(ids["coffee"], "n07920052"), (ids["chelsea"], "n02123045"), (ids["camera"], "n07920052")],
            starting_from=SET_NAME,
        )
    release(sampled_project, "photos-a-1", tmp_path / "out", formats=(), licenses=ALL_LICENSES)
    renames = json.loads((tmp_path / "out" / "renames.json").read_text())
    cat, cup = sampled_project.classes.index("n02123045"), sampled_project.classes.index("n07920052")
    assert renames["kept"] == 2
    assert renames["renamed"] == {f"images/{cat}/{ids['camera']}.jpeg": f"images/{cup}/{ids['camera']}.jpeg"}
    assert renames["removed"] == [f"images/{cat}/{ids['coins']}.jpeg"] and renames["added"] == []


def test_released_folder_loads_through_the_registry_and_evaluates(sqlite_project, tmp_path):
    release(sqlite_project, SET_NAME, tmp_path / "out", formats=(), licenses=ALL_LICENSES)
    testset = register_release(tmp_path / "out")
    assert load_dataset(SET_NAME) is testset
    images = ImageDataset(testset, tmp_path / "out" / "images")
    assert [images[i][1] for i in range(len(images))] == testset.labels.tolist()
    result = evaluate(testset, Predictions.from_array(testset.labels[:, None], model="oracle"), topk=(1,))
    assert result["top1"] == 100.0


@pytest.mark.parametrize(("layout", "folder"), [("wnid", "n02123045"), ("name", "281-tabby")])
def test_wnid_and_name_layouts_name_the_folders(sqlite_project, tmp_path, layout, folder):
    release(sqlite_project, SET_NAME, tmp_path / "out", formats=(), layout=layout, licenses=ALL_LICENSES)
    assert len(list((tmp_path / "out" / "images" / folder).iterdir())) == 3


def test_existing_nonempty_output_folder_is_refused(sqlite_project, tmp_path):
    out = tmp_path / "releases" / "out"
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        release(sqlite_project, SET_NAME, out, formats=())
    assert [p.name for p in out.parent.iterdir()] == ["out"] and [p.name for p in out.iterdir()] == [
        "keep.txt"
    ]


def test_unknown_dataset_name_suggests_close_names(sqlite_project, tmp_path):
    (tmp_path / "releases").mkdir()
    with pytest.raises(UnknownDatasetError, match="photos-a-0"):
        release(sqlite_project, "photos-a-9", tmp_path / "releases" / "out", formats=())
    assert not any((tmp_path / "releases").iterdir())


def test_classes_outside_the_class_set_are_refused_before_writing(sqlite_project, tmp_path):
    (tmp_path / "releases").mkdir()
    with sqlite_project.transaction() as session:
        session.execute(
            update(DatasetImage).where(DatasetImage.position == 0).values(class_key="not-a-class")
        )
    with pytest.raises(DatasetError, match="not-a-class"):
        release(sqlite_project, SET_NAME, tmp_path / "releases" / "out", formats=())
    assert not any((tmp_path / "releases").iterdir())


def test_an_interrupted_release_resumes_without_refetching_images(sqlite_project, tmp_path, monkeypatch):
    out = tmp_path / "releases" / "out"
    out.parent.mkdir()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr("heldout.datasets.release.write_tarball", broken)
        with pytest.raises(OSError, match="disk full"):
            release(sqlite_project, SET_NAME, out, formats=("tar.gz",), licenses=LICENSES)
    assert not out.exists() and len(list((out.parent / ".out.partial").rglob("*.jpeg"))) == 3
    fetched = []
    monkeypatch.setattr(type(sqlite_project.store), "get", lambda store, key: fetched.append(key))
    report = release(sqlite_project, SET_NAME, out, formats=("tar.gz",), licenses=LICENSES)
    assert (report.images, fetched) == (3, []) and verify(out).ok
    assert [p.name for p in out.parent.iterdir()] == ["out"]


def test_release_records_a_run(release_master):
    project, _ = release_master
    from heldout.catalog import Run

    with project.transaction() as session:
        run = session.scalar(select(Run).where(Run.stage == "release").order_by(Run.run_id))
    assert (run.status, run.counts, run.parameters["licenses"]) == (
        "done",
        {"images": 3, "url_only": 1},
        sorted(LICENSES),
    )
    assert np.isin(run.parameters["formats"], ["tar.gz", "webdataset", "hf"]).all()
