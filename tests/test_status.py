"""heldout status: counts per class and status, references, runs."""

from __future__ import annotations

from heldout.collect import FolderSource, collect
from heldout.collect.reference import add_reference
from heldout.ingest import ingest
from heldout.status import project_status


def test_status_counts_candidates_per_class_and_status(project, photo_folder):
    (photo_folder / "n02123045" / "empty.jpg").write_bytes(b"")
    collect(project, FolderSource(photo_folder))
    ingest(project)
    report = project_status(project)
    assert report.per_class["n02123045"] == {"stored": 3, "bad": 1}
    assert report.per_class["n07920052"] == {"stored": 1}
    assert report.totals == {"stored": 4, "bad": 1}
    assert [stage for stage, *_ in report.runs] == ["collect", "ingest"]


def test_status_counts_references_per_split(project):
    add_reference(project, split="val", dataset="imagenet-annotatedval20k-0")
    assert project_status(project).references == {"val": {"metadata": 20_000}}
