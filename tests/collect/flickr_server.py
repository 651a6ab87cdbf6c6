"""A local stand-in for Flickr's REST API: ``flickr.photos.search`` in the real JSON shape.

Photos come from published ImageNetV2 search records (:func:`photos_from_records`): a photo
matches a query whose ``text`` is one of the search keys it was published under (exact,
case-insensitive; real Flickr does full-text search). Date bounds follow Flickr's documented
semantics (inclusive; dates, ``YYYY-MM-DD HH:MM:SS`` or, for uploads, unix times), ``license`` is
a comma list of licence ids, ``sort`` supports ``date-posted-*`` and ``date-taken-*``, and only
the requested ``extras`` are returned. Like Flickr, only the first ``result_cap`` results of a
query can be paged to while ``total`` reports the true count.

For failure tests: :meth:`FakeFlickr.inject` queues faults for the next requests, one each;
:meth:`FakeFlickr.break_after` makes every request after the first ``n`` fail until
:meth:`FakeFlickr.repair`. Every request's parameters are in ``requests``; the successful
search pages in ``served``.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_KEY = "test-api-key"
_SIZES = ("o", "k", "h", "b", "c", "z")
_BASE_FIELDS = ("id", "owner", "secret", "server", "farm", "title", "ispublic", "isfriend", "isfamily")


@dataclass(frozen=True)
class Fault:
    """One failed answer: Flickr's ``stat: fail`` with ``code``, an HTTP error ``status``
    (with ``retry_after`` seconds for 429), or a ``delay_s`` before answering (a timeout)."""

    code: int | None = None
    message: str = "Service currently unavailable"
    status: int | None = None
    retry_after: str | None = None
    delay_s: float = 0.0


def stat_fail(code: int = 105, message: str = "Service currently unavailable") -> Fault:
    return Fault(code=code, message=message)


def http_error(status: int = 500, retry_after: str | None = None) -> Fault:
    return Fault(status=status, retry_after=retry_after)


def photos_from_records(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flickr photos (search-result JSON, all extras) from published search records.

    One photo per ``id_search_engine``, matching every search key it was published under. The
    published URL is its largest size; a smaller ``url_z`` is added (when the published one is
    larger) so a source must pick the largest. ``o_width``/``o_height`` are the published width
    and height (strings, as Flickr sends them; absent when the record has none). Licence and
    owner, which the records lack, are made up deterministically from the photo id.
    """
    photos: dict[str, dict[str, Any]] = {}
    for record in records:
        photo_id = str(record["id_search_engine"])
        if photo_id in photos:
            photos[photo_id]["texts"].add(record["search_key"].lower())
            continue
        host, server, name = record["url"].rsplit("/", 2)
        secret = name.split("_")[1]
        size = record["url_type"].removeprefix("url_")
        seed = zlib.crc32(photo_id.encode())
        photo: dict[str, Any] = {
            "id": photo_id,
            "owner": f"{seed % 10**8}@N0{seed % 8}",
            "secret": secret,
            "server": server,
            "farm": int(host.split("//farm")[1].split(".")[0]) if "//farm" in host else 0,
            "title": "",
            "ispublic": 1,
            "isfriend": 0,
            "isfamily": 0,
            "dateupload": str(_unix(record["date_upload_search_engine"])),
            "datetaken": record["date_taken"],
            "datetakengranularity": 0,
            "datetakenunknown": "0",
            "ownername": f"owner {seed % 1000}",
            "license": str(seed % 11),
            "texts": {record["search_key"].lower()},
        }
        width, height = record.get("width"), record.get("height")
        if width is not None and height is not None:
            photo["o_width"], photo["o_height"] = str(width), str(height)
        _add_size(photo, size, record["url"], width, height)
        if _SIZES.index(size) < _SIZES.index("z"):
            _add_size(photo, "z", f"{host}/{server}/{photo_id}_{secret}_z.jpg", 640, 480)
        photos[photo_id] = photo
    return list(photos.values())


class FakeFlickr:
    """``flickr.photos.search`` on 127.0.0.1 (a free port); use as a context manager."""

    def __init__(self, photos: Iterable[dict[str, Any]], *, result_cap: int = 4000, api_key: str = API_KEY):
        self.photos = list(photos)
        self.result_cap = result_cap
        self.api_key = api_key
        self.requests: list[dict[str, str]] = []
        """Parameters of every request, in order (failed ones too)."""
        self.served: list[tuple[str, str, str, int]] = []
        """(text, min_taken_date, max_taken_date, page) of every successful search answer."""
        self._faults: list[Fault] = []
        self._broken: tuple[int, Fault] | None = None
        self._successes = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/services/rest/"

    def __enter__(self) -> FakeFlickr:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def inject(self, *faults: Fault) -> None:
        """The next ``len(faults)`` requests fail, one fault each, in order."""
        with self._lock:
            self._faults.extend(faults)

    def break_after(self, successes: int, fault: Fault | None = None) -> None:
        """After ``successes`` more successful answers, every request fails with ``fault``."""
        with self._lock:
            self._broken = (self._successes + successes, fault or stat_fail())

    def repair(self) -> None:
        with self._lock:
            self._broken = None

    def matching(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every photo a search with these parameters finds, sorted (before the result cap)."""
        text = params.get("text", "").lower()
        found = [p for p in self.photos if text in p["texts"]]
        taken = (_when(params.get("min_taken_date")), _when(params.get("max_taken_date")))
        found = [p for p in found if _inside(_when(p["datetaken"]), taken)]
        uploaded = (_when(params.get("min_upload_date")), _when(params.get("max_upload_date")))
        found = [p for p in found if _inside(int(p["dateupload"]), uploaded)]
        if params.get("license"):
            licenses = set(params["license"].split(","))
            found = [p for p in found if p["license"] in licenses]
        sort = params.get("sort", "date-posted-desc")
        field = "datetaken" if sort.startswith("date-taken") else "dateupload"
        key = (
            (lambda p: (int(p[field]), p["id"])) if field == "dateupload" else (lambda p: (p[field], p["id"]))
        )
        return sorted(found, key=key, reverse=sort.endswith("-desc"))

    def answer(self, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """(HTTP status, headers, body) for one request."""
        with self._lock:
            self.requests.append(dict(params))
            fault = self._faults.pop(0) if self._faults else None
            if fault is None and self._broken is not None and self._successes >= self._broken[0]:
                fault = self._broken[1]
        if fault is not None:
            return self._fail(fault)
        if params.get("api_key") != self.api_key:
            return _json(
                params, {"stat": "fail", "code": 100, "message": "Invalid API Key (Key has invalid format)"}
            )
        if params.get("method") != "flickr.photos.search":
            return _json(
                params, {"stat": "fail", "code": 112, "message": f'Method "{params.get("method")}" not found'}
            )
        found = self.matching(params)
        per_page = min(int(params.get("per_page", 100)), 500)
        page = max(int(params.get("page", 1)), 1)
        reachable = found[: self.result_cap]
        listed = reachable[(page - 1) * per_page : page * per_page]
        extras = set(filter(None, params.get("extras", "").split(",")))
        body = {
            "photos": {
                "page": page,
                "pages": -(-len(found) // per_page),
                "perpage": per_page,
                "total": len(found),
                "photo": [_with_extras(p, extras) for p in listed],
            },
            "stat": "ok",
        }
        with self._lock:
            self._successes += 1
            self.served.append(
                (
                    params.get("text", ""),
                    params.get("min_taken_date", ""),
                    params.get("max_taken_date", ""),
                    page,
                )
            )
        return _json(params, body)

    def _fail(self, fault: Fault) -> tuple[int, dict[str, str], bytes]:
        if fault.delay_s:
            time.sleep(fault.delay_s)
        if fault.status is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return fault.status, headers, b"<html>error</html>"
        return 200, {}, json.dumps({"stat": "fail", "code": fault.code, "message": fault.message}).encode()


def _handler(flickr: FakeFlickr) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            params = dict(parse_qsl(urlsplit(self.path).query))
            status, headers, body = flickr.answer(params)
            try:
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
            pass

    return Handler


def _json(params: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Flickr's JSON: wrapped in ``jsonFlickrApi(...)`` unless ``nojsoncallback=1``."""
    if params.get("format") != "json":
        body = {"stat": "fail", "code": 111, "message": 'Format "rest" not found'}
    text = json.dumps(body)
    if params.get("format") == "json" and params.get("nojsoncallback") != "1":
        text = f"jsonFlickrApi({text})"
    return 200, {}, text.encode()


def _with_extras(photo: dict[str, Any], extras: set[str]) -> dict[str, Any]:
    wanted = set(_BASE_FIELDS)
    if "date_upload" in extras:
        wanted.add("dateupload")
    if "date_taken" in extras:
        wanted |= {"datetaken", "datetakengranularity", "datetakenunknown"}
    if "owner_name" in extras:
        wanted.add("ownername")
    if "license" in extras:
        wanted.add("license")
    if "o_dims" in extras:
        wanted |= {"o_width", "o_height"}
    for size in _SIZES:
        if f"url_{size}" in extras:
            wanted |= {f"url_{size}", f"height_{size}", f"width_{size}"}
    return {k: v for k, v in photo.items() if k in wanted}


def _add_size(photo: dict[str, Any], size: str, url: str, width: Any, height: Any) -> None:
    photo[f"url_{size}"] = url
    if width is not None and height is not None:
        photo[f"height_{size}"], photo[f"width_{size}"] = int(height), int(width)


def _unix(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())


def _when(value: str | None) -> int | None:
    """A Flickr date parameter (unix time, ``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM:SS``) as unix time."""
    if not value:
        return None
    if value.isdigit():
        return int(value)
    text = value if " " in value else f"{value} 00:00:00"
    return _unix(text)


def _inside(moment: int | None, bounds: tuple[int | None, int | None]) -> bool:
    low, high = bounds
    if moment is None:
        return low is None and high is None
    return (low is None or moment >= low) and (high is None or moment <= high)
