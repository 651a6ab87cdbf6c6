"""Download candidate images over HTTP(S): bounded, timed out, retried, size- and type-checked.

``download_many`` runs at most ``config.workers`` requests at once and yields each result as it
completes, so the caller can commit results one by one and a crashed run resumes where it
stopped. A single URL's failure never raises: it comes back as a ``DownloadResult`` whose
``error`` says what went wrong in words ("HTTP 404 Not Found", "timed out after 2.0 s",
"gave up after 5 attempts: HTTP 503 Service Unavailable").

One *attempt* is one GET with its redirect chain (up to ``MAX_REDIRECTS``). Each HTTP request
in it has ``config.timeout_s`` for connecting, sending, the headers and the whole body together
(a server that stalls or trickles mid-body times out); name resolution is not covered.
Timeouts, connection errors, truncated bodies, 408, 429 and 5xx are retried up to
``config.max_retries`` times, waiting ``config.backoff_s * 2**n`` (at most ``MAX_BACKOFF_S``)
or, on 429/503, what ``Retry-After`` asks (at most ``MAX_RETRY_AFTER_S``). Other 4xx, a
non-image content type, a body over ``config.max_bytes`` and redirect problems are final.

Proxies from the environment (``HTTP_PROXY``) are not used.
"""

from __future__ import annotations

import http.client
import itertools
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from http import HTTPStatus
from typing import NamedTuple
from urllib.parse import quote, urljoin, urlsplit

from heldout import __version__
from heldout.config import DownloadConfig

__all__ = [
    "MAX_BACKOFF_S",
    "MAX_REDIRECTS",
    "MAX_RETRY_AFTER_S",
    "DownloadResult",
    "download_many",
    "download_one",
]

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
MAX_BACKOFF_S = 60.0
"""Longest exponential-backoff wait between attempts."""
MAX_RETRY_AFTER_S = 60.0
"""Longest wait a server's ``Retry-After`` can ask for."""

_CHUNK_BYTES = 64 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUSES = frozenset({408, 429})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_BINARY_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
_URL_SAFE = "/%:@!$&'()*+,;=~?"
_HEADERS = {
    "User-Agent": f"heldout/{__version__}",
    "Accept": "image/*, application/octet-stream;q=0.9",
    "Connection": "close",
}

_Sleep = Callable[[float], object]


@dataclass(frozen=True)
class DownloadResult:
    """What became of one URL.

    ``status`` is the last HTTP status received (``None`` if no response ever came),
    ``content_type`` its media type without parameters (``image/jpeg``), ``final_url`` the last
    URL requested (where redirects led), ``attempts`` how many attempts were made (0 when the
    URL was refused before any request).
    """

    url: str
    data: bytes | None = field(repr=False)
    error: str | None
    status: int | None
    attempts: int
    content_type: str | None
    final_url: str | None

    @property
    def ok(self) -> bool:
        """The bytes arrived whole and look like an image."""
        return self.error is None and self.data is not None


def download_one(url: str, config: DownloadConfig, *, sleep: _Sleep = time.sleep) -> DownloadResult:
    """Download ``url`` with retries; never raises for the URL's own failure.

    ``sleep`` waits between attempts (tests pass a recorder instead of waiting).
    """
    return _download(url, config, sleep, None)


def download_many(
    urls: Sequence[str],
    config: DownloadConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
    sleep: _Sleep = time.sleep,
) -> Iterator[DownloadResult]:
    """Download ``urls`` on ``config.workers`` threads, yielding each result as it completes.

    Every URL yields exactly one result, in completion order (match them up by ``url``). At
    most ``config.workers`` requests are in flight and at most as many finished results wait
    for the caller, so a slow consumer slows the downloads instead of filling memory.
    ``progress(done, total)`` is called in the caller's thread, first with ``done == 0``.
    Closing the iterator early stops new requests; with the default ``sleep`` it also cuts
    short any backoff wait.

    Example::

        for result in download_many(urls, config.download):
            if result.ok:
                store.put(result.data)
    """
    if isinstance(urls, str | bytes):
        raise TypeError("urls must be a sequence of URLs, not a single string")
    return _download_all(list(urls), config, progress, sleep)


def _download_all(
    urls: list[str],
    config: DownloadConfig,
    progress: Callable[[int, int], None] | None,
    sleep: _Sleep,
) -> Iterator[DownloadResult]:
    total = len(urls)
    stop = threading.Event()
    pause: _Sleep = stop.wait if sleep is time.sleep else sleep
    waiting = iter(urls)
    executor = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="heldout-download")
    in_flight: set[Future[DownloadResult]] = set()

    def submit(count: int) -> None:
        for url in itertools.islice(waiting, count):
            in_flight.add(executor.submit(_download, url, config, pause, stop))

    try:
        if progress is not None:
            progress(0, total)
        submit(config.workers)
        done = 0
        while in_flight:
            finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                result = future.result()
                submit(1)  # keep the workers busy while the caller handles this result
                done += 1
                if progress is not None:
                    progress(done, total)
                yield result
    finally:
        stop.set()
        executor.shutdown(wait=False, cancel_futures=True)


class _Failure(Exception):
    """Why one attempt failed; never leaves this module."""

    def __init__(
        self,
        reason: str,
        *,
        is_retryable: bool,
        status: int | None = None,
        content_type: str | None = None,
        retry_after_s: float | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.is_retryable = is_retryable
        self.status = status
        self.content_type = content_type
        self.retry_after_s = retry_after_s
        self.url: str | None = None


class _Hop(NamedTuple):
    status: int
    content_type: str | None
    body: bytes | None
    location: str | None


class _Target(NamedTuple):
    scheme: str
    host: str
    port: int | None
    path: str


def _download(
    url: str, config: DownloadConfig, sleep: _Sleep, stop: threading.Event | None
) -> DownloadResult:
    try:
        _parse(url)
    except _Failure as failure:
        return DownloadResult(url, None, failure.reason, None, 0, None, None)
    attempts = 0
    while True:
        attempts += 1
        try:
            hop, final_url = _attempt(url, config)
        except _Failure as failure:
            if not failure.is_retryable:
                return _failed(url, failure, attempts, failure.reason)
            if attempts > config.max_retries:
                plural = "s" if attempts != 1 else ""
                return _failed(
                    url, failure, attempts, f"gave up after {attempts} attempt{plural}: {failure.reason}"
                )
            delay = _retry_delay(failure, attempts, config.backoff_s)
            log.debug("retrying %s in %.1f s (attempt %d failed: %s)", url, delay, attempts, failure.reason)
            if delay > 0 and not (stop is not None and stop.is_set()):
                sleep(delay)
            if stop is not None and stop.is_set():
                return _failed(url, failure, attempts, f"cancelled: {failure.reason}")
            continue
        return DownloadResult(
            url=url,
            data=hop.body,
            error=None,
            status=hop.status,
            attempts=attempts,
            content_type=hop.content_type,
            final_url=final_url,
        )


def _failed(url: str, failure: _Failure, attempts: int, reason: str) -> DownloadResult:
    return DownloadResult(
        url=url,
        data=None,
        error=reason,
        status=failure.status,
        attempts=attempts,
        content_type=failure.content_type,
        final_url=failure.url,
    )


def _retry_delay(failure: _Failure, attempts: int, backoff_s: float) -> float:
    if failure.retry_after_s is not None:
        return min(failure.retry_after_s, MAX_RETRY_AFTER_S)
    return min(backoff_s * 2 ** (attempts - 1), MAX_BACKOFF_S)


def _attempt(url: str, config: DownloadConfig) -> tuple[_Hop, str]:
    """One GET following redirects: the final hop and its URL."""
    chain = [url]
    while True:
        current = chain[-1]
        try:
            hop = _get(current, config)
            if hop.location is None:
                return hop, current
            if len(chain) > MAX_REDIRECTS:
                raise _Failure(
                    f"too many redirects (more than {MAX_REDIRECTS})", is_retryable=False, status=hop.status
                )
            try:
                _parse(hop.location)
            except _Failure as failure:
                raise _Failure(
                    f"bad redirect: {failure.reason}", is_retryable=False, status=hop.status
                ) from None
            if hop.location in chain:
                loop = " -> ".join([*chain[chain.index(hop.location) :], hop.location])
                raise _Failure(f"redirect loop: {loop}", is_retryable=False, status=hop.status)
        except _Failure as failure:
            failure.url = current
            raise
        chain.append(hop.location)


def _parse(url: str) -> _Target:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise _Failure(f"invalid URL: {exc}", is_retryable=False) from None
    try:
        port = parts.port
    except ValueError:
        raise _Failure(f"invalid URL: bad port in {parts.netloc!r}", is_retryable=False) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _Failure(f"unsupported URL scheme: {scheme or '(none)'}", is_retryable=False)
    host = parts.hostname
    if not host:
        raise _Failure("invalid URL: no host name", is_retryable=False)
    try:
        if any(ord(char) <= 0x20 or char == "\x7f" for char in host):
            raise UnicodeError
        host.encode("idna")
    except UnicodeError:
        raise _Failure(f"invalid URL: bad host name {host!r}", is_retryable=False) from None
    path = quote(parts.path or "/", safe=_URL_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_URL_SAFE)
    return _Target(scheme, host, port, path)


@cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _get(url: str, config: DownloadConfig) -> _Hop:
    """One HTTP GET without following redirects; a 2xx body is read whole and checked."""
    target = _parse(url)
    deadline = time.monotonic() + config.timeout_s
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = http.client.HTTPSConnection(
            target.host, target.port, timeout=config.timeout_s, context=_tls_context()
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=config.timeout_s)
    status: int | None = None
    content_type: str | None = None
    try:
        connection.connect()
        # http.client drops connection.sock once the response owns the socket: keep our own handle.
        sock = connection.sock
        _arm(sock, deadline)
        connection.request("GET", target.path, headers=_HEADERS)
        _arm(sock, deadline)
        response = connection.getresponse()
        status = response.status
        content_type = _media_type(response.getheader("Content-Type"))
        if status in _REDIRECT_STATUSES:
            location = (response.getheader("Location") or "").strip()
            if not location:
                raise _Failure(f"{_status_text(response)} without a Location header", is_retryable=False)
            return _Hop(status, content_type, None, urljoin(url, location))
        if not 200 <= status < 300:
            retry_after = _retry_after_s(response) if status in _RETRY_AFTER_STATUSES else None
            is_retryable = status in _RETRY_STATUSES or status >= 500
            raise _Failure(_status_text(response), is_retryable=is_retryable, retry_after_s=retry_after)
        if content_type and not (content_type.startswith("image/") or content_type in _BINARY_TYPES):
            raise _Failure(f"not an image: content-type {content_type}", is_retryable=False)
        expected = _content_length(response)
        if expected is not None and expected > config.max_bytes:
            raise _Failure(
                f"too large: {_size(expected)} > {_size(config.max_bytes)} limit", is_retryable=False
            )
        body = _read_body(response, sock, deadline, expected, config.max_bytes)
        return _Hop(status, content_type, body, None)
    except _Failure as failure:
        failure.status, failure.content_type = status, content_type
        raise
    except TimeoutError:
        raise _Failure(
            f"timed out after {config.timeout_s} s",
            is_retryable=True,
            status=status,
            content_type=content_type,
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        reason, is_retryable = _describe(exc, target.host)
        raise _Failure(reason, is_retryable=is_retryable, status=status, content_type=content_type) from None
    finally:
        connection.close()


def _arm(sock: socket.socket | None, deadline: float) -> None:
    """Give the next socket operation only what is left of this request's time."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    if sock is not None:
        sock.settimeout(remaining)


def _read_body(
    response: http.client.HTTPResponse,
    sock: socket.socket | None,
    deadline: float,
    expected: int | None,
    max_bytes: int,
) -> bytes:
    body = bytearray()
    while True:
        _arm(sock, deadline)
        try:
            chunk = response.read1(_CHUNK_BYTES)
        except http.client.IncompleteRead as exc:
            raise _Failure(_truncated(len(body) + len(exc.partial), expected), is_retryable=True) from None
        if not chunk:
            break
        body += chunk
        if len(body) > max_bytes:
            raise _Failure(f"too large: body exceeds the {_size(max_bytes)} limit", is_retryable=False)
    if expected is not None and len(body) < expected:
        raise _Failure(_truncated(len(body), expected), is_retryable=True)
    if not body:
        raise _Failure("empty body", is_retryable=False)
    return bytes(body)


def _truncated(received: int, expected: int | None) -> str:
    if expected is None:
        return f"body truncated: connection closed after {received} bytes"
    return f"body truncated: {received} of {expected} bytes"


def _describe(exc: OSError | http.client.HTTPException, host: str) -> tuple[str, bool]:
    """A failed connection in words, and whether trying again may help."""
    if isinstance(exc, socket.gaierror):
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            return f"unknown host {host}", False
        return f"cannot resolve host {host}: {exc.strerror}", True
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected: {exc.verify_message}", False
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}", True
    if isinstance(exc, http.client.RemoteDisconnected):
        return "server closed the connection without a response", True
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused", True
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server", True
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP response ({type(exc).__name__}: {exc})", True
    return f"connection error: {exc.strerror or exc}", True


def _status_text(response: http.client.HTTPResponse) -> str:
    try:
        phrase = HTTPStatus(response.status).phrase
    except ValueError:
        phrase = (response.reason or "").strip()
    return f"HTTP {response.status} {phrase}".rstrip()


def _media_type(header: str | None) -> str | None:
    media_type = (header or "").split(";", 1)[0].strip().lower()
    return media_type or None


def _content_length(response: http.client.HTTPResponse) -> int | None:
    if response.getheader("Transfer-Encoding", "").strip().lower() == "chunked":
        return None
    try:
        length = int(response.getheader("Content-Length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


def _retry_after_s(response: http.client.HTTPResponse) -> float | None:
    """``Retry-After`` in seconds from now (delta-seconds or HTTP-date form), if usable."""
    value = (response.getheader("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _size(n_bytes: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n_bytes} bytes"
