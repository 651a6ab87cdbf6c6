"""End to end in headless Debian Chromium (Playwright) against a real ``heldout serve`` process on
a real catalog (SQLite and PostgreSQL): a grid task ticked by mouse and keyboard, a verify task,
the answers found in the catalog, and a screenshot of every page in tests/artifacts/."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from webtools import close_open_tasks, invite_url, make_grid, make_verify

from heldout.catalog import Answer, Assignment, TaskQuestion


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def _answers_by_position(project, task_id: int) -> dict[int, int]:
    with project.transaction() as session:
        rows = session.execute(
            select(TaskQuestion.position, Answer.value)
            .join(Assignment, Assignment.assignment_id == Answer.assignment_id)
            .join(
                TaskQuestion,
                (TaskQuestion.task_id == Assignment.task_id)
                & (TaskQuestion.question_id == Answer.question_id),
            )
            .where(Assignment.task_id == task_id)
        ).all()
    return dict(rows)


def _all_images_loaded(page) -> bool:
    page.wait_for_load_state("load")
    return page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")


def test_worker_answers_a_grid_and_a_verify_task_in_chromium(
    web_project, signer, page, live_server_factory, artifacts, request
):
    backend = request.node.callspec.params["web_project"]
    close_open_tasks(web_project)
    grid = make_grid(web_project)
    verify = make_verify(web_project, n_labels=3, image_index=7)
    server = live_server_factory(web_project.root)

    page.goto(server.url + invite_url(signer))
    page.screenshot(path=artifacts / f"start-{backend}.png")
    page.click("#start")
    page.wait_for_selector("form.grid-task")
    assert "tabby or tabby cat" in page.inner_text("h1")
    assert page.locator(".tile").count() == 48
    assert _all_images_loaded(page)

    tiles = page.locator(".tile")
    tiles.nth(0).click()  # mouse
    tiles.nth(7).click()
    tiles.nth(7).click()  # a second click un-ticks
    tiles.nth(20).click()
    tiles.nth(30).locator("input").focus()  # keyboard
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    assert page.inner_text("[data-count]") == "4"
    ticked = sorted(
        int(v) for v in page.locator(".tile input:checked").evaluate_all("els => els.map(e => e.value)")
    )
    page.screenshot(path=artifacts / f"grid-{backend}.png", full_page=True)
    page.click("#submit")
    page.wait_for_selector("text=Your answers are saved")
    page.screenshot(path=artifacts / f"done-{backend}.png")

    stored = _answers_by_position(web_project, grid.task_id)
    assert len(stored) == 48
    assert sorted(p for p, v in stored.items() if v == 2) == ticked
    assert len(ticked) == 4

    page.click("#next")
    page.wait_for_selector("form.verify-task")
    assert _all_images_loaded(page)
    for position, word in zip((0, 1, 2), ("yes", "maybe", "no"), strict=True):
        page.check(f'input[name="answer-{position}"][value="{word}"]')
    page.screenshot(path=artifacts / f"verify-{backend}.png", full_page=True)
    page.click("#submit")
    page.wait_for_selector("text=Your answers are saved")
    assert _answers_by_position(web_project, verify.task_id) == {0: 2, 1: 1, 2: 0}

    page.goto(f"{server.url}/admin/login?key={signer.admin_key()}")
    page.wait_for_selector("text=Progress")
    page.screenshot(path=artifacts / f"admin-{backend}.png", full_page=True)
    page.goto(f"{server.url}/admin/tasks/{grid.task_id}")
    assert page.locator("td:has-text('yes')").count() == 4
    page.screenshot(path=artifacts / f"admin-task-{backend}.png", full_page=True)
