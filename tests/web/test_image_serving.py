"""Images by opaque token: same path and headers for controls and candidates, nothing that names
the image, the stored metadata-free rendition as bytes."""

from __future__ import annotations

import base64
import io
import re
from datetime import timedelta

from PIL import Image as PILImage
from sqlalchemy import select
from webtools import make_grid, start_worker, take_task

from heldout.catalog import Image, Question, TaskQuestion
from heldout.project import utcnow

FORBIDDEN_HEADERS = ("etag", "last-modified", "content-disposition")


def _grid_tokens(client, signer, project):
    task = make_grid(project)
    page_url = take_task(client, start_worker(client, signer))
    tokens = re.findall(r'<img src="/img/([A-Za-z0-9_-]+)"', client.get(page_url).text)
    return task, page_url, tokens


def _image_row(project, task_id: int, position: int) -> Image:
    with project.transaction() as session:
        return session.execute(
            select(Image)
            .join(Question, Question.image_id == Image.image_id)
            .join(TaskQuestion, TaskQuestion.question_id == Question.question_id)
            .where(TaskQuestion.task_id == task_id, TaskQuestion.position == position)
        ).scalar_one()


def test_image_token_serves_the_stored_500px_rendition(client, signer, web_project):
    task, _, tokens = _grid_tokens(client, signer, web_project)
    response = client.get(f"/img/{tokens[10]}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    image = _image_row(web_project, task.task_id, 10)
    assert response.content == web_project.store.get(web_project.store.key(image.sha256, "500"))


def test_image_response_has_no_etag_last_modified_or_content_disposition(client, signer, web_project):
    _, _, tokens = _grid_tokens(client, signer, web_project)
    headers = client.get(f"/img/{tokens[0]}").headers
    assert not any(name in headers for name in FORBIDDEN_HEADERS)


def test_control_and_candidate_get_the_same_headers(client, signer, web_project):
    _, _, tokens = _grid_tokens(client, signer, web_project)
    control = dict(client.get(f"/img/{tokens[0]}").headers)  # position 0: a positive control
    candidate = dict(client.get(f"/img/{tokens[20]}").headers)
    control.pop("content-length"), candidate.pop("content-length")
    assert control == candidate


def test_image_bytes_carry_no_exif_icc_or_comment(client, signer, web_project):
    _, _, tokens = _grid_tokens(client, signer, web_project)
    with PILImage.open(io.BytesIO(client.get(f"/img/{tokens[3]}").content)) as image:
        assert not {"exif", "icc_profile", "comment"} & set(image.info)
        assert max(image.size) == 500


def test_token_names_no_image_id_class_or_hash(client, signer, web_project):
    task, _, tokens = _grid_tokens(client, signer, web_project)
    image = _image_row(web_project, task.task_id, 5)
    raw = base64.urlsafe_b64decode(tokens[5] + "=" * (-len(tokens[5]) % 4))
    for secret_part in (image.image_id, image.sha256, image.class_key, "reference", "candidate"):
        assert secret_part not in tokens[5]
        assert secret_part.encode() not in raw


def test_tokens_of_one_page_are_all_different(client, signer, web_project):
    _, _, tokens = _grid_tokens(client, signer, web_project)
    assert len(set(tokens)) == 48


def test_image_token_is_refused_after_the_assignment_is_submitted(client, signer, web_project):
    _, page_url, tokens = _grid_tokens(client, signer, web_project)
    client.post(page_url, json={"selected": []})
    assert client.get(f"/img/{tokens[0]}").status_code == 410


def test_altered_image_token_is_refused(client, signer, web_project):
    _, _, tokens = _grid_tokens(client, signer, web_project)
    token = tokens[0]
    altered = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    assert client.get(f"/img/{altered}").status_code == 403


def test_expired_image_token_is_refused(client, signer, web_project):
    make_grid(web_project)
    take_task(client, start_worker(client, signer))
    stale = signer.image(1, 0, expires_at=utcnow() - timedelta(seconds=5))
    assert client.get(f"/img/{stale}").status_code == 403


def test_assignment_token_is_not_an_image_token(client, signer, web_project):
    _, page_url, _ = _grid_tokens(client, signer, web_project)
    assert client.get(f"/img/{page_url.rsplit('/', 1)[1]}").status_code == 403


def test_image_id_in_place_of_a_token_is_refused(client, signer, web_project):
    task, _, _ = _grid_tokens(client, signer, web_project)
    image = _image_row(web_project, task.task_id, 0)
    assert client.get(f"/img/{image.image_id}").status_code == 403


def test_signed_token_for_a_position_outside_the_task_is_not_found(client, signer, web_project):
    make_grid(web_project)
    page_url = take_task(client, start_worker(client, signer))
    reference = signer.read_assignment(page_url.rsplit("/", 1)[1], now=utcnow())
    outside = signer.image(reference.assignment_id, 48, expires_at=None)
    assert client.get(f"/img/{outside}").status_code == 404
