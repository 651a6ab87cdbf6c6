"""FlickrSource against a local fake of Flickr's REST API built from 163 published ImageNetV2 records.

The project's ``[flickr]`` section (saved to its heldout.toml) points the source at the fake
server. The published records were searched with taken and uploaded windows 2012-07-11 …
2014-07-11, yet 21 of them were uploaded later (up to 2017-12-24); the fake applies both windows
strictly as Flickr documents them, so these tests widen the uploaded window to the search date.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from flickr_server import API_KEY, FakeFlickr, Fault, http_error, photos_from_records, stat_fail
from sqlalchemy import func, select

from heldout.catalog import Candidate, Image, SearchQuery
from heldout.catalog import Source as SourceRow
from heldout.collect import add_candidates, collect, flickr_id
from heldout.collect.candidates import source_row
from heldout.collect.flickr import (
    API_KEY_VARIABLE,
    FlickrSource,
    read_search_results,
    write_search_results,
)
from heldout.config import CONFIG_FILE, FlickrConfig
from heldout.errors import RateLimitedError, SourceError
from heldout.project import Project

WNID = "n03843555"  # oil filter
OTHER_WNID = "n04332243"  # strainer
TERMS = {WNID: ["oil-filter", "oilfilter"]}  # the published search keys (hand-made variants)
SETTINGS = {
    "min_taken_date": "2012-07-11",
    "max_taken_date": "2014-07-11",
    "min_uploaded_date": "2012-07-11",
    "max_uploaded_date": "2018-10-24",
    "images_per_class": 200,
    "per_page": 25,
    "requests_per_second": 10.0,
    "max_retries": 5,
}


class FakeTime:
    """A clock that moves only when slept on; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    @property
    def backoffs(self) -> list[float]:
        """Sleeps longer than the rate limit's 0.1 s spacing."""
        return [s for s in self.sleeps if s >= 1]


@pytest.fixture(scope="module")
def published_path(shared_data: Path) -> Path:
    return shared_data / "imagenetv2" / "search_results" / "flickr_2018-10-24.json"


@pytest.fixture(scope="module")
def published(published_path: Path) -> list[dict]:
    return json.loads(published_path.read_text())


@pytest.fixture()
def server(published):
    with FakeFlickr(photos_from_records(published)) as fake:
        yield fake


@pytest.fixture()
def capped_server(published):
    with FakeFlickr(photos_from_records(published), result_cap=50) as fake:
        yield fake


@pytest.fixture()
def fake_time() -> FakeTime:
    return FakeTime()


def make_project(root: Path, server: FakeFlickr, **settings) -> Project:
    """A new project whose heldout.toml [flickr] section points at ``server``."""
    project = Project.create(root)
    flickr = {**project.config.flickr.model_dump(), **SETTINGS, "endpoint": server.endpoint, **settings}
    config = project.config.model_copy(update={"flickr": FlickrConfig.model_validate(flickr)})
    config.save(project.root / CONFIG_FILE)
    project.close()
    return Project.open(root)


def make_source(project: Project, fake_time: FakeTime, **options) -> FlickrSource:
    options = {"search_terms": TERMS, "uploader": "becca", **options}
    return FlickrSource(
        project.config.flickr,
        environ={API_KEY_VARIABLE: API_KEY},
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        **options,
    )


def candidate_records(project: Project) -> dict[str, dict]:
    with project.transaction() as session:
        return dict(session.execute(select(Candidate.image_id, Candidate.record)).all())


def queries(project: Project) -> list[SearchQuery]:
    with project.transaction() as session:
        return list(session.scalars(select(SearchQuery).order_by(SearchQuery.search_query_id)))


def search_all(project: Project, source: FlickrSource, class_keys: list[str]) -> list:
    """Run the source without collect; returns every record it yields."""
    with project.transaction() as session:
        source_id = source_row(session, source.kind, source.uri, source.parameters())
    return [record for batch in source.search(project, source_id, class_keys) for record in batch]


# -- finding ------------------------------------------------------------------------------------


def test_collect_finds_every_published_photo_once_with_its_published_id(
    tmp_path, server, published, fake_time
):
    project = make_project(tmp_path / "p", server)
    report = collect(project, make_source(project, fake_time), classes=[WNID])
    # 163 records, 155 photos: 8 were found under both search keys, as published
    assert (report.added, report.known) == (155, 8)
    assert set(candidate_records(project)) == {r["id_ours"] for r in published}


def test_found_records_match_the_published_records(tmp_path, server, published, fake_time):
    project = make_project(tmp_path / "p", server)
    collect(project, make_source(project, fake_time), classes=[WNID])
    expected = {(r["id_search_engine"], r["search_key"]): r for r in published}
    # width/height: published as int, str (Flickr's o_width) or None, and the downloader later
    # overwrote some, so two records of one photo can disagree; the fake serves the first's
    served = {}
    for r in published:
        served.setdefault(r["id_search_engine"], r)
    skipped = {"date_upload_our_db", "max_uploaded_date", "batch", "width", "height"}
    for record in candidate_records(project).values():
        want = expected[record["id_search_engine"], record["search_key"]]
        assert list(record) == [k for k in want if k != "batch"]
        assert {k: v for k, v in record.items() if k not in skipped} == {
            k: v for k, v in want.items() if k not in skipped
        }
        first = served[record["id_search_engine"]]
        for key in ("width", "height"):
            assert record[key] == (None if first[key] is None else int(first[key]))


def test_largest_url_is_chosen_when_smaller_sizes_exist(tmp_path, server, published, fake_time):
    project = make_project(tmp_path / "p", server)
    collect(project, make_source(project, fake_time), classes=[WNID])
    with project.transaction() as session:
        chosen = dict(session.execute(select(Candidate.id_search_engine, Candidate.url_type)).all())
    assert chosen == {r["id_search_engine"]: r["url_type"] for r in published}
    assert any(p.get("url_z") for p in server.photos if "url_o" in p)  # smaller sizes were offered


def test_photo_without_any_url_is_skipped(tmp_path, server, fake_time):
    bare = {"id": "1", "owner": "1@N00", "secret": "s", "server": "1", "farm": 1, "title": "", "ispublic": 1}
    server.photos.append(
        {
            **bare,
            "dateupload": "1350000000",
            "datetaken": "2012-10-12 00:00:00",
            "license": "4",
            "texts": {"oilfilter"},
        }
    )
    project = make_project(tmp_path / "p", server)
    records = search_all(project, make_source(project, fake_time), [WNID])
    assert "1" not in {r.id_search_engine for r in records}
    assert len(records) == 163


def test_requests_carry_key_license_dates_extras_and_paging(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server, licenses=[1, 2, 9])
    collect(project, make_source(project, fake_time), classes=[WNID])
    first = server.requests[0]
    assert first["method"] == "flickr.photos.search"
    assert first["api_key"] == API_KEY
    assert first["text"] == "oil-filter"
    assert first["license"] == "1,2,9"
    assert (first["min_taken_date"], first["max_taken_date"]) == ("2012-07-11", "2014-07-11")
    assert (first["min_upload_date"], first["max_upload_date"]) == ("2012-07-11", "2018-10-24")
    assert first["sort"] == "date-posted-asc"
    assert set(first["extras"].split(",")) >= {
        "date_upload", "date_taken", "o_dims", "url_o", "url_k", "url_h", "url_b", "url_c", "url_z", "license", "owner_name",
    }  # fmt: skip
    assert (first["format"], first["nojsoncallback"]) == ("json", "1")
    assert {r["per_page"] for r in server.requests} == {"25"}


def test_pages_are_requested_in_order_until_the_budget_is_reached(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server)
    collect(project, make_source(project, fake_time), classes=[WNID])
    pages = [(r["text"], r["page"]) for r in server.requests]
    assert pages == [("oil-filter", str(n)) for n in range(1, 5)] + [
        ("oilfilter", str(n)) for n in range(1, 4)
    ]
    assert [(q.search_key, q.next_page, q.found, q.total) for q in queries(project)] == [
        ("oil-filter", 5, 100, 100),
        ("oilfilter", 4, 63, 63),
    ]


def test_license_filter_limits_results(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server, licenses=[4])
    records = search_all(project, make_source(project, fake_time), [WNID])
    assert records
    assert {r.license for r in records} == {"4"}
    assert len(records) == sum(1 for p in server.photos if p["license"] == "4" for _ in p["texts"])


def test_records_carry_license_and_owner(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server)
    records = search_all(project, make_source(project, fake_time), [WNID])
    by_id = {p["id"]: p for p in server.photos}
    assert all(r.license == by_id[r.id_search_engine]["license"] for r in records)
    assert all(r.owner == by_id[r.id_search_engine]["ownername"] for r in records)
    assert all(r.location == r.url for r in records)


def test_budget_is_split_evenly_over_synonyms(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server, images_per_class=11)
    terms = {WNID: ["oil-filter", "oilfilter", "oil filter"]}
    records = search_all(project, make_source(project, fake_time, search_terms=terms), [WNID])
    assert {q.search_key: q.budget for q in queries(project)} == dict.fromkeys(terms[WNID], 3)  # int(11 / 3)
    found = Counter(r.search_key for r in records)
    assert found == {"oil-filter": 3, "oilfilter": 3}  # "oil filter" finds nothing here
    for key in ("oil-filter", "oilfilter"):  # the first three in date-posted-asc order
        first = server.matching({**server.requests[0], "text": key})[:3]
        assert [r.id_search_engine for r in records if r.search_key == key] == [p["id"] for p in first]


def test_class_synonyms_are_the_default_search_keys(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server)
    collect(project, make_source(project, fake_time, search_terms=None), classes=[WNID])
    assert {r["text"] for r in server.requests} == {"oil filter"}  # ImageNet's lemma for n03843555


def test_parent_term_is_appended_to_each_search_key(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server, use_parent_term=True)
    source = make_source(project, fake_time, parent_term=lambda info: "engine")
    collect(project, source, classes=[WNID])
    assert {r["text"] for r in server.requests} == {"oil-filter engine", "oilfilter engine"}


def test_parent_term_without_wordnet_is_skipped_with_a_log_message(tmp_path, server, fake_time, caplog):
    if importlib.util.find_spec("nltk") is not None:
        pytest.skip("NLTK is installed: WordNet may be available")
    project = make_project(tmp_path / "p", server, use_parent_term=True)
    with caplog.at_level(logging.WARNING, logger="heldout.collect.flickr"):
        source = make_source(project, fake_time)
    assert "WordNet is not available" in caplog.text
    collect(project, source, classes=[WNID])
    assert {r["text"] for r in server.requests} == {"oil-filter", "oilfilter"}


# -- window splitting ------------------------------------------------------------------------------


def test_query_over_the_result_cap_is_split_into_halves_of_its_window(
    tmp_path, capped_server, published, fake_time
):
    project = make_project(tmp_path / "p", capped_server, result_cap=50)
    report = collect(project, make_source(project, fake_time), classes=[WNID])
    rows = queries(project)
    split = [q for q in rows if q.status == "split"]
    assert split, "no query was split"
    by_id = {q.search_query_id: q for q in rows}
    for parent in split:
        children = sorted(
            (q for q in rows if q.parent_id == parent.search_query_id), key=lambda q: q.min_date
        )
        assert [(c.min_date, c.max_date) for c in children] == [
            (parent.min_date, children[0].max_date),
            (children[0].max_date, parent.max_date),
        ]
        assert parent.total > 50
    assert all(q.status == "done" and (q.total or 0) <= 50 for q in rows if q.status != "split")
    assert all(by_id[q.parent_id].status == "split" for q in rows if q.parent_id)
    assert (report.added, report.known) == (155, 8)  # nothing lost, nothing found twice
    assert set(candidate_records(project)) == {r["id_ours"] for r in published}


def test_query_under_the_budget_is_not_split(tmp_path, capped_server, fake_time):
    project = make_project(tmp_path / "p", capped_server, result_cap=50, images_per_class=80)
    records = search_all(project, make_source(project, fake_time), [WNID])
    assert all(q.status == "done" and q.parent_id is None for q in queries(project))
    assert Counter(r.search_key for r in records) == {"oil-filter": 40, "oilfilter": 40}


# -- resuming ---------------------------------------------------------------------------------------


def test_interrupted_search_resumes_without_refetching_finished_pages(tmp_path, server, published, fake_time):
    project = make_project(tmp_path / "p", server)
    server.break_after(2)
    with pytest.raises(SourceError):
        collect(project, make_source(project, fake_time), classes=[WNID])
    assert server.served == [
        ("oil-filter", "2012-07-11", "2014-07-11", 1),
        ("oil-filter", "2012-07-11", "2014-07-11", 2),
    ]
    assert queries(project)[0].next_page == 3
    server.repair()
    report = collect(project, make_source(project, fake_time), classes=[WNID])
    assert server.served[2] == ("oil-filter", "2012-07-11", "2014-07-11", 3)
    assert len(set(server.served)) == len(server.served)
    assert (report.added, report.known) == (155 - 50, 8)
    assert set(candidate_records(project)) == {r["id_ours"] for r in published}


def test_stopped_search_resumes_at_the_first_unacknowledged_page(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server)
    source = make_source(project, fake_time)
    with project.transaction() as session:
        source_id = source_row(session, source.kind, source.uri, source.parameters())
    pages = source.search(project, source_id, [WNID])
    add_candidates(project, source_id, next(pages))
    add_candidates(project, source_id, next(pages))  # asking for page 2 acknowledged page 1
    pages.close()
    report = collect(project, make_source(project, fake_time), classes=[WNID])
    served = Counter(page for text, _, _, page in server.served if text == "oil-filter")
    assert served == {1: 1, 2: 2, 3: 1, 4: 1}  # page 2 was handed out but not acknowledged
    assert (report.added, report.known) == (155 - 50, 8 + 25)


def test_finished_search_requests_nothing_on_rerun(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server)
    collect(project, make_source(project, fake_time), classes=[WNID])
    before = len(server.requests)
    report = collect(project, make_source(project, fake_time), classes=[WNID])
    assert len(server.requests) == before
    assert report.added == 0


# -- errors, retries, rate limits -------------------------------------------------------------------


def test_transient_errors_are_retried_with_exponential_backoff(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server)
    server.inject(
        stat_fail(105),
        stat_fail(0, "Sorry, the Flickr API service is not currently available."),
        http_error(500),
    )
    report = collect(project, make_source(project, fake_time), classes=[WNID])
    assert fake_time.backoffs == [1, 2, 4]
    assert report.added == 155


def test_timeout_is_retried(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server, images_per_class=2)
    server.inject(Fault(delay_s=0.6))
    records = search_all(project, make_source(project, fake_time, timeout_s=0.2), [WNID])
    assert fake_time.backoffs == [1]
    assert len(records) == 2


def test_persistent_error_raises_source_error_after_max_retries(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server, max_retries=3)
    server.break_after(0, stat_fail(105))
    with pytest.raises(SourceError, match="failed 4 times.*105") as raised:
        collect(project, make_source(project, fake_time), classes=[WNID])
    assert not isinstance(raised.value, RateLimitedError)
    assert len(server.requests) == 4
    assert fake_time.backoffs == [1, 2, 4]


def test_permanent_flickr_error_is_not_retried(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server)
    source = FlickrSource(project.config.flickr, environ={API_KEY_VARIABLE: "wrong"}, sleep=fake_time.sleep)
    with pytest.raises(SourceError, match="Flickr error 100") as raised:
        collect(project, source, classes=[WNID])
    assert API_KEY_VARIABLE in raised.value.fix
    assert len(server.requests) == 1


def test_rate_limited_request_waits_retry_after(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server)
    server.inject(http_error(429, retry_after="7"))
    report = collect(project, make_source(project, fake_time), classes=[WNID])
    assert fake_time.backoffs == [7]
    assert report.added == 155


def test_persistent_rate_limit_raises_rate_limited_error(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server, max_retries=2)
    server.break_after(0, http_error(429, retry_after="3"))
    with pytest.raises(RateLimitedError, match="too fast") as raised:
        collect(project, make_source(project, fake_time), classes=[WNID])
    assert "requests_per_second" in raised.value.fix
    assert fake_time.backoffs == [3, 3]


def test_client_rate_limit_spaces_requests(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server, requests_per_second=2.0)
    collect(project, make_source(project, fake_time), classes=[WNID])
    assert fake_time.sleeps == [0.5] * (len(server.requests) - 1)


# -- ids ---------------------------------------------------------------------------------------------


def test_photo_found_for_another_class_gets_the_alternate_id(tmp_path, server, published, fake_time):
    project = make_project(tmp_path / "p", server)
    terms = {WNID: ["oil-filter"], OTHER_WNID: ["oilfilter"]}
    collect(project, make_source(project, fake_time, search_terms=terms), classes=[WNID, OTHER_WNID])
    keys = Counter(r["id_search_engine"] for r in published)
    shared = {photo_id for photo_id, n in keys.items() if n == 2}
    assert len(shared) == 8
    with project.transaction() as session:
        other = set(session.scalars(select(Image.image_id).where(Image.class_key == OTHER_WNID)))
        total = session.scalar(select(func.count()).select_from(Image))
    assert {flickr_id(p, OTHER_WNID) for p in shared} <= other
    assert {flickr_id(p) for p in shared}.isdisjoint(other)
    assert total == 163


# -- the API key -------------------------------------------------------------------------------------


def test_missing_api_key_says_to_set_heldout_flickr_key(monkeypatch):
    monkeypatch.delenv(API_KEY_VARIABLE, raising=False)
    with pytest.raises(SourceError, match=API_KEY_VARIABLE) as raised:
        FlickrSource(FlickrConfig())
    assert f"set {API_KEY_VARIABLE}" in raised.value.fix


def test_api_key_is_never_recorded(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server)
    source = make_source(project, fake_time)
    collect(project, source, classes=[WNID])
    with project.transaction() as session:
        row = session.scalars(select(SourceRow)).one()
    assert API_KEY not in json.dumps(source.parameters()) + source.uri + json.dumps(row.parameters)
    assert row.kind == "flickr" and row.uri == server.endpoint


# -- published search-results files ----------------------------------------------------------------


def test_published_results_are_written_back_byte_for_byte(tmp_path, published_path):
    out = write_search_results(read_search_results(published_path), tmp_path / "out.json")
    assert out.read_bytes() == published_path.read_bytes()


def test_read_published_results_gives_candidate_records(published_path, published):
    records = read_search_results(published_path)
    assert [r.image_id for r in records] == [r["id_ours"] for r in published]
    first = records[0]
    assert (first.class_key, first.search_key, first.url_type) == (WNID, "oilfilter", "url_o")
    assert first.location == first.url == published[0]["url"]
    assert first.alternate_id == flickr_id(first.id_search_engine, WNID)
    assert {type(r.width) for r in records} <= {int, type(None)}
    assert [list(r.record) for r in records] == [list(r) for r in published]


def test_found_records_round_trip_through_the_published_format(tmp_path, server, fake_time):
    project = make_project(tmp_path / "p", server)
    records = search_all(project, make_source(project, fake_time), [WNID])
    path = write_search_results(records, tmp_path / "found.json")
    back = read_search_results(path)
    assert [r.record for r in back] == [r.record for r in records]
    # licence and owner are not fields of the published format
    assert [replace(r, license=None, owner=None, search_query_id=None) for r in records] == back


def test_unreadable_results_file_raises_source_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("[{")
    with pytest.raises(SourceError, match="not a readable JSON file"):
        read_search_results(path)
