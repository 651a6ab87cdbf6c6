"""Ingest: renditions into the store, bad files with reasons, identical bytes once, resumable."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

from PIL import Image
from sqlalchemy import func, select

from heldout.catalog import Blob
from heldout.catalog import Image as ImageRow
from heldout.collect import FolderSource, collect
from heldout.ingest import bad_files, ingest, write_bad_file_report


def _collect_and_ingest(project, folder):
    collect(project, FolderSource(folder))
    return ingest(project)


def test_ingest_stores_three_renditions_per_photo(project, photo_folder):
    report = _collect_and_ingest(project, photo_folder)
    assert (report.stored, report.bad) == (4, 0)  # coffee-copy is the same bytes as coffee: one candidate
    for image_id in project.images.ids(status="stored"):
        medium = project.images.load(image_id, "500")
        small = project.images.load(image_id, "256")
        assert max(medium.size) == 500 and small.size == (256, 256)


def test_identical_bytes_are_one_blob(project, photo_folder, photo_bytes):
    (photo_folder / "n02123045" / "coffee-in-cats.jpg").write_bytes(photo_bytes["coffee"])
    _collect_and_ingest(project, photo_folder)
    with project.transaction() as session:
        blobs = session.scalar(select(func.count()).select_from(Blob))
        images = session.scalar(select(func.count()).select_from(ImageRow).where(ImageRow.status == "stored"))
    assert (images, blobs) == (5, 4)


def test_bad_files_get_reasons_and_the_batch_proceeds(project, photo_folder):
    (photo_folder / "n02123045" / "empty.jpg").write_bytes(b"")
    (photo_folder / "n02123045" / "page.jpg").write_bytes(b"<html><body>not found</body></html>")
    report = _collect_and_ingest(project, photo_folder)
    assert (report.stored, report.bad) == (4, 2)
    reasons = {location.rsplit("/", 1)[1]: reason for _, status, location, reason in bad_files(project)}
    assert set(reasons) == {"empty.jpg", "page.jpg"}
    assert all(reasons.values())


def test_bad_file_report_is_a_csv(project, photo_folder, tmp_path):
    (photo_folder / "n02123045" / "empty.jpg").write_bytes(b"")
    _collect_and_ingest(project, photo_folder)
    lines = write_bad_file_report(project, tmp_path / "bad.csv").read_text().splitlines()
    assert lines[0] == "image_id,status,location,reason" and len(lines) == 2


def test_rerun_ingests_nothing_twice(project, photo_folder):
    _collect_and_ingest(project, photo_folder)
    again = ingest(project)
    assert (again.stored, again.bad, again.failed) == (0, 0, 0)


def test_renditions_carry_no_metadata(project, photo_folder, photo_bytes):
    with_exif = Image.open(io.BytesIO(photo_bytes["chelsea"]))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    buffer = io.BytesIO()
    with_exif.save(buffer, "JPEG", exif=exif.tobytes())
    (photo_folder / "n02123045" / "exif.jpg").write_bytes(buffer.getvalue())
    _collect_and_ingest(project, photo_folder)
    for image_id in project.images.ids(status="stored"):
        rendition = Image.open(io.BytesIO(project.images.bytes(image_id, "500")))
        assert not rendition.info.get("exif") and not rendition.getexif()


_INGEST_SCRIPT = """
import sys
from heldout.project import Project
from heldout.ingest import ingest
ingest(Project.open(sys.argv[1]))
"""


def test_ingest_resumes_after_kill_9_without_duplicates_or_losses(tmp_path, photo_bytes):
    from heldout.project import Project

    root = tmp_path / "photos" / "n02123045"
    root.mkdir(parents=True)
    base = Image.open(io.BytesIO(photo_bytes["astronaut"]))
    for n in range(200):  # distinct images: each is a different crop
        buffer = io.BytesIO()
        base.crop((n, 0, 300 + n, 300)).save(buffer, "JPEG", quality=90)
        (root / f"{n:03d}.jpg").write_bytes(buffer.getvalue())
    with Project.create(tmp_path / "p") as project:
        collect(project, FolderSource(tmp_path / "photos"))
    # its own process group: kill -9 must take the decoding workers down with it
    process = subprocess.Popen(
        [sys.executable, "-c", _INGEST_SCRIPT, str(tmp_path / "p")], start_new_session=True
    )
    with Project.open(tmp_path / "p") as project:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not project.images.ids(status="stored"):
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        stored_before = len(project.images.ids(status="stored"))
        assert 0 < stored_before < 200, "the kill should land mid-run"
        ingest(project)
        assert len(project.images.ids(status="stored")) == 200
        with project.transaction() as session:
            assert session.scalar(select(func.count()).select_from(Blob)) == 200


def test_ingest_into_an_s3_store_then_check_passes(tmp_path, s3_url, photo_folder):
    from heldout.check import check
    from heldout.project import Project

    with Project.create(tmp_path / "p", store_url=s3_url) as project:
        report = _collect_and_ingest(project, photo_folder)
        assert report.stored == 4
        assert check(project).ok
        image_id = project.images.ids(status="stored")[0]
        assert max(project.images.load(image_id, "500").size) == 500
