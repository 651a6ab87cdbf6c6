"""Final review pages on real ingested photos (SQLite and PostgreSQL): staff only, the class page
with its grids, histograms and filters, saves through the JSON API, and in headless Debian
Chromium (Playwright, against a real ``heldout serve``) a blacklist tick + "mark reviewed" and a
"wrong" verdict in the predictions browser, each found in the catalog; screenshots in
tests/artifacts/."""

from __future__ import annotations

import os
import re
import uuid

import numpy as np
import pytest
from sqlalchemy import func, select
from webtools import CLASSES, SECRET, LiveServer, free_port, stored_images, uvicorn_command

from heldout.catalog import Blacklist, ClassReview, Dataset, DuplicatePair, ImageFlag, LabelReview, Score
from heldout.review import review_status
from heldout.web.review import PREDICTIONS_FOLDER
from reviewtools import ESPRESSO, TABBY, add_images, make_dataset, set_frequencies

REFERENCES = [f"ref-tabby-{i:02d}" for i in range(20)]

assert CLASSES == (TABBY, ESPRESSO)


def _auth(client) -> dict[str, str]:
    return {"authorization": f"Bearer {client.app.state.heldout.admin_key}"}


def _review_dataset(project) -> str:
    """A new revision (10 tabby + 10 espresso photos) of the shared project, whose tabby photos and
    20 metadata-only tabby reference images get frequencies once."""
    tabby = stored_images(project, TABBY)
    with project.transaction() as session:
        scored = session.scalar(select(func.count()).select_from(Score).where(Score.method == "frequency"))
    if not scored:
        add_images(project, REFERENCES, role="reference", class_key=TABBY)
        set_frequencies(project, TABBY, {r: (0.1 + 0.04 * n, 10) for n, r in enumerate(REFERENCES)})
        set_frequencies(project, TABBY, {i: (round(0.03 * n, 2), 10) for n, i in enumerate(tabby)})
    name = f"web{uuid.uuid4().hex[:6]}-b-0"
    images = [(i, TABBY) for i in tabby[:10]] + [(i, ESPRESSO) for i in stored_images(project, ESPRESSO)[:10]]
    make_dataset(project, name, images, per_class=10)
    return name


def _class_url(name: str, class_key: str = TABBY, *, api: bool = False) -> str:
    return f"/review{'/api' if api else ''}/datasets/{name}/classes/{class_key}"


# --- in-process ----------------------------------------------------------------------------------


def test_review_pages_and_images_need_the_admin_key(client, web_project):
    name = _review_dataset(web_project)
    image_id = stored_images(web_project, TABBY)[0]
    for path in ("/review/datasets", _class_url(name), f"/review/images/{image_id}"):
        assert client.get(path).status_code == 401


def test_class_page_shows_sampled_reference_and_candidate_images_with_histograms(client, web_project):
    name = _review_dataset(web_project)
    page = client.get(_class_url(name), headers=_auth(client))
    assert page.status_code == 200
    sampled = page.text.split('id="sampled"')[1].split('id="references"')[0]
    assert sampled.count('class="rtile') == 10
    assert page.text.count('data-kind="reference"') == 10 and page.text.count('data-kind="candidate"') == 30
    target = page.text.split('id="hist-target"')[1].split('class="hist-labels"')[0]
    assert re.findall(r'title="(\d+)"', target) == ["1", "2", "3", "3", "1"]  # from [3, 5, 5, 5, 2]


def test_class_json_has_the_three_histograms(client, web_project):
    name = _review_dataset(web_project)
    overview = client.get(_class_url(name, api=True), headers=_auth(client)).json()
    assert overview["reference_histogram"] == [3, 5, 5, 5, 2]
    assert overview["target_histogram"] == [1, 2, 3, 3, 1]
    assert sum(overview["eligible_histogram"]) == 30 - sum(
        c["is_blacklisted"] for c in overview["candidates"]
    )


def test_class_page_serves_each_tile_as_the_500px_rendition(client, web_project):
    name = _review_dataset(web_project)
    image_id = stored_images(web_project, TABBY)[0]
    assert f'src="/review/images/{image_id}"' in client.get(_class_url(name), headers=_auth(client)).text
    response = client.get(f"/review/images/{image_id}", headers=_auth(client))
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == web_project.images.bytes(image_id, "500")
    assert response.headers["cache-control"] == "private, no-store"


def test_class_page_filters_the_pool_by_blacklist(client, web_project):
    name = _review_dataset(web_project)
    blacklisted = stored_images(web_project, TABBY)[29]
    body = {"reviewer": "ada", "blacklist_add": [blacklisted]}
    assert client.post(_class_url(name, api=True), json=body, headers=_auth(client)).status_code == 200
    only = client.get(_class_url(name), params={"blacklisted": "yes"}, headers=_auth(client)).text
    pool = only.split('id="pool"')[1]
    assert pool.count('class="rtile') == 1 and blacklisted in pool


def test_saving_a_class_records_status_and_reviewer(client, web_project):
    name = _review_dataset(web_project)
    body = {"reviewer": "ada", "status": "problematic"}
    response = client.post(_class_url(name, ESPRESSO, api=True), json=body, headers=_auth(client))
    assert response.json()["status"] == "problematic"
    status = client.get(f"/review/api/datasets/{name}/status", headers=_auth(client)).json()
    assert (status["problematic"], status["unreviewed"]) == (1, 1)
    assert status["classes"][1]["reviewer"] == "ada"


def test_saving_refuses_a_reviewer_name_with_markup(client, web_project):
    name = _review_dataset(web_project)
    body = {"reviewer": "<b>ada</b>", "status": "reviewed"}
    response = client.post(_class_url(name, api=True), json=body, headers=_auth(client))
    assert response.status_code == 422
    assert review_status(web_project, name).reviewed == 0


def test_predictions_browser_says_where_prediction_files_go(client, web_project):
    name = _review_dataset(web_project)
    page = client.get(f"/review/datasets/{name}/predictions", headers=_auth(client)).text
    assert 'id="no-predictions"' in page and f"{PREDICTIONS_FOLDER}/{name}" in page


# --- in Chromium ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers():
    """One live app (uvicorn on the factory) per project, shared by this module's browser tests."""
    started: dict[str, LiveServer] = {}
    yield started
    for server in started.values():
        server.process.terminate()
        server.process.wait(timeout=10)


@pytest.fixture()
def staff_page(browser, web_project, servers, signer):
    """A signed-in staff browser page on a live server of the shared project."""
    root = str(web_project.root)
    if root not in servers:
        port = free_port()
        env = {**os.environ, "HELDOUT_SECRET": SECRET, "HELDOUT_PROJECT": root}
        servers[root] = LiveServer(f"http://127.0.0.1:{port}", None, uvicorn_command(port), env)  # type: ignore[arg-type]
        servers[root].start()
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.goto(f"{servers[root].url}/admin/login?key={signer.admin_key()}")
    opened.base = servers[root].url
    yield opened
    context.close()


def test_reviewer_blacklists_an_image_and_marks_the_class_reviewed_in_chromium(
    staff_page, web_project, artifacts, request
):
    backend = request.node.callspec.params["web_project"]
    name = _review_dataset(web_project)
    page = staff_page
    page.goto(staff_page.base + _class_url(name))
    page.fill("#reviewer", "ada")
    box = page.locator("#sampled input.blacklist").first
    image_id = box.get_attribute("data-image")
    box.check()
    page.screenshot(path=artifacts / f"review-class-{backend}.png", full_page=True)
    page.keyboard.press("r")  # the "mark reviewed" key (the focus is on the checkbox, not a text field)
    page.wait_for_selector("#message.ok")
    assert page.inner_text("#status") == "reviewed"
    with web_project.transaction() as session:
        dataset_id = session.scalar(select(Dataset.dataset_id).where(Dataset.name == name))
        review = session.get(ClassReview, (dataset_id, TABBY))
        entry = session.get(Blacklist, image_id)
    assert (review.status, review.reviewer) == ("reviewed", "ada")
    assert entry is not None and "ada" in entry.reason


def test_keyboard_flags_an_image_and_declares_a_near_duplicate_set_in_chromium(staff_page, web_project):
    name = _review_dataset(web_project)
    page = staff_page
    page.goto(staff_page.base + _class_url(name))
    page.fill("#reviewer", "cy")
    tiles = page.locator("#pool .rtile")
    tiles.nth(0).focus()
    page.keyboard.press("x")  # problematic
    page.keyboard.press("j")
    page.keyboard.press("d")  # near-duplicate set: the 2nd and 3rd pool images
    page.keyboard.press("j")
    page.keyboard.press("d")
    members = [tiles.nth(n).get_attribute("data-image") for n in (1, 2)]
    assert page.input_value("#duplicate-set") == " ".join(members)
    page.keyboard.press("s")
    page.wait_for_selector("#message.ok")
    with web_project.transaction() as session:
        flag = session.get(ImageFlag, tiles.nth(0).get_attribute("data-image"))
        pair = session.get(DuplicatePair, tuple(members))
    assert flag.reviewer == "cy" and (pair.origin, pair.reviewer) == ("final-review", "cy")


def test_reviewer_marks_a_label_wrong_in_the_predictions_browser_in_chromium(
    staff_page, web_project, artifacts, request
):
    backend = request.node.callspec.params["web_project"]
    name = _review_dataset(web_project)
    folder = web_project.root / PREDICTIONS_FOLDER / name
    folder.mkdir(parents=True)
    labels = web_project.classes.indices([TABBY] * 10 + [ESPRESSO] * 10)
    wrong = labels.copy()
    wrong[3] = web_project.classes.index("n02124075")  # Egyptian cat
    np.save(folder / "m1.npy", wrong[:, None])
    np.save(folder / "m2.npy", wrong[:, None])
    np.save(folder / "m3.npy", labels[:, None])
    page = staff_page
    page.goto(f"{staff_page.base}/review/datasets/{name}/predictions")
    page.fill("#reviewer", "bo")
    assert page.locator(".disputed").count() == 1
    label_row = page.locator(".disputed tr.label")
    image_id = label_row.get_attribute("data-image")
    label_row.locator("button[data-state=wrong]").click()
    page.wait_for_selector("#message.ok")
    page.screenshot(path=artifacts / f"review-predictions-{backend}.png", full_page=True)
    with web_project.transaction() as session:
        verdict = session.get(LabelReview, (image_id, TABBY))
    assert (verdict.state, verdict.reviewer) == ("wrong", "bo")
    assert image_id == stored_images(web_project, TABBY)[3]
