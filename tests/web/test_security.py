"""Refusals: each with its status code, and nothing stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from webtools import make_grid, make_verify, new_label, start_worker, take_task

from heldout.catalog import Answer, Assignment, Worker
from heldout.errors import ConfigError, CrowdError, HeldoutError, InvalidAnswersError, ObjectMissingError
from heldout.project import utcnow
from heldout.web.app import STATUS, status_of

HTML = {"accept": "text/html"}


def _counts(project) -> tuple[int, int, int]:
    with project.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(Answer)),
            session.scalar(
                select(func.count()).select_from(Assignment).where(Assignment.status != "assigned")
            ),
            session.scalar(select(func.count()).select_from(Worker)),
        )


@pytest.fixture()
def grid_page(client, signer, web_project):
    make_grid(web_project)
    return take_task(client, start_worker(client, signer))


def _forge(token: str) -> str:
    middle = len(token) // 2
    return token[:middle] + ("x" if token[middle] != "x" else "y") + token[middle + 1 :]


def test_forged_assignment_token_is_refused_and_stores_nothing(client, web_project, grid_page):
    before = _counts(web_project)
    response = client.post(_forge(grid_page), json={"selected": [1]})
    assert response.status_code == 403
    assert _counts(web_project) == before


def test_token_signed_with_another_secret_is_refused(client, web_project, grid_page):
    from heldout.crowd.tokens import TokenSigner

    reference = TokenSigner("another-secret-abcdefghijkl").assignment(1, 1, expires_at=None)
    before = _counts(web_project)
    assert client.post(f"/work/a/{reference}", json={"selected": []}).status_code == 403
    assert _counts(web_project) == before


def test_replayed_assignment_token_with_other_answers_is_refused(client, web_project, grid_page):
    assert client.post(grid_page, json={"selected": [1]}).status_code == 200
    before = _counts(web_project)
    assert client.post(grid_page, json={"selected": [2]}).status_code == 409
    assert _counts(web_project) == before


def test_another_workers_assignment_is_refused(client, signer, web_project, grid_page):
    owner = signer.read_assignment(grid_page.rsplit("/", 1)[1], now=utcnow())
    intruder_next = start_worker(client, signer)
    intruder = signer.read_worker(intruder_next.split("/")[3], now=utcnow())
    stolen = signer.assignment(owner.assignment_id, intruder, expires_at=None)
    before = _counts(web_project)
    assert client.post(f"/work/a/{stolen}", json={"selected": [1]}).status_code == 403
    assert client.get(f"/work/a/{stolen}").status_code == 403
    assert _counts(web_project) == before


def test_task_not_assigned_is_not_found(client, signer, web_project, grid_page):
    worker = signer.read_worker(start_worker(client, signer).split("/")[3], now=utcnow())
    never_issued = signer.assignment(10**9, worker, expires_at=None)
    before = _counts(web_project)
    assert client.post(f"/work/a/{never_issued}", json={"selected": [1]}).status_code == 404
    assert _counts(web_project) == before


def test_body_over_the_limit_is_refused_with_413(client, web_project, grid_page):
    before = _counts(web_project)
    big = "selected=1&" * 10_000
    response = client.post(
        grid_page, content=big, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413
    assert _counts(web_project) == before


def test_chunked_body_over_the_limit_is_refused_with_413(client, web_project, grid_page):
    def chunks():
        for _ in range(100):
            yield b"selected=1&" * 100

    before = _counts(web_project)
    response = client.post(
        grid_page, content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413
    assert _counts(web_project) == before


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"selected": ["a"]}',
        b'{"selected": [1.5]}',
        b'{"selected": [true]}',
        b'{"selected": [48]}',
        b'{"selected": [-1]}',
        b'{"answers": {"0": 7}}',
        b'{"selected": [1], "answers": {"0": 2}}',
        b'{"selected": [1], "comment": "hi"}',
        b"[1, 2, 3]",
        b"{}",
    ],
    ids=[
        "not-json",
        "string-position",
        "float-position",
        "bool-position",
        "unknown-position",
        "negative-position",
        "value-out-of-range",
        "both-shapes",
        "extra-field",
        "not-an-object",
        "empty",
    ],
)
def test_malformed_json_body_is_refused_with_422(client, web_project, grid_page, body):
    before = _counts(web_project)
    response = client.post(grid_page, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert _counts(web_project) == before


@pytest.mark.parametrize(
    "form",
    [{"selected": ["x"]}, {"selected": ["1e3"]}, {"selected": ["99"]}],
    ids=["word", "exponent", "outside"],
)
def test_malformed_form_is_refused_with_422(client, web_project, grid_page, form):
    before = _counts(web_project)
    assert client.post(grid_page, data=form, headers=HTML).status_code == 422
    assert _counts(web_project) == before


def test_verify_form_missing_a_label_is_refused_with_422(client, signer, web_project):
    make_verify(web_project, n_labels=3)
    page_url = take_task(client, start_worker(client, signer))
    before = _counts(web_project)
    assert client.post(page_url, data={"answer-0": "yes"}, headers=HTML).status_code == 422
    assert _counts(web_project) == before


def test_verify_form_with_an_unknown_word_is_refused_with_422(client, signer, web_project):
    make_verify(web_project, n_labels=2)
    page_url = take_task(client, start_worker(client, signer))
    before = _counts(web_project)
    form = {"answer-0": "yes", "answer-1": "definitely"}
    assert client.post(page_url, data=form, headers=HTML).status_code == 422
    assert _counts(web_project) == before


@pytest.mark.parametrize(
    "field,value",
    [
        ("workerId", "A1' OR '1'='1"),
        ("workerId", "<script>alert(1)</script>"),
        ("assignmentId", "x'); DROP TABLE answer;--"),
        ("hitId", "<img src=x onerror=alert(1)>"),
        ("turkSubmitTo", "https://evil.example.org"),
    ],
    ids=["sql-worker", "html-worker", "sql-assignment", "html-hit", "foreign-submit-to"],
)
def test_injection_in_mturk_parameters_is_refused_with_422(client, web_project, field, value):
    task = make_grid(web_project)
    params = {
        "task": task.uuid,
        "assignmentId": "3XMVN1BINNIXMTM9TTDO1GKMECV7GA",
        "hitId": "3Q7TKIAPOTK7HQ2Z2W7M6P9AZ2X9DL",
        "workerId": "A1B2C3D4E5F6G7",
        "turkSubmitTo": "https://www.mturk.com",
    } | {field: value}
    before = _counts(web_project)
    assert client.get("/work/mturk", params=params).status_code == 422
    assert _counts(web_project) == before


def test_sql_in_task_parameter_is_refused_with_422(client, web_project):
    params = {"task": "1' OR '1'='1", "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"}
    assert client.get("/work/mturk", params=params).status_code == 422


@pytest.mark.parametrize(
    "reason",
    ["<script>alert(1)</script>", "fine'); DELETE FROM worker; --", "a" * 501],
    ids=["html", "sql", "too-long"],
)
def test_injection_in_admin_reason_is_refused_with_422(client, signer, web_project, reason):
    worker = signer.read_worker(start_worker(client, signer).split("/")[3], now=utcnow())
    headers = {"authorization": f"Bearer {client.app.state.heldout.admin_key}"}
    response = client.post(
        f"/admin/workers/{worker}/status", data={"status": "paused", "reason": reason}, headers=headers
    )
    assert response.status_code == 422
    with web_project.transaction() as session:
        assert session.get(Worker, worker).status == "active"


@pytest.mark.parametrize(
    "label", ["x'; DROP TABLE answer;--", "<b>bold</b>", ""], ids=["sql", "html", "empty"]
)
def test_injection_in_invite_label_is_refused_with_422(client, label):
    headers = {"authorization": f"Bearer {client.app.state.heldout.admin_key}"}
    assert client.post("/admin/invites", data={"label": label}, headers=headers).status_code == 422


def test_invite_token_with_an_injected_label_is_refused_and_stores_no_worker(client, signer, web_project):
    before = _counts(web_project)
    assert client.get(f"/work/invite/{signer.invite('a<b>')}").status_code == 422
    assert _counts(web_project) == before


def test_expired_invite_is_refused(client, signer, web_project):
    stale = signer.invite(new_label(), expires_at=utcnow() - timedelta(seconds=1))
    before = _counts(web_project)
    assert client.get(f"/work/invite/{stale}").status_code == 403
    assert _counts(web_project) == before


def test_paused_worker_gets_no_task(client, signer, web_project):
    make_grid(web_project)
    next_url = start_worker(client, signer)
    worker = signer.read_worker(next_url.split("/")[3], now=utcnow())
    with web_project.transaction() as session:
        session.get(Worker, worker).status = "paused"
    assert client.post(next_url).status_code == 403


def test_error_page_shows_no_internal_detail(client, signer, web_project):
    make_grid(web_project)
    page_url = take_task(client, start_worker(client, signer))
    reference = signer.read_assignment(page_url.rsplit("/", 1)[1], now=utcnow())
    response = client.get(f"/img/{signer.image(reference.assignment_id, 99, expires_at=None)}")
    assert response.status_code == 404
    assert set(response.json()) == {"error", "fix"}
    assert str(web_project.root) not in response.text


def test_every_mapped_status_is_a_client_error():
    assert all(400 <= status < 500 for status in STATUS.values())


def test_heldout_errors_map_to_the_status_of_their_nearest_class():
    assert status_of(InvalidAnswersError("x")) == 422
    assert status_of(ObjectMissingError("x")) == 404
    assert status_of(ConfigError("x")) == 400
    assert status_of(CrowdError("x")) == 400
    assert status_of(HeldoutError("x")) == 400
