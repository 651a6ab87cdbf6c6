"""Downloads against a local fault-injecting HTTP server: every failure named, counted and bounded."""

from __future__ import annotations

import io
import itertools
import socket
import ssl
import threading
import time
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import skimage.data
from PIL import Image

from heldout.collect import download
from heldout.collect.download import (
    MAX_BACKOFF_S,
    MAX_RETRY_AFTER_S,
    DownloadResult,
    download_many,
    download_one,
)
from heldout.config import DownloadConfig

TIMEOUT_S = 0.5
STALL_S = 1.5  # how long a stalling handler waits: longer than TIMEOUT_S, short enough to end soon
HELD_S = 0.1  # how long a "held" request stays in flight

# Self-signed for IP 127.0.0.1, valid until 2126; made with
# openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 \
#   -subj /CN=heldout-test -addext subjectAltName=IP:127.0.0.1
TLS_CERT = """\
-----BEGIN CERTIFICATE-----
MIIBljCCATygAwIBAgIUf7Jo7n0HoL/Qv5dDkAX62BohW0UwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMaGVsZG91dC10ZXN0MCAXDTI2MTEyMzE1MzkzNVoYDzIxMjYx
MDMwMTUzOTM1WjAXMRUwEwYDVQQDDAxoZWxkb3V0LXRlc3QwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAATmNTsd3dXOBt8WZTql50I2QMjpgnsztyI1VCA9IV74o39V
mWbBjLjeDkz6pdMwHjTX5Su3a67FR6NNiTF56f6eo2QwYjAdBgNVHQ4EFgQUYWVv
OrcbOTo6L1tNCWSCwAjMlIcwHwYDVR0jBBgwFoAUYWVvOrcbOTo6L1tNCWSCwAjM
lIcwDwYDVR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMC
A0gAMEUCIQCAu10cO9CKEf0GewXpCuYZMgUP8btyxLutMrTt/PuisgIgY7xw0GXW
tYjNewOPexsVX2baWiYl3fJOED/UcmltzxY=
-----END CERTIFICATE-----
"""
TLS_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYb1dco0C10wSuVo8
NXsOR27IehDzSql88lkLDh69YuChRANCAATmNTsd3dXOBt8WZTql50I2QMjpgnsz
tyI1VCA9IV74o39VmWbBjLjeDkz6pdMwHjTX5Su3a67FR6NNiTF56f6e
-----END PRIVATE KEY-----
"""


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(skimage.data.chelsea()).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


JPEG = _jpeg()


class _FaultServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # a full accept queue drops SYNs, and the client resends only after 1 s

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.held_in_flight = 0
        self.held_max_in_flight = 0

    def count(self, path: str) -> int:
        """Record a request for ``path`` (with its query): the how-many-th it is."""
        with self.lock:
            self.requests[path] += 1
            return self.requests[path]

    def handle_error(self, request, client_address) -> None:
        pass  # clients hang up on stalled, oversized and trickling responses on purpose


class _Handler(BaseHTTPRequestHandler):
    server: _FaultServer

    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        behaviour, _, self.rest = parts.path.lstrip("/").partition("/")
        self.nth = self.server.count(self.path)
        getattr(self, "serve_" + behaviour.replace("-", "_"), self.serve_missing)()

    # building blocks

    def send(
        self, status: int, body: bytes = b"", content_type: str | None = "image/jpeg", **headers
    ) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def send_chunked(self, chunks: list[bytes], *, finish: bool) -> None:
        self.protocol_version = "HTTP/1.1"
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if finish:
            self.wfile.write(b"0\r\n\r\n")

    def send_redirect(self, status: int, location: str) -> None:
        self.send(status, b"", content_type=None, Location=location)

    def retry_after(self) -> str:
        seconds = self.query.get("after", "7")
        if self.query.get("form") == "date":
            return formatdate(time.time() + float(seconds), usegmt=True)
        return seconds

    # behaviours: /<behaviour>/<token>, the token keeping each test's request counts apart

    def serve_image(self) -> None:
        self.send(200, JPEG)

    def serve_typed(self) -> None:
        self.send(200, JPEG, content_type=self.query["type"])

    def serve_untyped(self) -> None:
        self.send(200, JPEG, content_type=None)

    def serve_html(self) -> None:
        self.send(200, b"<!doctype html><title>Photo unavailable</title>", content_type="text/html")

    def serve_missing(self) -> None:
        self.send_error(404)

    def serve_stall_headers(self) -> None:
        time.sleep(STALL_S)

    def serve_stall_body(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(JPEG)))
        self.end_headers()
        self.wfile.write(JPEG[: len(JPEG) // 2])
        time.sleep(STALL_S)

    def serve_trickle(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", "100")
        self.end_headers()
        for byte in JPEG[:100]:
            self.wfile.write(bytes([byte]))
            time.sleep(0.05)

    def serve_ratelimit_once(self) -> None:
        if self.nth == 1:
            self.send(429, b"slow down", content_type="text/plain", Retry_After=self.retry_after())
        else:
            self.send(200, JPEG)

    def serve_ratelimit_always(self) -> None:
        self.send(429, b"slow down", content_type="text/plain", Retry_After=self.retry_after())

    def serve_unavailable_twice(self) -> None:
        if self.nth <= 2:
            self.send(503, b"busy", content_type="text/plain")
        else:
            self.send(200, JPEG)

    def serve_request_timeout_once(self) -> None:
        if self.nth == 1:
            self.send(408, b"", content_type="text/plain")
        else:
            self.send(200, JPEG)

    def serve_error(self) -> None:
        self.send(500, b"oops", content_type="text/plain")

    def serve_forbidden(self) -> None:
        self.send(403, b"no", content_type="text/plain")

    def serve_truncated(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", "5000")
        self.end_headers()
        self.wfile.write(JPEG[:1000])

    def serve_truncated_once(self) -> None:
        if self.nth == 1:
            self.serve_truncated()
        else:
            self.send(200, JPEG)

    def serve_chunked_truncated(self) -> None:
        self.send_chunked([JPEG[:1000]], finish=False)

    def serve_chunked_big(self) -> None:
        self.send_chunked([JPEG[:4096]] * 10, finish=True)

    def serve_unsized_big(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.end_headers()
        self.wfile.write(JPEG[:4096] * 10)

    def serve_huge(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(60 * 2**20))
        self.end_headers()
        self.wfile.write(JPEG[:100])

    def serve_redirect(self) -> None:
        """/redirect/<n>/<token>: n hops, alternately 301 to an absolute and 302 to a relative URL."""
        hops, _, token = self.rest.partition("/")
        n = int(hops)
        if n == 0:
            self.send(200, JPEG)
        elif n % 2 == 0:
            host, port = self.server.server_address[:2]
            self.send_redirect(301, f"http://{host}:{port}/redirect/{n - 1}/{token}")
        else:
            self.send_redirect(302, f"/redirect/{n - 1}/{token}")

    def serve_loop_a(self) -> None:
        self.send_redirect(302, f"/loop-b/{self.rest}")

    def serve_loop_b(self) -> None:
        self.send_redirect(302, f"/loop-a/{self.rest}")

    def serve_redirect_ftp(self) -> None:
        self.send_redirect(302, "ftp://example.com/cat.jpg")

    def serve_held(self) -> None:
        with self.server.lock:
            self.server.held_in_flight += 1
            self.server.held_max_in_flight = max(self.server.held_max_in_flight, self.server.held_in_flight)
        try:
            time.sleep(HELD_S)
            self.send(200, JPEG)
        finally:
            with self.server.lock:
                self.server.held_in_flight -= 1


def _run(server: _FaultServer):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def server():
    yield from _run(_FaultServer())


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    """The same server over TLS, with a self-signed certificate for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_text(TLS_CERT)
    (folder / "key.pem").write_text(TLS_KEY)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    server = _FaultServer()
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _run(server)


@pytest.fixture()
def trust_test_certificate(monkeypatch):
    """Make the downloader trust the test server's self-signed certificate."""
    context = ssl.create_default_context(cadata=TLS_CERT)
    monkeypatch.setattr(download, "_tls_context", lambda: context)


_tokens = itertools.count()


def _url_maker(scheme: str, server: _FaultServer):
    token = f"t{next(_tokens)}"
    host, port = server.server_address[:2]

    def make(behaviour: str, query: str = "") -> str:
        return f"{scheme}://{host}:{port}/{behaviour}/{token}" + (f"?{query}" if query else "")

    return make


@pytest.fixture()
def url(server):
    """``url("error")`` -> a URL on the fault server, fresh for each test (its own request count)."""
    return _url_maker("http", server)


@pytest.fixture()
def tls_url(tls_server):
    """``tls_url("image")`` -> an https URL on the TLS fault server."""
    return _url_maker("https", tls_server)


@pytest.fixture()
def sleeps() -> list[float]:
    """Pass ``sleep=sleeps.append`` so backoff is recorded instead of waited."""
    return []


def config(**overrides) -> DownloadConfig:
    settings = {"workers": 4, "timeout_s": TIMEOUT_S, "max_retries": 2, "backoff_s": 1.0}
    return DownloadConfig(**(settings | overrides))


def requests_for(server: _FaultServer, url: str) -> int:
    parts = urlsplit(url)
    return server.requests[parts.path + (f"?{parts.query}" if parts.query else "")]


# success


def test_image_is_downloaded_whole(url, sleeps):
    result = download_one(url("image"), config(), sleep=sleeps.append)
    assert result.ok
    assert result.data == JPEG
    assert (result.error, result.status, result.attempts) == (None, 200, 1)
    assert result.content_type == "image/jpeg"
    assert result.final_url == result.url
    assert sleeps == []


@pytest.mark.parametrize(
    "content_type", ["image/png", "image/jpeg; charset=binary", "application/octet-stream"]
)
def test_image_and_binary_content_types_are_accepted(url, content_type):
    result = download_one(url("typed", f"type={content_type}"), config())
    assert result.ok
    assert result.content_type == content_type.split(";")[0]


def test_missing_content_type_is_accepted(url):
    result = download_one(url("untyped"), config())
    assert result.ok
    assert result.data == JPEG
    assert result.content_type is None


def test_repr_leaves_out_the_bytes(url):
    result = download_one(url("image"), config())
    assert "data=" not in repr(result)
    assert len(repr(result)) < 400


# final failures: no retry


def test_404_fails_at_once_with_its_status(url, sleeps):
    result = download_one(url("missing"), config(), sleep=sleeps.append)
    assert not result.ok
    assert result.data is None
    assert (result.error, result.status, result.attempts) == ("HTTP 404 Not Found", 404, 1)
    assert sleeps == []


def test_403_is_not_retried(url, server):
    result = download_one(url("forbidden"), config(), sleep=lambda s: None)
    assert (result.error, result.attempts) == ("HTTP 403 Forbidden", 1)
    assert requests_for(server, url("forbidden")) == 1


def test_html_page_is_rejected_as_not_an_image(url, server):
    result = download_one(url("html"), config(), sleep=lambda s: None)
    assert (result.error, result.status, result.attempts) == ("not an image: content-type text/html", 200, 1)
    assert result.content_type == "text/html"
    assert requests_for(server, url("html")) == 1


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "text/html; charset=utf-8"])
def test_non_image_content_types_are_rejected(url, content_type):
    result = download_one(url("typed", f"type={content_type}"), config())
    assert result.error == f"not an image: content-type {content_type.split(';')[0]}"
    assert result.attempts == 1


def test_content_length_over_the_limit_is_refused_before_reading(url):
    result = download_one(url("huge"), config(max_bytes=50 * 2**20))
    assert (result.error, result.status, result.attempts) == ("too large: 60 MB > 50 MB limit", 200, 1)


@pytest.mark.parametrize("behaviour", ["chunked-big", "unsized-big"])
def test_body_of_unknown_length_is_cut_off_at_the_limit(url, behaviour):
    result = download_one(url(behaviour), config(max_bytes=16 * 1024))
    assert (result.error, result.attempts) == ("too large: body exceeds the 16 KB limit", 1)
    assert result.data is None


def test_unsupported_scheme_is_refused_without_a_request(sleeps):
    result = download_one("ftp://example.com/cat.jpg", config(), sleep=sleeps.append)
    assert (result.error, result.status, result.attempts) == ("unsupported URL scheme: ftp", None, 0)
    assert result.final_url is None


@pytest.mark.parametrize(
    ("bad_url", "reason"),
    [
        ("cat.jpg", "unsupported URL scheme: (none)"),
        ("http:///cat.jpg", "invalid URL: no host name"),
        ("http://example.com:port/cat.jpg", "invalid URL: bad port in 'example.com:port'"),
        ("http://[::1/cat.jpg", "invalid URL: Invalid IPv6 URL"),
    ],
)
def test_malformed_urls_are_refused_with_the_reason(bad_url, reason):
    result = download_one(bad_url, config())
    assert (result.error, result.attempts) == (reason, 0)


# retries


def test_503_twice_then_200_succeeds_on_the_third_attempt(url, sleeps):
    result = download_one(url("unavailable-twice"), config(), sleep=sleeps.append)
    assert result.ok
    assert (result.status, result.attempts) == (200, 3)


def test_backoff_doubles_between_attempts(url, sleeps):
    download_one(url("error"), config(max_retries=4, backoff_s=0.5), sleep=sleeps.append)
    assert sleeps == [0.5, 1.0, 2.0, 4.0]


def test_backoff_is_capped(url, sleeps):
    download_one(url("error"), config(max_retries=3, backoff_s=40.0), sleep=sleeps.append)
    assert sleeps == [40.0, MAX_BACKOFF_S, MAX_BACKOFF_S]


def test_500_always_gives_up_after_max_retries_plus_one_attempts(url, server, sleeps):
    result = download_one(url("error"), config(max_retries=4), sleep=sleeps.append)
    assert result.error == "gave up after 5 attempts: HTTP 500 Internal Server Error"
    assert (result.status, result.attempts) == (500, 5)
    assert requests_for(server, url("error")) == 5


def test_no_retries_gives_up_after_one_attempt(url, sleeps):
    result = download_one(url("error"), config(max_retries=0), sleep=sleeps.append)
    assert (result.error, result.attempts) == ("gave up after 1 attempt: HTTP 500 Internal Server Error", 1)
    assert sleeps == []


def test_408_is_retried(url, sleeps):
    result = download_one(url("request-timeout-once"), config(), sleep=sleeps.append)
    assert result.ok
    assert result.attempts == 2


def test_429_waits_the_retry_after_seconds_then_succeeds(url, sleeps):
    result = download_one(url("ratelimit-once", "after=7"), config(), sleep=sleeps.append)
    assert result.ok
    assert result.attempts == 2
    assert sleeps == [7.0]


def test_retry_after_as_http_date_is_waited_until(url, sleeps):
    result = download_one(url("ratelimit-once", "after=30&form=date"), config(), sleep=sleeps.append)
    assert result.ok
    [slept] = sleeps
    assert 28.0 <= slept <= 30.0  # the date has whole seconds


def test_retry_after_is_capped(url, sleeps):
    download_one(url("ratelimit-once", "after=3600"), config(), sleep=sleeps.append)
    assert sleeps == [MAX_RETRY_AFTER_S]


def test_429_always_gives_up_naming_the_status(url, sleeps):
    result = download_one(url("ratelimit-always", "after=1"), config(max_retries=2), sleep=sleeps.append)
    assert result.error == "gave up after 3 attempts: HTTP 429 Too Many Requests"
    assert (result.status, result.attempts) == (429, 3)
    assert sleeps == [1.0, 1.0]


def test_connection_refused_is_retried_then_reported(sleeps):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = download_one(f"http://127.0.0.1:{port}/cat.jpg", config(max_retries=1), sleep=sleeps.append)
    assert (result.error, result.status, result.attempts) == (
        "gave up after 2 attempts: connection refused",
        None,
        2,
    )


# truncated bodies


def test_body_shorter_than_content_length_is_truncated(url, sleeps):
    result = download_one(url("truncated"), config(max_retries=1), sleep=sleeps.append)
    assert result.error == "gave up after 2 attempts: body truncated: 1000 of 5000 bytes"
    assert (result.status, result.attempts, result.data) == (200, 2, None)


def test_truncated_body_is_retried_until_whole(url, sleeps):
    result = download_one(url("truncated-once"), config(), sleep=sleeps.append)
    assert result.ok
    assert result.data == JPEG
    assert result.attempts == 2


def test_chunked_body_closed_early_is_truncated(url, sleeps):
    result = download_one(url("chunked-truncated"), config(max_retries=0), sleep=sleeps.append)
    assert result.error == "gave up after 1 attempt: body truncated: connection closed after 1000 bytes"


# timeouts (real, short)


def test_server_silent_before_headers_times_out(url, sleeps):
    start = time.monotonic()
    result = download_one(url("stall-headers"), config(max_retries=1), sleep=sleeps.append)
    elapsed = time.monotonic() - start
    assert result.error == f"gave up after 2 attempts: timed out after {TIMEOUT_S} s"
    assert (result.status, result.attempts) == (None, 2)
    assert elapsed < 2 * TIMEOUT_S + 0.5


def test_server_stalling_mid_body_times_out(url, sleeps):
    start = time.monotonic()
    result = download_one(url("stall-body"), config(max_retries=0), sleep=sleeps.append)
    assert result.error == f"gave up after 1 attempt: timed out after {TIMEOUT_S} s"
    assert result.status == 200
    assert time.monotonic() - start < TIMEOUT_S + 0.5


def test_trickling_body_times_out_on_the_whole_request(url, sleeps):
    # one byte every 0.05 s never trips a per-read timeout; the 0.5 s request deadline must
    start = time.monotonic()
    result = download_one(url("trickle"), config(max_retries=0), sleep=sleeps.append)
    assert result.error == f"gave up after 1 attempt: timed out after {TIMEOUT_S} s"
    assert time.monotonic() - start < TIMEOUT_S + 0.5


# https


def test_https_image_is_downloaded(tls_url, trust_test_certificate):
    result = download_one(tls_url("image"), config())
    assert result.ok
    assert result.data == JPEG


def test_https_trickling_body_times_out_on_the_whole_request(tls_url, trust_test_certificate):
    start = time.monotonic()
    result = download_one(tls_url("trickle"), config(max_retries=0))
    assert result.error == f"gave up after 1 attempt: timed out after {TIMEOUT_S} s"
    assert time.monotonic() - start < TIMEOUT_S + 0.5


def test_untrusted_certificate_is_refused_without_retry(tls_url, tls_server, sleeps):
    result = download_one(tls_url("image"), config(), sleep=sleeps.append)
    assert result.error.startswith("TLS certificate rejected: self")  # "self-signed", or "self signed"
    assert (result.status, result.attempts) == (None, 1)
    assert requests_for(tls_server, tls_url("image")) == 0


# redirects


def test_redirect_chain_is_followed_to_the_image(url, server):
    start = url("redirect/2")
    result = download_one(start, config())
    assert result.ok
    assert result.data == JPEG
    assert result.attempts == 1
    assert result.final_url == start.replace("/redirect/2/", "/redirect/0/")
    assert requests_for(server, start.replace("/redirect/2/", "/redirect/1/")) == 1


def test_five_redirects_are_followed(url):
    result = download_one(url("redirect/5"), config())
    assert result.ok
    assert result.final_url == url("redirect/0")


def test_six_redirects_are_too_many(url):
    result = download_one(url("redirect/6"), config())
    assert (result.error, result.attempts) == ("too many redirects (more than 5)", 1)
    assert result.final_url == url("redirect/1")


def test_redirect_loop_fails_naming_the_loop(url, server):
    result = download_one(url("loop-a"), config(), sleep=lambda s: None)
    assert result.error == f"redirect loop: {url('loop-a')} -> {url('loop-b')} -> {url('loop-a')}"
    assert (result.status, result.attempts) == (302, 1)
    assert requests_for(server, url("loop-a")) == 1


def test_redirect_to_another_scheme_is_refused(url):
    result = download_one(url("redirect-ftp"), config())
    assert (result.error, result.status, result.attempts) == (
        "bad redirect: unsupported URL scheme: ftp",
        302,
        1,
    )


# many at once


def test_every_url_comes_back_exactly_once(url, server):
    urls = [url("image") + f"-{i}" if i % 5 else url("missing") + f"-{i}" for i in range(50)]
    results = list(download_many(urls, config(workers=8)))
    assert Counter(r.url for r in results) == Counter(urls)
    assert sum(r.ok for r in results) == 40
    assert all(r.error == "HTTP 404 Not Found" for r in results if not r.ok)
    assert all(requests_for(server, u) == 1 for u in urls)


def test_no_more_than_workers_requests_are_in_flight(url, server):
    server.held_max_in_flight = 0
    urls = [url("held") + f"-{i}" for i in range(12)]
    results = list(download_many(urls, config(workers=3)))
    assert all(r.ok for r in results)
    assert server.held_max_in_flight == 3


def test_progress_counts_up_to_the_total(url):
    calls = []
    urls = [url("image") + f"-{i}" for i in range(5)]
    for _ in download_many(urls, config(workers=2), progress=lambda done, total: calls.append((done, total))):
        pass
    assert calls == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


def test_retries_in_many_use_the_given_sleep(url, sleeps):
    results = list(download_many([url("unavailable-twice")], config(), sleep=sleeps.append))
    assert [r.attempts for r in results] == [3]
    assert sleeps == [1.0, 2.0]


def test_empty_list_yields_nothing():
    assert list(download_many([], config())) == []


def test_a_single_string_is_refused():
    with pytest.raises(TypeError, match="not a single string"):
        download_many("http://example.com/cat.jpg", config())


def test_results_are_download_results(url):
    [result] = download_many([url("image")], config())
    assert isinstance(result, DownloadResult)


def test_closing_early_stops_new_requests(url, server):
    urls = [url("held") + f"-{i}" for i in range(30)]
    results = download_many(urls, config(workers=2))
    next(results)
    results.close()
    time.sleep(2 * HELD_S)
    assert sum(requests_for(server, u) for u in urls) <= 4


def test_closing_early_cuts_a_real_backoff_short(url):
    # the default (real) sleep waits interruptibly: a 60 s Retry-After must not outlive close()
    results = download_many([url("image"), url("ratelimit-always", "after=60")], config(workers=2))
    next(results)
    time.sleep(0.2)  # let the rate-limited request start its wait
    results.close()
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and _download_threads():
        time.sleep(0.05)
    assert _download_threads() == []


def _download_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("heldout-download")]
