"""Worker pages through the app (TestClient) on a real catalog (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from webtools import (
    SECRET,
    close_open_tasks,
    make_grid,
    make_verify,
    new_label,
    start_worker,
    take_task,
)

from heldout.catalog import Answer, Assignment, Worker
from heldout.crowd.tokens import hash_worker_id

HTML = {"accept": "text/html"}


def _answers(project, assignment_id: int) -> dict[int, int]:
    with project.transaction() as session:
        return dict(
            session.execute(
                select(Answer.question_id, Answer.value).where(Answer.assignment_id == assignment_id)
            ).all()
        )


def _assignment_of(project, worker_id: int) -> Assignment:
    with project.transaction() as session:
        return (
            session.execute(
                select(Assignment)
                .where(Assignment.worker_id == worker_id)
                .order_by(Assignment.assignment_id.desc())
            )
            .scalars()
            .first()
        )


def _worker_id(project, label: str) -> int:
    with project.transaction() as session:
        return session.scalar(
            select(Worker.worker_id).where(Worker.external_id == hash_worker_id(f"invite:{label}", SECRET))
        )


def test_grid_page_shows_class_names_joined_with_or_and_gloss(client, signer, web_project):
    make_grid(web_project)
    page = client.get(take_task(client, start_worker(client, signer)))
    assert page.status_code == 200
    assert "tabby or tabby cat" in page.text
    assert "a cat with a grey or tawny coat mottled with black" in page.text


def test_grid_page_shows_instructions_consent_and_48_checkboxes(client, signer, web_project):
    make_grid(web_project)
    page = client.get(take_task(client, start_worker(client, signer))).text
    assert web_project.config.crowd.grid_instructions in page
    assert web_project.config.crowd.consent in page
    assert len(re.findall(r'<input type="checkbox" name="selected"', page)) == 48
    assert len(re.findall(r'<img src="/img/[A-Za-z0-9_-]+"', page)) == 48


def test_two_workers_on_one_task_see_the_same_page_with_their_own_tokens(client, signer, web_project):
    close_open_tasks(web_project)
    make_grid(web_project, max_assignments=2)
    first_url, second_url = (take_task(client, start_worker(client, signer)) for _ in range(2))
    first, second = client.get(first_url).text, client.get(second_url).text
    tokens = r"(?:/work/a/|/img/)[A-Za-z0-9_-]+"
    assert re.sub(tokens, "", first) == re.sub(tokens, "", second)
    assert f'action="{first_url}"' in first and f'action="{second_url}"' in second
    assert not set(re.findall(r"/img/[A-Za-z0-9_-]+", first)) & set(
        re.findall(r"/img/[A-Za-z0-9_-]+", second)
    )
    assert client.get(re.findall(r"/img/[A-Za-z0-9_-]+", second)[0]).status_code == 200


def test_grid_submit_stores_ticks_as_yes_and_the_rest_as_no(client, signer, web_project):
    make_grid(web_project)
    label = new_label()
    page_url = take_task(client, start_worker(client, signer, label))
    response = client.post(page_url, data={"selected": ["0", "5", "47"]}, headers=HTML)
    assert response.status_code == 200
    assert "Your answers are saved" in response.text
    assignment = _assignment_of(web_project, _worker_id(web_project, label))
    assert assignment.status == "submitted"
    values = _answers(web_project, assignment.assignment_id)
    assert len(values) == 48
    assert sorted(values.values()).count(2) == 3


def test_grid_submit_as_json_returns_a_receipt(client, signer, web_project):
    make_grid(web_project)
    page_url = take_task(client, start_worker(client, signer))
    response = client.post(page_url, json={"selected": [1, 2]})
    assert response.status_code == 200
    assert response.json()["answers"] == 48
    assert response.json()["repeat"] is False


def test_double_submit_is_idempotent(client, signer, web_project):
    make_grid(web_project)
    label = new_label()
    page_url = take_task(client, start_worker(client, signer, label))
    first = client.post(page_url, json={"selected": [3]})
    second = client.post(page_url, json={"selected": [3]})
    assert second.status_code == 200
    assert second.json()["repeat"] is True
    assert second.json()["submitted_at"] == first.json()["submitted_at"]
    with web_project.transaction() as session:
        count = session.scalar(
            select(func.count()).select_from(Answer).where(Answer.worker_id == _worker_id(web_project, label))
        )
    assert count == 48


def test_submitted_assignment_page_says_already_submitted(client, signer, web_project):
    make_grid(web_project)
    page_url = take_task(client, start_worker(client, signer))
    client.post(page_url, json={"selected": []})
    page = client.get(page_url, headers=HTML)
    assert page.status_code == 200
    assert "already submitted" in page.text


def test_verify_page_shows_one_image_and_each_label_with_no_maybe_yes(client, signer, web_project):
    make_verify(web_project, n_labels=3)
    next_url = start_worker(client, signer)
    page = client.get(take_task(client, next_url)).text
    assert len(re.findall(r'<img class="verify-image" src="/img/', page)) == 1
    for word in ("no", "maybe", "yes"):
        assert len(re.findall(rf'value="{word}" required', page)) == 3


def test_verify_submit_stores_each_labels_answer(client, signer, web_project):
    make_verify(web_project, n_labels=3)
    label = new_label()
    page_url = take_task(client, start_worker(client, signer, label))
    positions = re.findall(r'name="answer-(\d+)" value="yes"', client.get(page_url).text)
    form = dict(zip([f"answer-{p}" for p in positions], ["yes", "maybe", "no"], strict=True))
    assert client.post(page_url, data=form, headers=HTML).status_code == 200
    values = _answers(web_project, _assignment_of(web_project, _worker_id(web_project, label)).assignment_id)
    assert sorted(values.values()) == [0, 1, 2]


def test_next_task_after_submitting_is_a_different_task(client, signer, web_project):
    make_grid(web_project)
    make_grid(web_project)
    next_url = start_worker(client, signer)
    first = take_task(client, next_url)
    client.post(first, json={"selected": []})
    second = take_task(client, next_url)
    assert second != first


def test_asking_twice_without_submitting_returns_the_same_assignment(client, signer, web_project):
    make_grid(web_project)
    next_url = start_worker(client, signer)
    assert take_task(client, next_url) == take_task(client, next_url)


def test_keyboard_can_reach_every_checkbox(client, signer, web_project):
    make_grid(web_project)
    page = client.get(take_task(client, start_worker(client, signer))).text
    assert 'tabindex="-1"' not in page
    assert page.count('<label class="tile">') == 48


def test_mturk_preview_shows_the_class_without_images(client, web_project):
    task = make_grid(web_project)
    page = client.get(
        "/work/mturk", params={"task": task.uuid, "assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"}
    )
    assert page.status_code == 200
    assert "tabby or tabby cat" in page.text
    assert "/img/" not in page.text


def test_mturk_worker_gets_the_named_task_and_hands_answers_back(client, web_project):
    task = make_grid(web_project)
    params = {
        "task": task.uuid,
        "assignmentId": "3XMVN1BINNIXMTM9TTDO1GKMECV7GA",
        "hitId": "3Q7TKIAPOTK7HQ2Z2W7M6P9AZ2X9DL",
        "workerId": "A1B2C3D4E5F6G7",
        "turkSubmitTo": "https://workersandbox.mturk.com",
    }
    page_url = client.get("/work/mturk", params=params).headers["location"]
    done = client.post(page_url, data={"selected": ["4", "9"]}, headers=HTML)
    assert 'action="https://workersandbox.mturk.com/mturk/externalSubmit"' in done.text
    assert 'name="assignmentId" value="3XMVN1BINNIXMTM9TTDO1GKMECV7GA"' in done.text
    assert "{&#34;4&#34;: 2, &#34;9&#34;: 2}" in done.text
    with web_project.transaction() as session:
        stored = session.scalar(
            select(Worker.external_id).where(Worker.external_id == hash_worker_id("A1B2C3D4E5F6G7", SECRET))
        )
    assert stored is not None  # only the salted hash is stored
