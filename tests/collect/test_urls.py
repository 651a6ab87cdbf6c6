"""URL-list source against a local HTTP server: content ids, originals stored at once, failures kept."""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from heldout.catalog import Candidate, Image
from heldout.check import check
from heldout.collect import FolderSource, UrlListSource, collect
from heldout.collect.urls import url_id
from heldout.config import CONFIG_FILE, DownloadConfig, ProjectConfig
from heldout.errors import SourceError
from heldout.ingest import bad_files, ingest
from heldout.project import Project
from heldout.status import project_status

CAT, COFFEE = "n02123045", "n07920052"


class _PhotoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, photos: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.photos = photos
        self.working: set[str] = set()
        """Names under /later/ that serve their photo (until then: 404)."""
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def handle_error(self, request, client_address) -> None:
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _PhotoServer

    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests[self.path] += 1
        kind, _, name = self.path.lstrip("/").partition("/")
        name = name.removesuffix(".jpg")
        serving = self.server.photos if kind == "photo" else self.server.working if kind == "later" else ()
        if name in serving:
            self.send(200, self.server.photos[name], "image/jpeg")
        elif kind == "page":
            self.send(200, b"<html><body>not a photo</body></html>", "text/html; charset=utf-8")
        elif kind == "broken":
            self.send(500, b"oops", "text/plain")
        else:
            self.send(404, b"not found", "text/plain")

    def send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def server(photo_bytes):
    served = _PhotoServer(photo_bytes)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.shutdown()
        served.server_close()


def _quick_downloads(root) -> Project:
    """Reopen the project with short timeouts and a single quick retry."""
    path = root / CONFIG_FILE
    config = ProjectConfig.load(path)
    download = DownloadConfig(workers=4, timeout_s=1, max_retries=1, backoff_s=0)
    config.model_copy(update={"download": download}).save(path)
    return Project.open(root)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A new SQLite project with quick downloads, made once: copying it beats creating 1,000 classes."""
    root = tmp_path_factory.mktemp("template") / "project"
    Project.create(root).close()
    _quick_downloads(root).close()
    return root


@pytest.fixture()
def fast(template, tmp_path):
    """A new SQLite project downloading with small timeouts and retries."""
    root = shutil.copytree(template, tmp_path / "project")
    with Project.open(root) as opened:
        yield opened


@pytest.fixture()
def fast_both(project):
    """The parametrized project (SQLite, PostgreSQL), downloading with small timeouts and retries."""
    with _quick_downloads(project.root) as opened:
        yield opened


def _url_list(tmp_path, rows: list[tuple[str, str]], name: str = "urls.csv"):
    path = tmp_path / name
    path.write_text("url,class\n" + "".join(f"{url},{key}\n" for url, key in rows))
    return path


def _good_rows(server) -> list[tuple[str, str]]:
    return [
        (server.url("/photo/chelsea.jpg"), CAT),
        (server.url("/photo/camera.jpg"), CAT),
        (server.url("/photo/coffee.jpg"), COFFEE),
    ]


def _bad_rows(server) -> list[tuple[str, str]]:
    return [
        (server.url("/missing/gone.jpg"), CAT),
        (server.url("/page/index.html"), COFFEE),
        (server.url("/broken/always.jpg"), COFFEE),
    ]


def _rows(project, status: str | None = None) -> list[tuple[str, str, str | None, str | None]]:
    """(image id, status, location, url) of every candidate."""
    query = select(Image.image_id, Image.status, Image.location, Candidate.url).join(
        Candidate, Candidate.image_id == Image.image_id
    )
    if status is not None:
        query = query.where(Image.status == status)
    with project.transaction() as session:
        return [tuple(r) for r in session.execute(query.order_by(Image.image_id))]


def test_url_candidates_are_named_by_the_sha1_of_their_bytes(fast, server, photo_bytes, tmp_path):
    report = collect(fast, UrlListSource(_url_list(tmp_path, _good_rows(server))))
    assert (report.added, report.known, report.failed) == (3, 0, 0)
    assert fast.candidates.ids(CAT) == sorted(
        hashlib.sha1(photo_bytes[name]).hexdigest() for name in ("chelsea", "camera")
    )
    assert fast.candidates.ids(COFFEE) == [hashlib.sha1(photo_bytes["coffee"]).hexdigest()]


def test_originals_are_in_the_store_as_soon_as_collected(fast, server, photo_bytes, tmp_path):
    collect(fast, UrlListSource(_url_list(tmp_path, _good_rows(server))))
    rows = _rows(fast)
    assert [status for _, status, _, _ in rows] == ["pending"] * 3
    for image_id, _, location, url in rows:
        name = url.rsplit("/", 1)[1].removesuffix(".jpg")
        sha256 = hashlib.sha256(photo_bytes[name]).hexdigest()
        assert image_id == hashlib.sha1(photo_bytes[name]).hexdigest()
        assert location == f"sha256:{sha256}"
        assert fast.store.get(fast.store.key(sha256)) == photo_bytes[name]
        assert not fast.store.exists(fast.store.key(sha256, "500"))  # renditions are ingest's job


def test_ingest_makes_the_renditions_of_url_candidates(fast, server, photo_bytes, tmp_path):
    collect(fast, UrlListSource(_url_list(tmp_path, _good_rows(server))))
    report = ingest(fast)
    assert (report.stored, report.bad, report.failed) == (3, 0, 0)
    chelsea = hashlib.sha1(photo_bytes["chelsea"]).hexdigest()
    assert max(fast.images.load(chelsea, "500").size) == 500
    assert fast.images.load(chelsea, "256").size == (256, 256)
    assert fast.images.bytes(chelsea, "original") == photo_bytes["chelsea"]
    assert check(fast).ok


def test_failed_urls_are_recorded_with_their_reasons(fast_both, server, tmp_path):
    report = collect(fast_both, UrlListSource(_url_list(tmp_path, _good_rows(server) + _bad_rows(server))))
    assert (report.added, report.failed) == (6, 3)
    reasons = {
        location: (image_id, status, reason) for image_id, status, location, reason in bad_files(fast_both)
    }
    missing, page, broken = (url for url, _ in _bad_rows(server))
    assert reasons[missing] == (url_id(missing), "failed", "HTTP 404 Not Found")
    assert reasons[page] == (url_id(page), "failed", "not an image: content-type text/html")
    assert reasons[broken] == (
        url_id(broken),
        "failed",
        "gave up after 2 attempts: HTTP 500 Internal Server Error",
    )
    assert len(reasons) == 3


def test_failed_urls_are_counted_per_class_in_the_status(fast, server, tmp_path):
    collect(fast, UrlListSource(_url_list(tmp_path, _good_rows(server) + _bad_rows(server))))
    per_class = project_status(fast).per_class
    assert per_class[CAT] == {"pending": 2, "failed": 1}
    assert per_class[COFFEE] == {"pending": 1, "failed": 2}


def test_ingest_leaves_failed_url_rows_alone(fast, server, tmp_path):
    collect(fast, UrlListSource(_url_list(tmp_path, _good_rows(server) + _bad_rows(server))))
    report = ingest(fast)
    assert (report.stored, report.failed) == (3, 0)
    assert len(_rows(fast, "failed")) == 3 and len(_rows(fast, "stored")) == 3


def test_rerun_skips_collected_urls_and_retries_failed_ones(fast_both, server, tmp_path):
    listing = _url_list(tmp_path, _good_rows(server) + _bad_rows(server))
    collect(fast_both, UrlListSource(listing))
    before = _rows(fast_both)
    again = collect(fast_both, UrlListSource(listing))
    assert (again.added, again.known, again.failed) == (0, 0, 3)
    assert _rows(fast_both) == before  # still failing: one failed row each, nothing new
    assert all(server.requests[f"/photo/{n}.jpg"] == 1 for n in ("chelsea", "camera", "coffee"))
    assert server.requests["/missing/gone.jpg"] == 2  # one try per run (404 is final)
    assert server.requests["/page/index.html"] == 2
    assert server.requests["/broken/always.jpg"] == 4  # two attempts per run (max_retries 1)


def test_a_failed_url_that_now_works_becomes_its_content_id_candidate(
    fast_both, server, photo_bytes, tmp_path
):
    later = server.url("/later/rocket.jpg")
    listing = _url_list(tmp_path, [*_good_rows(server), (later, COFFEE)])
    assert collect(fast_both, UrlListSource(listing)).failed == 1
    assert [r[0] for r in _rows(fast_both, "failed")] == [url_id(later)]
    server.working.add("rocket")
    report = collect(fast_both, UrlListSource(listing))
    assert (report.added, report.failed) == (1, 0)
    rocket = hashlib.sha1(photo_bytes["rocket"]).hexdigest()
    assert _rows(fast_both, "failed") == [] and bad_files(fast_both) == []
    assert [r for r in _rows(fast_both) if r[3] == later] == [
        (rocket, "pending", f"sha256:{hashlib.sha256(photo_bytes['rocket']).hexdigest()}", later)
    ]
    assert rocket in fast_both.candidates.ids(COFFEE) and url_id(later) not in fast_both.images.ids()


def test_url_list_without_the_url_class_header_is_refused(fast, server, tmp_path):
    listing = tmp_path / "urls.csv"
    listing.write_text(f"{server.url('/photo/chelsea.jpg')},{CAT}\n")
    with pytest.raises(SourceError, match="url,class"):
        collect(fast, UrlListSource(listing))
    assert fast.candidates.count() == 0


def test_a_non_http_url_is_refused_naming_its_line(fast, server, tmp_path):
    listing = _url_list(tmp_path, [(server.url("/photo/chelsea.jpg"), CAT), ("ftp://example.org/a.jpg", CAT)])
    with pytest.raises(SourceError, match=r"line 3: not an http\(s\) URL: 'ftp://example.org/a.jpg'"):
        collect(fast, UrlListSource(listing))
    assert server.requests == Counter()  # the list is checked before anything is downloaded


def test_a_row_without_a_url_is_refused_naming_its_line(fast, tmp_path):
    listing = tmp_path / "urls.csv"
    listing.write_text("class,url\nn02123045\n")
    with pytest.raises(SourceError, match="line 2"):
        collect(fast, UrlListSource(listing))


def test_a_missing_url_list_is_refused(tmp_path):
    with pytest.raises(SourceError, match="URL list not found"):
        UrlListSource(tmp_path / "nope.csv")


def test_sqlite_and_postgresql_give_the_same_candidate_ids(tmp_path, postgres_url, server, photo_folder):
    listing = _url_list(tmp_path, _good_rows(server) + _bad_rows(server))
    ids = {}
    for name, url in (("sqlite", None), ("postgresql", postgres_url)):
        Project.create(tmp_path / name, catalog_url=url).close()
        with _quick_downloads(tmp_path / name) as project:
            collect(project, FolderSource(photo_folder))
            collect(project, UrlListSource(listing))
            ids[name] = {key: project.candidates.ids(key) for key in (CAT, COFFEE)}
    assert ids["sqlite"] == ids["postgresql"]
    assert sum(len(v) for v in ids["sqlite"].values()) == 4 + 3  # folder: 4 new; URLs: 3 failed, 3 known


def test_a_row_without_a_class_is_refused_naming_its_line(fast, server, tmp_path):
    listing = tmp_path / "urls.csv"
    listing.write_text(
        f"url,class\n{server.url('/photo/chelsea.jpg')},{CAT}\n{server.url('/photo/coins.jpg')}\n"
    )
    with pytest.raises(SourceError, match="line 3: no class"):
        collect(fast, UrlListSource(listing))


def test_same_bytes_under_another_class_become_their_own_candidate(fast, server, photo_bytes, tmp_path):
    server.working.add("coffee")  # the same photo at a second URL
    rows = [(server.url("/photo/coffee.jpg"), COFFEE), (server.url("/later/coffee.jpg"), CAT)]
    report = collect(fast, UrlListSource(_url_list(tmp_path, rows)))
    first = hashlib.sha1(photo_bytes["coffee"]).hexdigest()
    second = {key: hashlib.sha1(f"{first},{key}".encode()).hexdigest() for key in (CAT, COFFEE)}
    ids = {key: fast.candidates.ids(key) for key in (CAT, COFFEE)}
    assert report.added == 2
    # whichever download finishes first gets the plain id; the other class gets sha1(id + "," + class)
    assert ids in ({COFFEE: [first], CAT: [second[CAT]]}, {CAT: [first], COFFEE: [second[COFFEE]]})


def test_a_url_listed_for_two_classes_is_a_candidate_of_both(fast, server, photo_bytes, tmp_path):
    url = server.url("/photo/coffee.jpg")
    report = collect(fast, UrlListSource(_url_list(tmp_path, [(url, COFFEE), (url, CAT)])))
    first = hashlib.sha1(photo_bytes["coffee"]).hexdigest()
    assert report.added == 2 and server.requests["/photo/coffee.jpg"] == 1
    assert fast.candidates.ids(COFFEE) == [first]
    assert fast.candidates.ids(CAT) == [hashlib.sha1(f"{first},{CAT}".encode()).hexdigest()]
