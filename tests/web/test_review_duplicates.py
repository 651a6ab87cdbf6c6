"""The near-duplicate review page (/review/duplicates): in-process on both backends, and keyboard
driven in headless Chromium against a real ``heldout serve``, with a screenshot in tests/artifacts/."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select
from webtools import SECRET, stored_images

from heldout.catalog import DuplicatePair, Neighbour, NeighbourReview, Threshold
from heldout.crowd.tokens import TokenSigner
from heldout.dedup.review import set_threshold


def _clear(project) -> None:
    with project.transaction() as session:
        for table in (NeighbourReview, DuplicatePair, Neighbour, Threshold):
            session.execute(delete(table))


@pytest.fixture()
def queue(web_project):
    """Two queue rows under l2: the first candidate with 3 close neighbours, the second with 1."""
    _clear(web_project)
    ids = stored_images(web_project)
    first, second = ids[0], ids[10]
    with web_project.transaction() as session:
        session.add_all(
            Neighbour(image_id=first, metric="l2", rank=r, neighbour_id=n, distance=d)
            for r, (n, d) in enumerate([(ids[1], 1e6), (ids[2], 2e6), (ids[3], 3e6), (ids[4], 9e9)])
        )
        session.add(Neighbour(image_id=second, metric="l2", rank=0, neighbour_id=ids[11], distance=5e6))
    set_threshold(web_project, "l2", 1e7)
    yield web_project, first, second, ids
    _clear(web_project)


@pytest.fixture()
def admin(client):
    return {"authorization": f"Bearer {client.app.state.heldout.admin_key}"}


def test_the_review_page_needs_the_admin_key(client, queue):
    _, first, _, _ = queue
    assert client.get("/review/duplicates").status_code == 401
    assert client.get(f"/review/duplicates/images/{first}").status_code == 401


def test_the_page_shows_the_candidate_beside_its_close_neighbours_with_distances(client, queue, admin):
    _, first, _, ids = queue
    html = client.get("/review/duplicates", headers=admin).text
    assert f"/review/duplicates/images/{first}" in html
    assert all(f'value="{n}"' in html for n in ids[1:4]) and ids[4] not in html  # 9e9 is over the threshold
    assert "1e+06" in html and "3e+06" in html and "2 rows in the queue" in html


def test_neighbour_images_are_256px_jpegs(client, queue, admin):
    _, _, _, ids = queue
    response = client.get(f"/review/duplicates/images/{ids[1]}", headers=admin)
    assert response.headers["content-type"] == "image/jpeg" and response.content[:2] == b"\xff\xd8"
    assert response.headers["cache-control"] == "private, no-store"


def test_saving_a_row_stores_pairs_and_reviews_and_moves_the_queue(client, queue, admin):
    project, first, second, ids = queue
    form = {"image_id": first, "metric": "l2", "reviewer": "ana", "shown": ids[1:4], "duplicate": [ids[2]]}
    response = client.post("/review/duplicates", data=form, headers=admin)
    assert response.status_code == 303 and "heldout_reviewer=ana" in response.headers["set-cookie"]
    with project.transaction() as session:
        pairs = session.execute(
            select(DuplicatePair.image_id, DuplicatePair.other_id, DuplicatePair.reviewer)
        ).all()
        reviewed = session.scalars(
            select(NeighbourReview.neighbour_id).where(NeighbourReview.reviewer == "ana")
        ).all()
    assert [tuple(p) for p in pairs] == [(first, ids[2], "ana")] and sorted(reviewed) == sorted(ids[1:4])
    assert second in client.get("/review/duplicates", headers=admin).text


def test_a_duplicate_that_was_not_shown_is_refused(client, queue, admin):
    _, first, _, ids = queue
    form = {"image_id": first, "metric": "l2", "reviewer": "ana", "shown": [ids[1]], "duplicate": [ids[5]]}
    assert client.post("/review/duplicates", data=form, headers=admin).status_code == 400


def test_a_reviewer_ticks_saves_and_skips_by_keyboard_in_chromium(
    queue, browser, live_server_factory, artifacts, request
):
    project, first, second, ids = queue
    backend = request.node.callspec.params["web_project"]
    server = live_server_factory(project.root, cli=False)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/admin/login?key={TokenSigner(SECRET).admin_key()}")
    page.goto(f"{server.url}/review/duplicates")
    page.wait_for_load_state("load")
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth === 256)")
    assert page.locator("label.neighbour").count() == 3
    page.fill("input[name=reviewer]", "ana")
    page.locator("h1").click()  # focus leaves the text field: keys drive the page
    page.keyboard.press("2")
    assert page.locator("label.neighbour.selected").count() == 1
    page.screenshot(path=artifacts / f"review-duplicates-{backend}.png")
    page.keyboard.press("Enter")
    page.wait_for_url("**/review/duplicates?skip=0")
    assert second in page.inner_text("form.dedup-review")
    page.keyboard.press("s")
    page.wait_for_url("**/review/duplicates?skip=1")
    assert "Nothing left to review" in page.inner_text("main")
    context.close()
    with project.transaction() as session:
        pairs = session.execute(
            select(DuplicatePair.image_id, DuplicatePair.other_id, DuplicatePair.reviewer)
        ).all()
        reviews = session.execute(select(NeighbourReview.reviewer, NeighbourReview.reviewed_at)).all()
    assert [tuple(p) for p in pairs] == [(first, ids[2], "ana")]
    assert len(reviews) == 3 and all(r[0] == "ana" and r[1] is not None for r in reviews)
