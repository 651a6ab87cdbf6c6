"""``collect`` killed with SIGKILL mid-run resumes: no duplicate, no lost candidate, runs recorded."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from heldout.catalog import Candidate, Run
from heldout.catalog import Image as ImageRow
from heldout.collect import CollectReport, FolderSource, collect
from heldout.project import Project

CLASSES = ("n02123045", "n07920052")
PER_CLASS = (
    300  # 600 files: the folder source commits batches of 256, so a kill after the first lands mid-run
)

_COLLECT_SCRIPT = """
import sys
from heldout.collect import FolderSource, collect
from heldout.project import Project
collect(Project.open(sys.argv[1]), FolderSource(sys.argv[2]))
"""


@dataclass(frozen=True)
class Resumed:
    root: Path
    expected: dict[str, set[str]]
    """Candidate ids each class should end with: the sha1 of each file."""
    killed_at: int
    """Candidates in the catalog when the killed process was gone."""
    report: CollectReport
    """What the resuming run reported."""


def _photos(root: Path, photo_bytes: dict[str, bytes]) -> dict[str, set[str]]:
    """600 distinct real-photo crops, 300 per class; returns their content ids per class."""
    base = Image.open(io.BytesIO(photo_bytes["astronaut"])).convert("RGB")
    expected: dict[str, set[str]] = {key: set() for key in CLASSES}
    for n in range(PER_CLASS * len(CLASSES)):
        key = CLASSES[n % len(CLASSES)]
        buffer = io.BytesIO()
        x, y = n % 200, n // 200
        base.crop((x, y, 200 + x, 200 + y)).save(buffer, "JPEG", quality=85)
        (root / key).mkdir(parents=True, exist_ok=True)
        (root / key / f"{n:04d}.jpg").write_bytes(buffer.getvalue())
        expected[key].add(hashlib.sha1(buffer.getvalue()).hexdigest())
    assert sum(len(ids) for ids in expected.values()) == PER_CLASS * len(CLASSES), "crops must differ"
    return expected


def _kill_once_candidates_appear(root: Path, photos: Path) -> int:
    """Run collect in a subprocess, SIGKILL it as soon as a batch is committed; candidates left."""
    process = subprocess.Popen([sys.executable, "-c", _COLLECT_SCRIPT, str(root), str(photos)])
    try:
        with closing(sqlite3.connect(root / "catalog.sqlite", timeout=30)) as catalog:
            deadline = time.monotonic() + 60
            while process.poll() is None and time.monotonic() < deadline:
                if catalog.execute("SELECT count(*) FROM candidate").fetchone()[0]:
                    break
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    with closing(sqlite3.connect(root / "catalog.sqlite", timeout=30)) as catalog:
        return catalog.execute("SELECT count(*) FROM candidate").fetchone()[0]


@pytest.fixture(scope="module")
def resumed(tmp_path_factory, photo_bytes) -> Resumed:
    """A collect killed mid-run (tried up to three times on a fresh project), then resumed in-process."""
    base = tmp_path_factory.mktemp("resume")
    expected = _photos(base / "photos", photo_bytes)
    total = sum(len(ids) for ids in expected.values())
    for attempt in range(3):
        root = base / f"project-{attempt}"
        Project.create(root).close()
        killed_at = _kill_once_candidates_appear(root, base / "photos")
        if killed_at < total:
            break  # landed mid-run (else: the run beat the kill; try again on a new project)
    with Project.open(root) as project:
        report = collect(project, FolderSource(base / "photos"))
    return Resumed(root, expected, killed_at, report)


def test_a_killed_collect_keeps_the_batches_it_committed(resumed):
    assert 0 < resumed.killed_at < PER_CLASS * len(CLASSES), "the kill should land mid-run"
    assert resumed.killed_at % 256 == 0  # a batch (256 files) is committed whole or not at all


def test_resumed_collect_has_every_candidate_exactly_once(resumed):
    with Project.open(resumed.root) as project:
        for key in CLASSES:
            assert set(project.candidates.ids(key)) == resumed.expected[key]
        with project.transaction() as session:
            ids = session.scalars(select(Candidate.image_id)).all()
            images = session.scalar(select(func.count()).select_from(ImageRow))
    assert len(ids) == images == PER_CLASS * len(CLASSES)
    assert Counter(ids).most_common(1)[0][1] == 1


def test_resumed_collect_adds_only_what_the_killed_run_had_not(resumed):
    assert (resumed.report.added, resumed.report.known) == (
        PER_CLASS * len(CLASSES) - resumed.killed_at,
        resumed.killed_at,
    )


def test_killed_run_stays_running_and_the_resumed_run_is_done(resumed):
    with Project.open(resumed.root) as project, project.transaction() as session:
        runs = session.execute(
            select(Run.stage, Run.status, Run.finished_at, Run.counts).order_by(Run.run_id)
        ).all()
    (killed_stage, killed_status, killed_end, _), (stage, status, end, counts) = runs
    assert (killed_stage, killed_status, killed_end) == ("collect", "running", None)  # it never finished
    assert (stage, status) == ("collect", "done") and end is not None
    assert counts == {"added": resumed.report.added, "known": resumed.report.known, "failed": 0}
