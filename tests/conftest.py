"""Shared fixtures. Real public data comes from ../shared/data (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HELDOUT_DATA", REPO.parent / "shared" / "data"))
# model exports and cached features stay inside the checkout (ignored by git), never in ~/.cache
MODEL_CACHE = REPO / "tests" / "artifacts" / "heldout-cache"
os.environ["HELDOUT_CACHE"] = str(MODEL_CACHE)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public ImageNetV2 / ReaL release files; tests that need them skip, saying why, without."""
    if not (SHARED_DATA / "imagenetv2").is_dir():
        pytest.skip(f"public data not found at {SHARED_DATA} (set HELDOUT_DATA to its folder)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def predictions_dir(shared_data: Path) -> Path:
    """The published layout <dataset>/<model>.npy of 67 models' top-5 predictions."""
    return shared_data / "imagenetv2" / "predictions"


@pytest.fixture()
def run_cli(capsys):
    """Run ``heldout ARGS...`` in-process: returns (exit code, stdout, stderr)."""
    from heldout.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL 15 cluster on 127.0.0.1 (initdb/pg_ctl; as user postgres when root)."""
    import getpass
    import shutil
    import subprocess

    bindir = Path("/usr/lib/postgresql/15/bin")
    initdb = bindir / "initdb" if (bindir / "initdb").exists() else shutil.which("initdb")
    pg_ctl = bindir / "pg_ctl" if (bindir / "pg_ctl").exists() else shutil.which("pg_ctl")
    assert initdb and pg_ctl, (
        "PostgreSQL server binaries (initdb, pg_ctl) are required: apt-get install postgresql"
    )
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="heldout-pg-"))  # pytest's tmp dirs are 0700: postgres can't enter
    data = base / "data"
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else getpass.getuser()
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(base, "postgres")
        base.chmod(0o755)
    port = _free_port()
    subprocess.run(
        [*prefix, str(initdb), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *prefix,
            str(pg_ctl),
            "-D",
            str(data),
            "-l",
            str(base / "log"),
            "-w",
            "-o",
            f"-p {port} -h 127.0.0.1 -k {base} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*prefix, str(pg_ctl), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def postgres_url(postgres_server, request):
    """A fresh, empty database on the session's PostgreSQL server."""
    import re
    import uuid

    import psycopg

    name = "t_" + re.sub(r"\W", "_", request.node.name)[:40].lower() + "_" + uuid.uuid4().hex[:6]
    admin = postgres_server.replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield f"{postgres_server}/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1; sets the endpoint and dummy credentials for the session."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    saved = {
        k: os.environ.get(k)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "HELDOUT_S3_ENDPOINT", "AWS_DEFAULT_REGION")
    }
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        HELDOUT_S3_ENDPOINT=endpoint,
        AWS_DEFAULT_REGION="us-east-1",
    )
    try:
        yield endpoint
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture()
def s3_url(s3_server, request):
    """A fresh bucket (and prefix) on the moto server, as s3://bucket/prefix."""
    import uuid

    import boto3

    bucket = "heldout-" + uuid.uuid4().hex[:12]
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/store"


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request):
    """Run a catalog test on both backends."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_url")


@pytest.fixture()
def project(tmp_path, catalog_url):
    """A new ImageNet-1k project, on SQLite and on PostgreSQL."""
    from heldout.project import Project

    with Project.create(tmp_path / "project", catalog_url=catalog_url) as opened:
        yield opened


@pytest.fixture(scope="session")
def photo_bytes() -> dict[str, bytes]:
    """JPEG bytes of real photos (skimage.data), by photo name."""
    import io

    import skimage.data
    from PIL import Image

    out = {}
    for name in ("chelsea", "coffee", "rocket", "astronaut", "camera", "coins", "immunohistochemistry"):
        buffer = io.BytesIO()
        Image.fromarray(getattr(skimage.data, name)()).convert("RGB").save(buffer, "JPEG", quality=92)
        out[name] = buffer.getvalue()
    return out


@pytest.fixture()
def photo_folder(tmp_path, photo_bytes) -> Path:
    """<class id>/<file>.jpg with real photos: 2 classes, 5 files (one byte-identical pair across names)."""
    root = tmp_path / "photos"
    layout = {
        "n02123045": {"chelsea.jpg": "chelsea", "camera.jpg": "camera", "coins.jpg": "coins"},
        "n07920052": {"coffee.jpg": "coffee", "coffee-copy.jpg": "coffee"},
    }
    for class_key, files in layout.items():
        (root / class_key).mkdir(parents=True)
        for name, photo in files.items():
            (root / class_key / name).write_bytes(photo_bytes[photo])
    return root


@pytest.fixture(scope="session")
def real_answers(shared_data):
    """The 924,810 ReaL rater answers as Answers, with group = "is the image's original label"."""
    import numpy as np

    from heldout.answers import answers_from_onehot

    with np.load(shared_data / "real" / "raters.npz") as data:
        tensor, info, ids = data["tensor"], data["info"], data["ids"]
    original = np.loadtxt(shared_data / "real" / "val_original_labels.txt", dtype=np.int64)
    position = (
        np.char.replace(np.char.replace(info[:, 0], "ILSVRC2012_val_", ""), ".JPEG", "").astype(np.int64) - 1
    )
    answers = answers_from_onehot(
        tensor, question_ids=np.arange(len(info)), worker_ids=ids, source="raters.npz"
    )
    from dataclasses import replace

    return replace(answers, group=(info[:, 1].astype(np.int64) == original[position]).astype(np.int64))


@pytest.fixture(scope="session")
def real_scores(shared_data):
    """The released Dawid–Skene scores, aligned with real_answers' questions."""
    import numpy as np

    with np.load(shared_data / "real" / "scores.npz") as data:
        return data["tensor"]


@pytest.fixture(scope="session")
def real_project(shared_data, tmp_path_factory):
    """A SQLite project holding the whole ReaL answer release (imported once per session)."""
    from heldout.crowd import import_real
    from heldout.project import Project

    project = Project.create(tmp_path_factory.mktemp("real") / "project")
    report = import_real(project, shared_data / "real")
    yield project, report
    project.close()


@pytest.fixture()
def real_slice(real_slice_master, tmp_path):
    """A private copy of the ReaL slice (tests may corrupt it)."""
    import shutil

    return Path(shutil.copytree(real_slice_master, tmp_path / "real-slice"))


@pytest.fixture(scope="session")
def real_slice_master(shared_data, tmp_path_factory):
    """The ReaL answer files cut to the first 3,000 questions (golden files kept whole when inside)."""
    import numpy as np

    out = tmp_path_factory.mktemp("real-slice")
    with np.load(shared_data / "real" / "raters.npz") as data:
        info = data["info"][:3000]
        np.savez(out / "raters.npz", tensor=data["tensor"][:, :3000], info=info, ids=data["ids"])
    keep = {tuple(row) for row in info.tolist()}
    for name in ("golden", "raters_golden"):
        with np.load(shared_data / "real" / f"{name}.npz") as data:
            inside = np.array([tuple(row) in keep for row in data["info"].tolist()])
            np.savez(
                out / f"{name}.npz",
                tensor=data["tensor"][:, inside],
                info=data["info"][inside],
                ids=data["ids"],
            )
    with np.load(shared_data / "real" / "scores.npz") as data:
        np.savez(out / "scores.npz", tensor=data["tensor"][:3000], info=data["info"][:3000])
    return out


@pytest.fixture(scope="session")
def model_cache() -> Path:
    """The tests' heldout cache folder: the EfficientNet ONNX export happens once."""
    return MODEL_CACHE


@pytest.fixture(scope="session")
def lite0(model_cache):
    """The built-in EfficientNet-Lite0 (ONNX, logits and 1280-d features), exported once per session."""
    from heldout.models import create_model

    return create_model("efficientnet-lite0", cache=model_cache)


@pytest.fixture(scope="session")
def scored_images():
    """``add(project, rows, reviewed=True)``: metadata-only images with frequency scores, in bulk.

    ``rows`` are (image id, role, class key, selection frequency or None, annotations); a scored
    row gets the question (image, its class) and a ``frequency`` Score. ``reviewed`` adds, per
    image, one l2 and one dssim neighbour farther than the published thresholds, so the image
    counts as sufficiently reviewed for near duplicates.
    """
    from sqlalchemy import func, select

    from heldout.catalog import Question
    from heldout.catalog.bulk import bulk_insert
    from heldout.project import utcnow

    def add(project, rows, *, reviewed=True):
        now = utcnow()
        with project.transaction() as session:
            first = session.scalar(select(func.max(Question.question_id))) or 0
            bulk_insert(
                session,
                "image",
                ("image_id", "role", "split", "class_key", "status", "attempts", "created_at", "updated_at"),
                [
                    (r[0], r[1], "val" if r[1] == "reference" else None, r[2], "metadata", 0, now, now)
                    for r in rows
                ],
            )
            scored = [r for r in rows if r[3] is not None]
            ids = range(first + 1, first + 1 + len(scored))
            bulk_insert(
                session,
                "question",
                ("question_id", "image_id", "class_key", "is_golden", "is_original_label"),
                [(q, r[0], r[2], False, False) for q, r in zip(ids, scored, strict=True)],
            )
            bulk_insert(
                session,
                "score",
                ("question_id", "method", "value", "annotations"),
                [(q, "frequency", r[3], r[4]) for q, r in zip(ids, scored, strict=True)],
            )
            if reviewed:
                far = {"l2": 1e12, "dssim": 0.9}
                bulk_insert(
                    session,
                    "neighbour",
                    ("image_id", "metric", "rank", "neighbour_id", "distance"),
                    [
                        (r[0], metric, 0, rows[1][0] if r[0] == rows[0][0] else rows[0][0], distance)
                        for r in rows
                        for metric, distance in far.items()
                    ],
                )

    return add


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through Playwright (never a downloaded browser), one per module."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian chromium is not installed (make setup as root, or apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
