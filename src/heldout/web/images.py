"""Images by token: ``GET /img/{token}``.

The token names (assignment, position) only; the image behind it is looked up here. Controls and
candidates take the same path and get the same headers: ``Content-Type: image/jpeg``, a length,
``Cache-Control: private, no-store``; no ETag, Last-Modified or Content-Disposition (the app's
header guard strips the first two from every response). The bytes are the stored 500 px
rendition, which ingest wrote without EXIF, ICC profile or comment.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from heldout.crowd.assignments import rendition
from heldout.project import utcnow
from heldout.web.deps import StateDep

__all__ = ["IMAGE_HEADERS", "router"]

router = APIRouter(tags=["images"])

IMAGE_HEADERS = {"Cache-Control": "private, no-store"}


@router.get("/img/{token}")
def image(token: str, state: StateDep) -> Response:
    now = utcnow()
    ref = state.signer.read_image(token, now=now)
    data = rendition(state.project, ref.assignment_id, ref.position, now=now)
    return Response(data, media_type="image/jpeg", headers=IMAGE_HEADERS)
