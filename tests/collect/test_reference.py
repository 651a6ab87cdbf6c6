"""Reference images: metadata-only from a registered set, or with bytes from a folder."""

from __future__ import annotations

import pytest

from heldout.collect.reference import add_reference
from heldout.errors import ClassSetError, ConfigError
from heldout.ingest import ingest


def test_metadata_only_reference_from_the_val_set(project):
    assert add_reference(project, split="val", dataset="imagenet-val") == 50_000
    assert len(project.images.ids(role="reference", status="metadata")) == 50_000
    assert "ILSVRC2012_val_00000293.JPEG" in project.images.ids(class_key="n01440764")


def test_adding_the_same_reference_twice_adds_nothing(project):
    add_reference(project, split="val", dataset="imagenet-annotatedval20k-0")
    assert add_reference(project, split="val", dataset="imagenet-annotatedval20k-0") == 0


def test_reference_folder_is_ingested_with_renditions(project, photo_folder):
    assert add_reference(project, split="train", folder=photo_folder) == 5
    ingest(project)
    stored = project.images.ids(role="reference", status="stored")
    assert "chelsea.jpg" in stored and max(project.images.load("chelsea.jpg", "500").size) == 500


def test_reference_folder_with_a_non_class_folder_is_refused(project, tmp_path):
    (tmp_path / "refs" / "cats").mkdir(parents=True)
    with pytest.raises(ClassSetError, match="cats"):
        add_reference(project, split="val", folder=tmp_path / "refs")


def test_unknown_split_is_refused(project):
    with pytest.raises(ConfigError, match="split"):
        add_reference(project, split="holdout", dataset="imagenet-val")
