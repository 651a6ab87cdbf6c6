"""Candidates from Flickr's ``flickr.photos.search``, the ImageNetV2 way, resumable.

Per class (wnid): one query per synonym (``ClassInfo.names``, or a hand-made list), the class
budget ``images_per_class`` split evenly over them (``int(budget / len(names))``, as ImageNetV2),
over the taken/uploaded date windows of ``[flickr]`` in ``heldout.toml``, sorted, filtered by
licence. Each photo's largest URL (``url_o`` … ``url_z``) is kept; photos with none are skipped
(they still count towards the budget, as ImageNetV2's ``islice`` over the walk does). The
candidate id is ImageNetV2's ``sha1(photo id + "flickr")``; a photo found again for another class
gets ``sha1(photo id + ",flickr," + wnid)``.

Resumable: every query is a ``search_query`` row whose cursor (``next_page``, ``found``,
``total``) is saved after each page the consumer took, so an interrupted run continues at the
first page it had not finished (a page that was handed out but not acknowledged is asked again;
its photos are already known, so nothing is added twice).

Window splitting: Flickr returns at most ``result_cap`` (4,000) results of one query. When a
query reports more and the budget needs more than the cap, the query is marked ``split`` and
replaced by two over the halves of its *taken-date* window (the uploaded window stays as
configured), recursively, until each part is under the cap or one day long. Flickr's date bounds
are inclusive, so two halves share their boundary instant (midnight of the middle day); a photo
taken exactly then is found twice and kept once.

Record dates: ``date_upload_search_engine`` is Flickr's unix ``dateupload`` in UTC,
``date_upload_our_db`` the UTC time the record was made. A query's budget is fixed when its row
is first made: changing ``images_per_class`` later does not reopen finished queries (a changed
taken-date window does start new ones).

The API key comes from ``HELDOUT_FLICKR_KEY`` (never from a file, never recorded);
``flickr.photos.search`` is an unsigned call, so the secret is not needed.

    >>> from heldout.collect import collect
    >>> from heldout.collect.flickr import FlickrSource
    >>> collect(project, FlickrSource(project.config.flickr), classes=["n03843555"])  # doctest: +SKIP
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError

from sqlalchemy import select

from heldout.atomic import write_atomic
from heldout.catalog import SearchQuery
from heldout.classes import ClassInfo
from heldout.collect.records import CandidateRecord, flickr_id
from heldout.config import FlickrConfig
from heldout.errors import RateLimitedError, SourceError
from heldout.project import Project, utcnow

__all__ = [
    "API_KEY_VARIABLE",
    "URL_TYPES",
    "FlickrSource",
    "read_search_results",
    "wordnet_parent_term",
    "write_search_results",
]

log = logging.getLogger(__name__)

API_KEY_VARIABLE = "HELDOUT_FLICKR_KEY"
URL_TYPES = ("url_o", "url_k", "url_h", "url_b", "url_c", "url_z")
"""Flickr image sizes, largest first: a candidate gets the first one the photo has."""
_EXTRAS = "date_upload,date_taken,o_dims," + ",".join(URL_TYPES) + ",license,owner_name"
_TRANSIENT_CODES = frozenset({0, 10, 105})
"""Flickr ``stat: fail`` codes worth retrying: 0 and 105 "service currently unavailable", 10 "search API not available"."""
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_JSON_INDENT = 2  # the published files are json.dumps(records, indent=2), no final newline


@dataclass(frozen=True)
class _Query:
    """A snapshot of one ``search_query`` row."""

    query_id: int
    search_key: str
    min_date: str
    max_date: str
    budget: int
    next_page: int
    found: int
    total: int | None
    status: str
    parent_id: int | None


class FlickrSource:
    """Flickr photo search as a candidate source (``kind = "flickr"``, ``uri`` = the REST endpoint).

    ``config`` is the project's ``[flickr]`` section (``project.config.flickr``). Options:
    ``search_terms`` replaces the synonyms of listed class keys (ImageNetV2's hand-selected
    synsets, e.g. ``{"n03843555": ["oil-filter", "oilfilter"]}``); ``parent_term`` finds the term
    appended when ``config.use_parent_term`` is set (default: :func:`wordnet_parent_term`);
    ``environ`` is where the API key is read (default ``os.environ``); ``clock``/``sleep`` drive
    the client-side rate limit and the retry back-off (inject both in tests); ``backoff_s`` is the
    first retry's wait, doubled each retry; ``timeout_s`` is per HTTP request; ``uploader`` is the
    local user name written in the records (default ``getpass.getuser()``).
    """

    kind = "flickr"

    def __init__(
        self,
        config: FlickrConfig | None = None,
        *,
        search_terms: Mapping[str, Sequence[str]] | None = None,
        parent_term: Callable[[ClassInfo], str | None] | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        backoff_s: float = 1.0,
        timeout_s: float = 30.0,
        uploader: str | None = None,
    ):
        self.config = config or FlickrConfig()
        self.uri = self.config.endpoint
        environ = os.environ if environ is None else environ
        self._api_key = environ.get(API_KEY_VARIABLE, "").strip()
        if not self._api_key:
            raise SourceError(
                f"no Flickr API key: {API_KEY_VARIABLE} is not set",
                where=self.uri,
                fix=f"set {API_KEY_VARIABLE} to your key (https://www.flickr.com/services/apps/create/); keys never go in heldout.toml",
            )
        self.search_terms = {key: tuple(terms) for key, terms in (search_terms or {}).items()}
        self._parent_term = parent_term
        if self.config.use_parent_term and parent_term is None:
            self._parent_term = wordnet_parent_term if _has_wordnet() else None
        self._clock = clock
        self._sleep = sleep
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.uploader = uploader or _local_user()
        self._last_request: float | None = None

    def __repr__(self) -> str:
        return f"FlickrSource({self.uri!r})"

    def parameters(self) -> dict[str, Any]:
        """The search settings (JSON-ready, without the key), recorded with the source and the run."""
        c = self.config
        return {
            "endpoint": c.endpoint,
            "min_taken_date": c.min_taken_date.isoformat(),
            "max_taken_date": c.max_taken_date.isoformat(),
            "min_uploaded_date": c.min_uploaded_date.isoformat(),
            "max_uploaded_date": c.max_uploaded_date.isoformat(),
            "sort": c.sort,
            "images_per_class": c.images_per_class,
            "licenses": list(c.licenses),
            "use_parent_term": c.use_parent_term,
            "result_cap": c.result_cap,
            "per_page": c.per_page,
            "search_terms": {key: list(terms) for key, terms in sorted(self.search_terms.items())},
        }

    def search_keys(self, info: ClassInfo) -> list[str]:
        """The query texts of one class: its synonyms (or hand-made terms), each with the parent term if configured."""
        terms = list(dict.fromkeys(self.search_terms.get(info.id) or info.names))
        if self.config.use_parent_term and self._parent_term is not None:
            parent = self._parent_term(info)
            if parent:
                terms = list(dict.fromkeys(f"{term} {parent}" for term in terms))
            else:
                log.warning("flickr: no parent term for %s; searching its synonyms alone", info.id)
        return terms

    def search(
        self, project: Project, source_id: int, class_keys: list[str]
    ) -> Iterator[list[CandidateRecord]]:
        """Yield one batch per result page; the cursor is saved when the next batch is asked for."""
        for class_key in class_keys:
            keys = self.search_keys(project.classes[class_key])
            if not keys:
                continue
            budget = int(self.config.images_per_class / len(keys))
            if budget == 0:
                log.warning(
                    "flickr: %s has %d search keys for a budget of %d images: nothing to search",
                    class_key,
                    len(keys),
                    self.config.images_per_class,
                )
                continue
            for search_key in keys:
                yield from self._search_key(project, source_id, class_key, search_key, budget)

    # -- one (class, search key): a tree of date-window queries ------------------------------------

    def _search_key(
        self, project: Project, source_id: int, class_key: str, search_key: str, budget: int
    ) -> Iterator[list[CandidateRecord]]:
        root_id = self._root(project, source_id, class_key, search_key, budget)
        while True:
            queries = self._tree(project, source_id, class_key, search_key, root_id)
            found = sum(q.found for q in queries)
            pending = [q for q in queries if q.status == "pending"]
            if not pending:
                return
            if found >= queries[0].budget:
                self._finish(project, [q.query_id for q in pending])
                return
            yield from self._run(project, class_key, pending[0], queries[0].budget - found)

    def _root(self, project: Project, source_id: int, class_key: str, search_key: str, budget: int) -> int:
        window = (self.config.min_taken_date.isoformat(), self.config.max_taken_date.isoformat())
        with project.transaction() as session:
            row = session.scalar(
                select(SearchQuery).where(
                    SearchQuery.source_id == source_id,
                    SearchQuery.class_key == class_key,
                    SearchQuery.search_key == search_key,
                    SearchQuery.min_date == window[0],
                    SearchQuery.max_date == window[1],
                )
            )
            if row is None:
                row = _new_query(source_id, class_key, search_key, window, budget, parent_id=None)
                session.add(row)
                session.flush()
            return row.search_query_id

    def _tree(
        self, project: Project, source_id: int, class_key: str, search_key: str, root_id: int
    ) -> list[_Query]:
        """The root query and its descendants, depth first, earlier window first."""
        with project.transaction() as session:
            rows = session.scalars(
                select(SearchQuery).where(
                    SearchQuery.source_id == source_id,
                    SearchQuery.class_key == class_key,
                    SearchQuery.search_key == search_key,
                )
            ).all()
            queries = [_snapshot(row) for row in rows]
        children: dict[int | None, list[_Query]] = {}
        for query in queries:
            children.setdefault(query.parent_id, []).append(query)
        ordered: list[_Query] = []
        stack = [next(q for q in queries if q.query_id == root_id)]
        while stack:
            query = stack.pop()
            ordered.append(query)
            stack.extend(sorted(children.get(query.query_id, []), key=lambda q: q.min_date, reverse=True))
        return ordered

    def _run(
        self, project: Project, class_key: str, query: _Query, remaining: int
    ) -> Iterator[list[CandidateRecord]]:
        """Page through one query from its cursor, taking at most ``remaining`` photos."""
        cap = self.config.result_cap
        per_page = min(self.config.per_page, query.budget)
        page, taken = query.next_page, 0
        while True:
            photos = self._call(self._params(query, page, per_page))["photos"]
            total, pages = _int_or_none(photos.get("total")) or 0, _int_or_none(photos.get("pages")) or 0
            if page == 1 and total > cap and remaining > cap:
                if _days(query.min_date, query.max_date) > 1:
                    self._split(project, query, total)
                    return
                log.warning(
                    "flickr: %r taken %s..%s has %d results; only the first %d are reachable",
                    query.search_key,
                    query.min_date,
                    query.max_date,
                    total,
                    cap,
                )
            listed = [p for p in photos.get("photo") or [] if isinstance(p, dict)]
            took = listed[: remaining - taken]
            taken += len(took)
            is_last = not listed or page >= pages or page * per_page >= cap or taken >= remaining
            records = [r for r in (self._record(p, class_key, query) for p in took) if r is not None]
            if records:
                yield records
            self._save(project, query.query_id, page + 1, query.found + taken, total, is_last)
            if is_last:
                return
            page += 1

    def _params(self, query: _Query, page: int, per_page: int) -> dict[str, str]:
        c = self.config
        return {
            "method": "flickr.photos.search",
            "api_key": self._api_key,
            "text": query.search_key,
            "min_taken_date": query.min_date,
            "max_taken_date": query.max_date,
            "min_upload_date": c.min_uploaded_date.isoformat(),
            "max_upload_date": c.max_uploaded_date.isoformat(),
            "sort": c.sort,
            "license": ",".join(str(n) for n in c.licenses),
            "extras": _EXTRAS,
            "per_page": str(per_page),
            "page": str(page),
            "format": "json",
            "nojsoncallback": "1",
        }

    def _record(self, photo: Mapping[str, Any], class_key: str, query: _Query) -> CandidateRecord | None:
        url_type = next((t for t in URL_TYPES if photo.get(t)), None)
        if url_type is None or not photo.get("id"):
            return None
        photo_id = str(photo["id"])
        url = str(photo[url_type])
        uploaded = photo.get("dateupload")
        date_upload = (
            datetime.fromtimestamp(int(uploaded), UTC).strftime(_TIME_FORMAT)
            if uploaded not in (None, "")
            else None
        )
        date_taken = photo.get("datetaken") or None
        width, height = _int_or_none(photo.get("o_width")), _int_or_none(photo.get("o_height"))
        c = self.config
        record = {
            "id_ours": flickr_id(photo_id),
            "id_search_engine": photo_id,
            "url": url,
            "url_type": url_type,
            "wnid": class_key,
            "search_key": query.search_key,
            "search_engine": "flickr",
            "uploader": self.uploader,
            "date_upload_our_db": utcnow().strftime(_TIME_FORMAT),
            "date_taken": date_taken,
            "date_upload_search_engine": date_upload,
            "width": width,
            "height": height,
            "max_taken_date": query.max_date,
            "max_uploaded_date": c.max_uploaded_date.isoformat(),
            "min_taken_date": query.min_date,
            "min_uploaded_date": c.min_uploaded_date.isoformat(),
            "search_sort": c.sort,
            "max_images": c.images_per_class,
        }
        license_id = photo.get("license")
        return CandidateRecord(
            image_id=record["id_ours"],
            class_key=class_key,
            location=url,
            search_key=query.search_key,
            id_search_engine=photo_id,
            url=url,
            url_type=url_type,
            license=None if license_id in (None, "") else str(license_id),
            owner=photo.get("ownername") or photo.get("owner") or None,
            date_taken=date_taken,
            date_upload_search_engine=date_upload,
            width=width,
            height=height,
            record=record,
            alternate_id=flickr_id(photo_id, class_key),
            search_query_id=query.query_id,
        )

    # -- catalog writes ----------------------------------------------------------------------------

    def _save(
        self, project: Project, query_id: int, next_page: int, found: int, total: int, is_last: bool
    ) -> None:
        with project.transaction() as session:
            row = session.get(SearchQuery, query_id)
            row.next_page, row.found, row.total = next_page, found, total
            row.status = "done" if is_last else "pending"
            row.updated_at = utcnow()

    def _split(self, project: Project, query: _Query, total: int) -> None:
        first, second = _halves(query.min_date, query.max_date)
        log.info(
            "flickr: %r taken %s..%s has %d results (> %d): split at %s",
            query.search_key,
            query.min_date,
            query.max_date,
            total,
            self.config.result_cap,
            first[1],
        )
        with project.transaction() as session:
            row = session.get(SearchQuery, query.query_id)
            row.status, row.total, row.updated_at = "split", total, utcnow()
            for window in (first, second):
                existing = session.scalar(
                    select(SearchQuery).where(
                        SearchQuery.source_id == row.source_id,
                        SearchQuery.class_key == row.class_key,
                        SearchQuery.search_key == row.search_key,
                        SearchQuery.min_date == window[0],
                        SearchQuery.max_date == window[1],
                    )
                )
                if existing is None:
                    session.add(
                        _new_query(
                            row.source_id,
                            row.class_key,
                            row.search_key,
                            window,
                            row.budget,
                            parent_id=row.search_query_id,
                        )
                    )
                else:
                    existing.parent_id = row.search_query_id

    def _finish(self, project: Project, query_ids: list[int]) -> None:
        """Budget reached: the queries left over have nothing more to do."""
        with project.transaction() as session:
            for query_id in query_ids:
                row = session.get(SearchQuery, query_id)
                row.status, row.updated_at = "done", utcnow()

    # -- HTTP: rate limit, retries -----------------------------------------------------------------

    def _call(self, params: Mapping[str, str]) -> dict[str, Any]:
        """One REST call, retried with exponential back-off on transient failures and on 429."""
        url = f"{self.uri}?{urllib.parse.urlencode(params)}"
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            self._throttle()
            wait = self.backoff_s * 2**attempt
            rate_limited = False
            try:
                with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                    body = response.read()
            except HTTPError as exc:
                exc.close()  # the error body is not needed
                if exc.code == 429:
                    rate_limited = True
                    wait = _retry_after(exc.headers.get("Retry-After"), default=wait)
                    problem = "HTTP 429 Too Many Requests"
                elif 500 <= exc.code < 600:
                    problem = f"HTTP {exc.code} {exc.reason}"
                else:
                    raise SourceError(
                        f"flickr.photos.search answered HTTP {exc.code} {exc.reason}",
                        where=self.uri,
                        fix="check [flickr] endpoint in heldout.toml",
                    ) from exc
            except (URLError, TimeoutError, ConnectionError, HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                problem = f"no answer ({type(reason).__name__}: {reason})"
            else:
                data, problem = self._parse(body)
                if data is not None:
                    return data
            if attempt + 1 == attempts:
                break
            log.warning("flickr: %s; retry %d/%d in %.1f s", problem, attempt + 1, attempts - 1, wait)
            self._sleep(wait)
        if rate_limited:
            raise RateLimitedError(
                f"Flickr kept refusing requests for going too fast ({attempts} attempts)",
                where=self.uri,
                fix="lower [flickr] requests_per_second in heldout.toml, wait, and run collect again (it resumes)",
            )
        raise SourceError(
            f"flickr.photos.search failed {attempts} times, last: {problem}",
            where=self.uri,
            fix="Flickr may be down: run collect again later (it resumes where it stopped)",
        )

    def _parse(self, body: bytes) -> tuple[dict[str, Any] | None, str]:
        """The answer, or (None, why) for a transient failure; a permanent Flickr error raises."""
        try:
            data = json.loads(body)
        except ValueError:
            return None, "an answer that is not JSON"
        if not isinstance(data, dict):
            return None, "an answer that is not a JSON object"
        if data.get("stat") == "ok":
            return (data, "") if isinstance(data.get("photos"), dict) else (None, "an answer without photos")
        code = data.get("code")
        message = f"Flickr error {code}: {data.get('message', 'no message')}"
        if data.get("stat") == "fail" and _int_or_none(code) not in _TRANSIENT_CODES:
            fix = (
                f"check {API_KEY_VARIABLE}"
                if _int_or_none(code) == 100
                else "check the [flickr] settings in heldout.toml"
            )
            raise SourceError(message, where=self.uri, fix=fix)
        return None, message

    def _throttle(self) -> None:
        """Client-side rate limit: at most ``requests_per_second`` request starts per second."""
        interval = 1.0 / self.config.requests_per_second
        if self._last_request is not None:
            wait = self._last_request + interval - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_request = self._clock()


# -- published search-results files ----------------------------------------------------------------


def read_search_results(path: str | Path) -> list[CandidateRecord]:
    """Read a published ImageNetV2 search-results JSON (a list of records) as candidate records.

    Every record keeps all of its fields, in order, in ``CandidateRecord.record``, so
    :func:`write_search_results` writes the same file back.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SourceError("search results not found", where=path, fix="check the path") from exc
    except (OSError, ValueError) as exc:
        raise SourceError(f"not a readable JSON file: {exc}", where=path) from exc
    if not isinstance(data, list):
        raise SourceError("search results are a JSON list of records", where=path)
    records = []
    for number, entry in enumerate(data):
        missing = [k for k in ("id_ours", "wnid", "url") if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise SourceError(
                f"record {number} lacks {missing}", where=path, fix="give every record id_ours, wnid and url"
            )
        records.append(_from_published(entry))
    return records


def write_search_results(records: Iterable[CandidateRecord], path: str | Path) -> Path:
    """Write records as a published-format search-results JSON (``indent=2``, like ImageNetV2's)."""
    rows = [record.record or _to_published(record) for record in records]
    return write_atomic(path, json.dumps(rows, indent=_JSON_INDENT))


def _from_published(entry: dict[str, Any]) -> CandidateRecord:
    photo_id = entry.get("id_search_engine")
    photo_id = None if photo_id is None else str(photo_id)
    is_primary = photo_id is not None and entry["id_ours"] == flickr_id(photo_id)
    return CandidateRecord(
        image_id=entry["id_ours"],
        class_key=entry["wnid"],
        location=entry["url"],
        search_key=entry.get("search_key"),
        id_search_engine=photo_id,
        url=entry["url"],
        url_type=entry.get("url_type"),
        license=entry.get("license"),
        owner=entry.get("owner"),
        date_taken=entry.get("date_taken"),
        date_upload_search_engine=entry.get("date_upload_search_engine"),
        width=_int_or_none(entry.get("width")),
        height=_int_or_none(entry.get("height")),
        record=dict(entry),
        alternate_id=flickr_id(photo_id, entry["wnid"]) if is_primary else None,
    )


def _to_published(record: CandidateRecord) -> dict[str, Any]:
    """A record without its original dict: the published keys we know, from the fields."""
    return {
        "id_ours": record.image_id,
        "id_search_engine": record.id_search_engine,
        "url": record.url or record.location,
        "url_type": record.url_type,
        "wnid": record.class_key,
        "search_key": record.search_key,
        "search_engine": "flickr" if record.id_search_engine else None,
        "date_taken": record.date_taken,
        "date_upload_search_engine": record.date_upload_search_engine,
        "width": record.width,
        "height": record.height,
    }


# -- parent terms ---------------------------------------------------------------------------------


def wordnet_parent_term(info: ClassInfo) -> str | None:
    """ImageNetV2's parent term: the first word of a hypernym's lemma names that also occurs in
    the class's WordNet gloss ("English foxhound" → "dog"); None when there is none.

    Needs NLTK with its WordNet corpus (optional, not a dependency of heldout: without it the
    source logs once that it searches synonyms alone) and a wnid class key.
    """
    from nltk.corpus import wordnet  # optional dependency, checked by _has_wordnet()

    try:
        synset = wordnet.synset_from_pos_and_offset("n", int(info.id[1:]))
    except (LookupError, ValueError) as exc:
        log.warning("flickr: %s is not a WordNet noun (%s): no parent term", info.id, exc)
        return None
    gloss = set(re.findall(r"[a-z]+", synset.definition().lower()))
    for hypernym in synset.hypernyms():
        for lemma in hypernym.lemma_names():
            for word in lemma.lower().split("_"):
                if word in gloss:
                    return word
    return None


def _has_wordnet() -> bool:
    """Whether NLTK's WordNet corpus can be used; says so in the log when it cannot."""
    try:
        from nltk.corpus import wordnet  # optional dependency

        wordnet.ensure_loaded()
    except (ImportError, LookupError, OSError) as exc:
        log.warning(
            "flickr: use_parent_term is set, but NLTK's WordNet is not available (%s: %s); "
            "searching synonyms without parent terms (pip install nltk; python -m nltk.downloader wordnet)",
            type(exc).__name__,
            exc,
        )
        return False
    return True


# -- small pieces ---------------------------------------------------------------------------------


def _new_query(
    source_id: int,
    class_key: str,
    search_key: str,
    window: tuple[str, str],
    budget: int,
    *,
    parent_id: int | None,
) -> SearchQuery:
    return SearchQuery(
        source_id=source_id,
        class_key=class_key,
        search_key=search_key,
        min_date=window[0],
        max_date=window[1],
        budget=budget,
        next_page=1,
        found=0,
        total=None,
        status="pending",
        parent_id=parent_id,
        updated_at=utcnow(),
    )


def _snapshot(row: SearchQuery) -> _Query:
    return _Query(
        query_id=row.search_query_id,
        search_key=row.search_key,
        min_date=row.min_date,
        max_date=row.max_date,
        budget=row.budget,
        next_page=row.next_page,
        found=row.found,
        total=row.total,
        status=row.status,
        parent_id=row.parent_id,
    )


def _days(min_date: str, max_date: str) -> int:
    return (date.fromisoformat(max_date) - date.fromisoformat(min_date)).days


def _halves(min_date: str, max_date: str) -> tuple[tuple[str, str], tuple[str, str]]:
    start = date.fromisoformat(min_date)
    middle = (start + timedelta(days=_days(min_date, max_date) // 2)).isoformat()
    return (min_date, middle), (middle, max_date)


def _retry_after(value: str | None, *, default: float) -> float:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return default
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
