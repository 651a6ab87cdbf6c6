"""Fixtures: a project holding a sampled dataset over real ingested photos, and a release of it.

Building the project (collect + ingest) costs seconds, so it is built once per module and copied
(a SQLite project is a folder); ``sampled_project`` builds it afresh on SQLite and PostgreSQL for
the tests that exercise the catalog queries on both.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from release_helpers import LICENSES, SET_NAME, build_sampled_project

from heldout.project import Project


@pytest.fixture()
def sampled_project(project, photo_folder):
    """The ``project`` fixture (SQLite and PostgreSQL) holding the sampled set ``photos-a-0``."""
    build_sampled_project(project, photo_folder)
    return project


@pytest.fixture(scope="module")
def sampled_master(tmp_path_factory, photo_bytes) -> Path:
    """A SQLite project folder holding ``photos-a-0`` (read-only: tests use copies)."""
    base = tmp_path_factory.mktemp("sampled")
    folder = base / "photos"
    for key, names in {"n02123045": ("chelsea", "camera", "coins"), "n07920052": ("coffee",)}.items():
        (folder / key).mkdir(parents=True)
        for name in names:
            (folder / key / f"{name}.jpg").write_bytes(photo_bytes[name])
    with Project.create(base / "project") as project:
        build_sampled_project(project, folder)
    return base / "project"


@pytest.fixture()
def sqlite_project(sampled_master, tmp_path):
    """A private copy of the sampled SQLite project."""
    with Project.open(shutil.copytree(sampled_master, tmp_path / "project")) as project:
        yield project


@pytest.fixture(scope="module")
def release_master(sampled_master, tmp_path_factory):
    """A release of ``photos-a-0`` with every export (read-only: copy it to change it)."""
    from heldout.datasets.release import release

    root = Path(shutil.copytree(sampled_master, tmp_path_factory.mktemp("released") / "project"))
    project = Project.open(root)
    report = release(project, SET_NAME, root.parent / "out", licenses=LICENSES, shard_size=2)
    yield project, report
    project.close()


@pytest.fixture()
def release_copy(release_master, tmp_path) -> Path:
    """A private copy of the release folder (tests may damage it)."""
    return Path(shutil.copytree(release_master[1].root, tmp_path / "copy"))
