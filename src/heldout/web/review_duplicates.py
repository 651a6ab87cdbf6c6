"""The near-duplicate review page for staff (``/review/duplicates``, behind the admin key like ``/admin``).

One queue row at a time: a candidate beside its unreviewed neighbours under one metric that are
closer than the threshold (256 px renditions, distances shown). Tick the duplicates and save:
ticked neighbours become duplicate pairs, every neighbour shown counts as reviewed, with the
reviewer's name and the time (:func:`heldout.dedup.review.record_review`). Keyboard: 1-9 tick a
neighbour, Enter saves, S skips to the next row.

    GET  /review/duplicates?skip=N          the queue's row N (0 = first)
    POST /review/duplicates                 save a row (image_id, metric, shown, duplicate, reviewer)
    GET  /review/duplicates/images/{id}     an image's 256 px rendition
    GET  /review/duplicates/review.js       the page's keyboard script
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy import select

from heldout.catalog import Image
from heldout.crowd.workers import check_field
from heldout.dedup.review import record_review, review_queue
from heldout.web.deps import AdminDep
from heldout.web.images import IMAGE_HEADERS

__all__ = ["REVIEWER_COOKIE", "router"]

router = APIRouter(prefix="/review/duplicates", tags=["review"])

REVIEWER_COOKIE = "heldout_reviewer"
_SCRIPT = Path(__file__).resolve().parent / "static" / "review_duplicates.js"
_Id = Annotated[str, Form(max_length=128)]


@router.get("")
def queue_page(
    request: Request,
    state: AdminDep,
    skip: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    queue = review_queue(state.project)
    item = queue[skip] if skip < len(queue) else None
    names = _class_names(state, [item.image_id, *item.neighbour_ids]) if item else {}
    return state.templates.TemplateResponse(
        request,
        "review_duplicates.html",
        {
            "item": item,
            "rows": list(zip(item.neighbour_ids, item.distances, strict=True)) if item else [],
            "names": names,
            "skip": skip,
            "total": len(queue),
            "reviewer": request.cookies.get(REVIEWER_COOKIE, ""),
        },
    )


def _class_names(state, image_ids: list[str]) -> dict[str, str]:
    """Each image's class as words (its key when the class set does not know it)."""
    classes = state.project.classes
    with state.project.transaction() as session:
        keys = dict(
            session.execute(
                select(Image.image_id, Image.class_key).where(Image.image_id.in_(image_ids))
            ).all()
        )
    return {i: " or ".join(classes[k].names) if k in classes else (k or "") for i, k in keys.items()}


@router.post("")
async def save_review(
    state: AdminDep,
    image_id: _Id,
    metric: Annotated[str, Form(max_length=64)],
    reviewer: Annotated[str, Form(max_length=128)],
    shown: Annotated[list[str], Form()],
    duplicate: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI reads the default, never mutates it)
    skip: Annotated[int, Form(ge=0)] = 0,
) -> Response:
    check_field(reviewer, "reviewer")
    await state.writer.run(record_review, state.project, image_id, metric, shown, duplicate, reviewer)
    response = RedirectResponse(f"/review/duplicates?skip={skip}", status_code=303)
    response.set_cookie(REVIEWER_COOKIE, reviewer, httponly=True, samesite="strict", max_age=30 * 86400)
    return response


@router.get("/images/{image_id}")
def image(image_id: str, state: AdminDep) -> Response:
    return Response(
        state.project.images.bytes(image_id, "256"), media_type="image/jpeg", headers=IMAGE_HEADERS
    )


@router.get("/review.js", include_in_schema=False)
def script(state: AdminDep) -> FileResponse:
    return FileResponse(_SCRIPT, media_type="text/javascript")
