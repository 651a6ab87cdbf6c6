"""Folder source: class subfolders or a path,class CSV; content-derived ids."""

from __future__ import annotations

import hashlib

import pytest

from heldout.collect import FolderSource, collect
from heldout.errors import ConfigError, SourceError
from heldout.status import project_status


def test_folder_candidates_are_named_by_the_sha1_of_their_bytes(project, photo_folder, photo_bytes):
    report = collect(project, FolderSource(photo_folder))
    assert (report.added, report.known) == (4, 1)
    assert hashlib.sha1(photo_bytes["chelsea"]).hexdigest() in project.candidates.ids("n02123045")


def test_rerun_adds_nothing(project, photo_folder):
    collect(project, FolderSource(photo_folder))
    again = collect(project, FolderSource(photo_folder))
    assert (again.added, again.known) == (0, 5)


def test_same_bytes_in_another_class_become_their_own_candidate(project, photo_folder, photo_bytes):
    (photo_folder / "n02123045" / "coffee.jpg").write_bytes(photo_bytes["coffee"])
    collect(project, FolderSource(photo_folder))
    first = hashlib.sha1(photo_bytes["coffee"]).hexdigest()
    assert first in project.candidates.ids("n02123045")  # classes are scanned in sorted order
    assert hashlib.sha1(f"{first},n07920052".encode()).hexdigest() in project.candidates.ids("n07920052")


def test_only_the_asked_classes_are_collected(project, photo_folder):
    report = collect(project, FolderSource(photo_folder), classes=["n07920052"])
    assert report.added == 1 and project.candidates.count("n02123045") == 0


def test_listing_csv_gives_the_same_candidates(project, photo_folder, tmp_path):
    rows = [f"{p.relative_to(photo_folder)},{p.parent.name}" for p in sorted(photo_folder.rglob("*.jpg"))]
    (photo_folder / "list.csv").write_text("path,class\n" + "\n".join(rows) + "\n")
    collect(project, FolderSource(photo_folder, listing=photo_folder / "list.csv"))
    assert project.candidates.count() == 4


def test_listing_without_header_is_refused(project, photo_folder):
    (photo_folder / "list.csv").write_text("a.jpg,n02123045\n")
    with pytest.raises(SourceError, match="path,class"):
        collect(project, FolderSource(photo_folder, listing=photo_folder / "list.csv"))


def test_unknown_class_is_refused_before_collecting(project, photo_folder):
    with pytest.raises(ConfigError, match="not in this project"):
        collect(project, FolderSource(photo_folder), classes=["n99999999"])


def test_collect_leaves_a_run_record(project, photo_folder):
    collect(project, FolderSource(photo_folder))
    report = project_status(project)
    stage, state, _, counts = report.runs[0]
    assert (stage, state, counts["added"]) == ("collect", "done", 4)
