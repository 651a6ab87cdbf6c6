"""heldout check: renditions present and bytes matching their hashes."""

from __future__ import annotations

from heldout.check import check
from heldout.collect import FolderSource, collect
from heldout.ingest import ingest


def _ingested(project, folder):
    collect(project, FolderSource(folder))
    ingest(project)
    return project


def test_check_passes_on_a_fresh_ingest(project, photo_folder):
    report = check(_ingested(project, photo_folder))
    assert report.ok and report.checked == 4


def test_check_finds_a_missing_rendition(project, photo_folder):
    _ingested(project, photo_folder)
    victim = next((project.root / "images" / "256").rglob("*"))
    while victim.is_dir():
        victim = next(victim.iterdir())
    victim.unlink()
    report = check(project)
    assert report.problems == [(victim.name, "rendition 256 missing")]


def test_check_finds_corrupted_bytes(project, photo_folder):
    _ingested(project, photo_folder)
    original = sorted(p for p in (project.root / "images" / "original").rglob("*") if p.is_file())[0]
    original.write_bytes(original.read_bytes()[:-10] + b"0123456789")
    report = check(project)
    assert report.problems == [(original.name, "original bytes do not match their sha256")]
