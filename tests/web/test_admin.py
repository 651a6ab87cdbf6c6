"""Admin pages: the key, progress, the task inspector, control accuracy, approve/reject, the cost
and fairness ledger, invite links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from webtools import make_grid, start_worker, take_task

from heldout.catalog import Assignment, Worker
from heldout.crowd.progress import cost_ledger
from heldout.project import utcnow


@pytest.fixture()
def admin(client):
    """Headers of a signed-in admin."""
    return {"authorization": f"Bearer {client.app.state.heldout.admin_key}"}


def _submit_grid(client, signer, project, selected=(0, 1, 2)) -> tuple[int, int]:
    """A worker ticks ``selected`` in a new grid; returns (task id, assignment id)."""
    task = make_grid(project)
    page_url = take_task(client, start_worker(client, signer))
    assert client.post(page_url, json={"selected": list(selected)}).status_code == 200
    reference = signer.read_assignment(page_url.rsplit("/", 1)[1], now=utcnow())
    return task.task_id, reference.assignment_id


def test_admin_pages_need_the_key(client):
    for path in ("/admin", "/admin/workers", "/admin/ledger", "/admin/progress.json"):
        assert client.get(path).status_code == 401


def test_wrong_admin_key_is_refused(client):
    assert client.get("/admin", headers={"authorization": "Bearer nope"}).status_code == 401
    assert client.get("/admin/login", params={"key": "nope"}).status_code == 401


def test_login_sets_a_strict_httponly_cookie(client):
    response = client.get("/admin/login", params={"key": client.app.state.heldout.admin_key})
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/admin").status_code == 200


def test_progress_counts_answers_and_answers_per_second(client, signer, web_project, admin):
    _submit_grid(client, signer, web_project)
    progress = client.get("/admin/progress.json", headers=admin).json()
    assert progress["answers"] >= 48
    assert progress["answers_per_s"] > 0
    assert progress["assignments"]["submitted"] >= 1


def test_progress_page_renders(client, admin):
    page = client.get("/admin", headers=admin)
    assert page.status_code == 200 and "answers/s" in page.text


def test_task_inspector_shows_each_workers_answers_and_roles(client, signer, web_project, admin):
    task_id, _ = _submit_grid(client, signer, web_project, selected=(0, 5))
    page = client.get(f"/admin/tasks/{task_id}", headers=admin).text
    assert page.count("<td>yes</td>") == 2
    assert page.count("<td>no</td>") == 46
    assert page.count("<td>positive</td>") == 3 and page.count("<td>negative</td>") == 3


def test_task_lookup_redirects_to_the_inspector(client, admin):
    response = client.get("/admin/tasks", params={"task_id": 7}, headers=admin)
    assert response.status_code == 303 and response.headers["location"] == "/admin/tasks/7"


def test_task_inspector_serves_the_images(client, signer, web_project, admin):
    task_id, _ = _submit_grid(client, signer, web_project)
    response = client.get(f"/admin/tasks/{task_id}/images/0", headers=admin)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"


def test_reject_then_approve_changes_the_assignment_status(client, signer, web_project, admin):
    task_id, assignment_id = _submit_grid(client, signer, web_project)
    response = client.post(
        f"/admin/assignments/{assignment_id}/reject", data={"task_id": task_id}, headers=admin
    )
    assert response.status_code == 303 and response.headers["location"] == f"/admin/tasks/{task_id}"
    with web_project.transaction() as session:
        assert session.get(Assignment, assignment_id).status == "rejected"
    client.post(f"/admin/assignments/{assignment_id}/approve", headers=admin)
    with web_project.transaction() as session:
        assert session.get(Assignment, assignment_id).status == "approved"


def test_approve_needs_the_key(client, signer, web_project):
    _, assignment_id = _submit_grid(client, signer, web_project)
    assert client.post(f"/admin/assignments/{assignment_id}/approve").status_code == 401
    with web_project.transaction() as session:
        assert session.get(Assignment, assignment_id).status == "submitted"


def test_workers_page_shows_control_accuracy(client, signer, web_project, admin):
    next_url = start_worker(client, signer)
    make_grid(web_project)
    page_url = take_task(client, next_url)
    client.post(page_url, json={"selected": [0, 1, 2, 3]})  # 3 positives right, 1 negative wrong
    worker = signer.read_worker(next_url.split("/")[3], now=utcnow())
    page = client.get("/admin/workers", headers=admin).text
    row = re.search(rf"<tr><td>{worker}</td>.*?</tr>", page, re.S).group(0)
    assert "<td>6</td>" in row  # control answers
    assert "0.83" in row  # 5 of 6 right


def test_pause_and_resume_a_worker(client, signer, web_project, admin):
    worker = signer.read_worker(start_worker(client, signer).split("/")[3], now=utcnow())
    form = {"status": "paused", "reason": "too fast, 2 s per grid"}
    assert client.post(f"/admin/workers/{worker}/status", data=form, headers=admin).status_code == 303
    with web_project.transaction() as session:
        assert session.get(Worker, worker).status == "paused"
    client.post(f"/admin/workers/{worker}/status", data={"status": "active"}, headers=admin)
    with web_project.transaction() as session:
        assert session.get(Worker, worker).status == "active"


def test_ledger_page_shows_cost_and_fairness(client, signer, web_project, admin):
    _submit_grid(client, signer, web_project)
    page = client.get("/admin/ledger", headers=admin).text
    for term in (
        "Reward per accepted image",
        "Answers per question",
        "Median seconds per grid",
        "hourly pay",
    ):
        assert term in page


def test_ledger_computes_hourly_pay_from_seconds_per_grid(client, signer, web_project):
    _, assignment_id = _submit_grid(client, signer, web_project)
    with web_project.transaction() as session:
        assignment = session.get(Assignment, assignment_id)
        assignment.started_at = assignment.submitted_at - timedelta(seconds=90)
        worker_id = assignment.worker_id
    ledger = cost_ledger(web_project)
    mine = next(w for w in ledger.workers if w["worker_id"] == worker_id)
    assert mine["seconds"] == pytest.approx(90)
    assert mine["hourly_usd"] == pytest.approx(0.10 * 3600 / 90)
    assert ledger.median_seconds_per_grid is not None


def test_ledger_counts_accepted_images_by_selection_frequency(sqlite_client, signer, sqlite_project):
    _submit_grid(sqlite_client, signer, sqlite_project, selected=tuple(range(48)))
    ledger = cost_ledger(sqlite_project, accept_threshold=0.0)
    assert ledger.accepted_images > 0
    assert ledger.reward_per_accepted_image_usd == pytest.approx(ledger.total_usd / ledger.accepted_images)


def _workers(project) -> int:
    with project.transaction() as session:
        return len(session.scalars(select(Worker.worker_id)).all())


def test_invite_link_made_on_admin_registers_a_worker(client, admin, web_project):
    page = client.post("/admin/invites", data={"label": "lab-member-7", "days": "7"}, headers=admin).text
    link = re.search(r'value="(http[^"]+/work/invite/[^"]+)"', page).group(1)
    before = _workers(web_project)
    assert client.get(link.split("testserver", 1)[1]).status_code == 200
    assert _workers(web_project) in (before, before + 1)  # +1 unless lab-member-7 came before
    assert client.get(link.split("testserver", 1)[1]).status_code == 200
    assert _workers(web_project) == max(before, _workers(web_project))
