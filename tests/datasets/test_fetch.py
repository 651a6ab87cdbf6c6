"""fetch_set: download (from a local HTTP server) or take a release tarball, unpack, match."""

from __future__ import annotations

import io
import os
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from heldout.datasets import Manifest, TestSet, _registry, fetch_set, load_dataset, register_dataset
from heldout.errors import ConfigError, DatasetError

WRAPPER = "imagenetv2-matched-frequency-format-val"


@pytest.fixture(scope="session")
def b33() -> TestSet:
    return load_dataset("imagenetv2-b-33")


@pytest.fixture(scope="session")
def pixel_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1), (20, 120, 220)).save(buffer, "JPEG")
    return buffer.getvalue()


def write_tarball(path: Path, members: dict[str, bytes], folders: list[str] = ()) -> Path:
    """A .tar.gz holding ``folders`` and ``members`` (name -> bytes), written without touching disk."""
    with tarfile.open(path, "w:gz", compresslevel=1) as archive:
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="session")
def release_tarball(tmp_path_factory, b33, pixel_bytes) -> Path:
    """The released layout: ``<wrapper>/<class index>/<id>.jpeg`` for all 10,000 b-33 images."""
    return write_release(
        tmp_path_factory.mktemp("release") / "imagenetv2-matched-frequency.tar.gz", b33, pixel_bytes
    )


def write_release(path: Path, testset: TestSet, pixel: bytes, *, drop: str | None = None) -> Path:
    folders = [WRAPPER, *(f"{WRAPPER}/{c}" for c in sorted(set(testset.labels.tolist())))]
    members = {
        f"{WRAPPER}/{label}/{image_id}.jpeg": pixel
        for image_id, label in zip(testset.ids.tolist(), testset.labels.tolist(), strict=True)
        if image_id != drop
    }
    return write_tarball(path, members, folders)


def start_server(folder: Path) -> SimpleNamespace:
    """A local HTTP server for ``folder``; ``.requests`` lists the paths it was asked for."""
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state = {"running": True}

    def stop():
        if state["running"]:
            httpd.shutdown()
            httpd.server_close()
            thread.join()
            state["running"] = False

    return SimpleNamespace(
        url=f"http://127.0.0.1:{httpd.server_address[1]}", folder=folder, requests=requests, stop=stop
    )


@pytest.fixture()
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    folder = tmp_path / "served"
    folder.mkdir()
    running = start_server(folder)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def fetched_by_url(tmp_path_factory, release_tarball):
    """The whole b-33 release fetched from a local server, then fetched again with the server stopped."""
    folder = tmp_path_factory.mktemp("served")
    os.link(release_tarball, folder / "imagenetv2-matched-frequency.tar.gz")
    dest = tmp_path_factory.mktemp("fetched") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("no_proxy", "127.0.0.1")
        running = start_server(folder)
        url = f"{running.url}/imagenetv2-matched-frequency.tar.gz"
        calls: list[tuple[int, int | None]] = []
        try:
            first = fetch_set("imagenetv2-b-33", dest, url=url, progress=lambda d, t: calls.append((d, t)))
            listing = sorted(os.listdir(dest))
        finally:
            running.stop()
        second = fetch_set("imagenetv2-b-33", dest, url=url)
    return SimpleNamespace(
        first=first, second=second, dest=dest, listing=listing, requests=running.requests, progress=calls
    )


@pytest.fixture(scope="session")
def mini_testset(b33) -> TestSet:
    """A 100-image slice of b-33 (10 classes): fast to unpack."""
    rows = np.flatnonzero(np.isin(b33.labels, [0, 1, 2, 10, 11, 100, 101, 500, 998, 999]))
    manifest = Manifest.create(b33.ids[rows], b33.manifest.wnids[rows], {"output_filename": "mini-b-33.json"})
    return TestSet("mini-b-33", manifest, b33.classes, aliases=("mini-matched-frequency",))


@pytest.fixture()
def mini(monkeypatch, mini_testset) -> TestSet:
    """``mini_testset`` registered as ``mini-b-33`` (alias ``mini-matched-frequency``) for one test."""
    monkeypatch.setattr(_registry, "_ENTRIES", dict(_registry._ENTRIES))
    monkeypatch.setattr(_registry, "_ALIASES", dict(_registry._ALIASES))
    register_dataset("mini-b-33", aliases=mini_testset.aliases)(lambda: mini_testset)
    return mini_testset


@pytest.fixture()
def mini_tarball(tmp_path, mini, pixel_bytes) -> Path:
    return write_release(tmp_path / "mini.tar.gz", mini, pixel_bytes)


def leftovers(dest: Path) -> list[str]:
    return sorted(os.listdir(dest))


# ---------------------------------------------------------------- the whole release, by URL


def test_fetch_by_url_matches_manifest_exactly(fetched_by_url, b33):
    assert fetched_by_url.first.ok
    assert (fetched_by_url.first.paths != "").sum() == len(b33)


def test_fetch_descends_through_the_wrapper_folder(fetched_by_url):
    assert fetched_by_url.first.index.root == fetched_by_url.dest / "imagenetv2-b-33" / WRAPPER
    assert fetched_by_url.first.index.layout == "imagenetv2"


def test_fetch_by_url_keeps_the_download_and_leaves_no_partial_file(fetched_by_url, release_tarball):
    assert fetched_by_url.listing == ["imagenetv2-b-33", "imagenetv2-b-33.tar"]
    assert (fetched_by_url.dest / "imagenetv2-b-33.tar").read_bytes() == release_tarball.read_bytes()


def test_fetch_rerun_does_not_download_again(fetched_by_url):
    assert fetched_by_url.second.ok
    assert fetched_by_url.requests == ["/imagenetv2-matched-frequency.tar.gz"]


def test_fetch_reports_download_progress_up_to_the_full_size(fetched_by_url, release_tarball):
    size = release_tarball.stat().st_size
    assert fetched_by_url.progress[-1] == (size, size)
    done = [d for d, _ in fetched_by_url.progress]
    assert done == sorted(done)


# ---------------------------------------------------------------- a small registered set


def test_fetch_from_file_matches_manifest_exactly(mini, mini_tarball, tmp_path):
    match = fetch_set("mini-b-33", tmp_path / "data", file=mini_tarball)
    assert match.ok
    assert (match.paths != "").sum() == len(mini) == 100


def test_fetch_from_file_unpacks_without_copying_the_tarball(mini, mini_tarball, tmp_path):
    fetch_set("mini-b-33", tmp_path / "data", file=mini_tarball)
    assert leftovers(tmp_path / "data") == ["mini-b-33"]


def test_fetch_by_alias_unpacks_under_the_canonical_name(mini, mini_tarball, tmp_path):
    match = fetch_set("mini-matched-frequency", tmp_path / "data", file=mini_tarball)
    assert match.dataset == "mini-b-33"
    assert (tmp_path / "data" / "mini-b-33" / WRAPPER).is_dir()


def test_fetch_of_tarball_with_missing_image_reports_it(mini, pixel_bytes, tmp_path):
    dropped = str(mini.ids[42])
    tarball = write_release(tmp_path / "short.tar.gz", mini, pixel_bytes, drop=dropped)
    match = fetch_set("mini-b-33", tmp_path / "data", file=tarball)
    assert match.missing == [dropped]


def test_truncated_tarball_raises_dataset_error_and_leaves_no_target_folder(mini, mini_tarball, tmp_path):
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(mini_tarball.read_bytes()[: mini_tarball.stat().st_size // 2])
    dest = tmp_path / "data"
    with pytest.raises(DatasetError, match="cannot unpack") as caught:
        fetch_set("mini-b-33", dest, file=truncated)
    assert caught.value.where == str(truncated)
    assert leftovers(dest) == []


def test_garbage_file_raises_dataset_error_and_leaves_no_target_folder(mini, tmp_path):
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"<html>not found</html>" * 100)
    with pytest.raises(DatasetError, match="cannot unpack"):
        fetch_set("mini-b-33", tmp_path / "data", file=garbage)
    assert leftovers(tmp_path / "data") == []


def test_corrupt_download_raises_and_is_downloaded_again_on_rerun(mini, mini_tarball, server, tmp_path):
    (server.folder / "set.tar.gz").write_bytes(b"<html>try later</html>")
    url = f"{server.url}/set.tar.gz"
    with pytest.raises(DatasetError, match="cannot unpack"):
        fetch_set("mini-b-33", tmp_path / "data", url=url)
    assert leftovers(tmp_path / "data") == []
    (server.folder / "set.tar.gz").write_bytes(mini_tarball.read_bytes())
    assert fetch_set("mini-b-33", tmp_path / "data", url=url).ok
    assert server.requests == ["/set.tar.gz", "/set.tar.gz"]


def test_failed_download_raises_dataset_error_and_leaves_no_files(mini, server, tmp_path):
    url = f"{server.url}/absent.tar.gz"
    with pytest.raises(DatasetError, match="download failed") as caught:
        fetch_set("mini-b-33", tmp_path / "data", url=url)
    assert caught.value.where == url
    assert leftovers(tmp_path / "data") == []


def test_tarball_with_path_outside_destination_is_refused(mini, tmp_path, pixel_bytes):
    tarball = write_tarball(
        tmp_path / "evil.tar.gz", {"0/ok.jpeg": pixel_bytes, "../escaped.jpeg": pixel_bytes}
    )
    dest = tmp_path / "data"
    with pytest.raises(DatasetError, match="cannot unpack"):
        fetch_set("mini-b-33", dest, file=tarball)
    assert not (tmp_path / "escaped.jpeg").exists()
    assert leftovers(dest) == []


def test_missing_tarball_file_raises_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="tarball not found"):
        fetch_set("imagenetv2-b-33", tmp_path / "data", file=tmp_path / "absent.tar.gz")


@pytest.mark.parametrize(
    "sources", [{}, {"url": "http://127.0.0.1:9/x.tar", "file": "x.tar"}], ids=["neither", "both"]
)
def test_fetch_needs_exactly_one_of_url_and_file(tmp_path, sources):
    with pytest.raises(ConfigError, match="exactly one"):
        fetch_set("imagenetv2-b-33", tmp_path, **sources)


def test_fetch_of_unknown_set_raises_before_downloading(server, tmp_path):
    with pytest.raises(DatasetError, match="no test set named"):
        fetch_set("imagenetv2-d-99", tmp_path / "data", url=f"{server.url}/x.tar.gz")
    assert server.requests == []
