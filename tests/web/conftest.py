"""Fixtures of the web tests: real projects (SQLite and PostgreSQL) holding 60 real photo crops,
collected from a folder and ingested; the app in-process (TestClient) or as a real uvicorn process
started by ``heldout serve``. Helpers are in ``webtools.py``."""

from __future__ import annotations

import io
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image as PILImage
from webtools import CLASSES, SECRET, LiveServer, close_open_tasks, free_port, serve_command, uvicorn_command

from heldout.collect import FolderSource, collect
from heldout.crowd.tokens import TokenSigner
from heldout.ingest import ingest
from heldout.project import Project
from heldout.web import create_app

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="session")
def crops_folder(tmp_path_factory) -> Path:
    """60 distinct real-photo crops (skimage.data), 30 per class folder."""
    import skimage.data

    photos = [
        getattr(skimage.data, name)()
        for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "camera")
    ]
    root = tmp_path_factory.mktemp("crops")
    for i in range(60):
        array = photos[i % len(photos)]
        height, width = array.shape[:2]
        side = min(height, width) * 2 // 3
        top, left = (i * 7) % (height - side), (i * 13) % (width - side)
        crop = PILImage.fromarray(array[top : top + side, left : left + side]).convert("RGB")
        folder = root / CLASSES[i % 2]
        folder.mkdir(exist_ok=True)
        buffer = io.BytesIO()
        crop.save(buffer, "JPEG", quality=90)
        (folder / f"crop{i:02d}.jpg").write_bytes(buffer.getvalue())
    return root


def _ingested_project(path: Path, catalog_url: str | None, crops: Path) -> Project:
    project = Project.create(path, catalog_url=catalog_url)
    collect(project, FolderSource(crops), classes=list(CLASSES))
    report = ingest(project)
    assert report.stored == 60, report
    return project


@pytest.fixture(scope="session")
def sqlite_project(tmp_path_factory, crops_folder):
    project = _ingested_project(tmp_path_factory.mktemp("web-sqlite") / "project", None, crops_folder)
    yield project
    project.close()


@pytest.fixture(scope="session")
def pg_project(tmp_path_factory, crops_folder, postgres_server):
    import psycopg

    name = "web_" + uuid.uuid4().hex[:8]
    admin = postgres_server.replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    project = _ingested_project(
        tmp_path_factory.mktemp("web-pg") / "project", f"{postgres_server}/{name}", crops_folder
    )
    yield project
    project.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def web_project(request) -> Project:
    """A session-wide project with 60 stored photos, on SQLite and on PostgreSQL. Tests share it:
    each makes its own tasks and workers."""
    return request.getfixturevalue("sqlite_project" if request.param == "sqlite" else "pg_project")


@pytest.fixture()
def signer() -> TokenSigner:
    return TokenSigner(SECRET)


@pytest.fixture()
def client(web_project):
    close_open_tasks(web_project)
    with TestClient(create_app(web_project, secret=SECRET), follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture()
def sqlite_client(sqlite_project):
    close_open_tasks(sqlite_project)
    with TestClient(create_app(sqlite_project, secret=SECRET), follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture()
def live_server_factory():
    """Start the app as a real uvicorn process for a project folder on a free port (by default
    through ``heldout serve``; ``cli=False`` runs uvicorn on the app factory directly); every
    server is stopped after the test."""
    servers: list[LiveServer] = []

    def start(root: Path, *, cli: bool = True) -> LiveServer:
        port = free_port()
        env = {**os.environ, "HELDOUT_SECRET": SECRET, "HELDOUT_PROJECT": str(root)}
        command = serve_command(root, port) if cli else uvicorn_command(port)
        server = LiveServer(f"http://127.0.0.1:{port}", None, command, env)  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
