"""Exports of a release: a reproducible tar.gz, WebDataset shards, a Hugging Face copy."""

from __future__ import annotations

import gzip
import io
import tarfile

import numpy as np
from PIL import Image
from release_helpers import SET_NAME

from heldout.datasets import load_dataset
from heldout.datasets.exports import Sample, write_tarball, write_webdataset
from heldout.datasets.verify import verify


def test_tarball_members_are_sorted_with_zero_times_and_owners(release_master):
    _, report = release_master
    raw = (report.root / "exports" / f"{SET_NAME}.tar.gz").read_bytes()
    assert raw[4:8] == b"\0\0\0\0"  # gzip header mtime
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw))) as archive:
        members = archive.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and all(n.startswith(f"{SET_NAME}/") for n in names)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}


def test_tarball_unpacks_to_a_release_that_verifies(release_master, tmp_path):
    _, report = release_master
    with tarfile.open(report.root / "exports" / f"{SET_NAME}.tar.gz") as archive:
        archive.extractall(tmp_path, filter="data")
    unpacked = tmp_path / SET_NAME
    assert verify(unpacked).ok
    assert load_dataset(unpacked).ids.tolist() == load_dataset(report.root).ids.tolist()


def test_same_files_give_the_same_tarball_bytes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.txt").write_bytes(b"x")
    (tmp_path / "a" / "y.txt").write_bytes(b"y")
    first = write_tarball(
        tmp_path / "1.tar.gz", tmp_path / "a", ["y.txt", "x.txt"], prefix="set"
    ).read_bytes()
    (tmp_path / "a" / "x.txt").touch()  # a new mtime must not show
    second = write_tarball(
        tmp_path / "2.tar.gz", tmp_path / "a", ["x.txt", "y.txt"], prefix="set"
    ).read_bytes()
    assert first == second


def test_webdataset_shards_read_back_with_webdataset(release_master):
    import webdataset

    _, report = release_master
    shards = sorted((report.root / "exports" / "webdataset").iterdir())
    testset = load_dataset(report.root)
    released = {r["id"] for r in testset.manifest.metadata["images"] if r["redistributed"]}
    labels = dict(zip(testset.ids.tolist(), testset.labels.tolist(), strict=True))
    samples = list(webdataset.WebDataset([str(s) for s in shards], shardshuffle=False).decode("pil"))
    assert [s.name for s in shards] == [
        f"{SET_NAME}-000000.tar",
        f"{SET_NAME}-000001.tar",
    ]  # 3 images, 2 a shard
    assert {s["__key__"] for s in samples} == released
    assert all(int(s["cls"]) == labels[s["__key__"]] and max(s["jpg"].size) == 500 for s in samples)


def test_webdataset_shard_bytes_do_not_depend_on_sample_order(tmp_path):
    path = tmp_path / "img.jpeg"
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(path)
    samples = [Sample(key=k, path=path, label=i) for i, k in enumerate(("b", "a", "c"))]
    first = write_webdataset(tmp_path / "1", "s", samples, shard_size=2)
    second = write_webdataset(tmp_path / "2", "s", samples[::-1], shard_size=2)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_hf_copy_has_image_and_class_label_features(release_master):
    import datasets

    project, report = release_master
    copy = datasets.load_from_disk(str(report.root / "exports" / "hf"))
    assert isinstance(copy.features["image"], datasets.Image)
    assert copy.features["label"].names == project.classes.ids.tolist()
    row = copy[0]
    assert row["label"] == project.classes.index(
        load_dataset(report.root).manifest.wnids[list(load_dataset(report.root).ids).index(row["image_id"])]
    )
    assert max(row["image"].size) == 500 and len(copy) == 3
