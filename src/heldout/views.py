"""Read-only views of a project's catalog for notebooks and later stages.

``project.images`` and ``project.candidates`` give the access ImageNetV2's ImageLoader and
CandidateData gave, over the catalog instead of private pickles:

    >>> project.images.load("528312fc18f9bf62d472e073843a66b0852cc6ca", "500")   # doctest: +SKIP
    <PIL.Image.Image image mode=RGB size=500x375>
    >>> project.candidates.records("n03843555")[0]["url_type"]                   # doctest: +SKIP
    'url_o'
"""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING, Any

from PIL import Image as PILImage
from sqlalchemy import select

from heldout.catalog import Candidate, Image
from heldout.errors import ChecksumMismatchError, ObjectMissingError

if TYPE_CHECKING:
    from heldout.project import Project

__all__ = ["CandidateView", "ImageView"]


class ImageView:
    """Images by id: their bytes and decoded renditions."""

    def __init__(self, project: Project):
        self._project = project

    def ids(
        self, *, role: str | None = None, status: str | None = None, class_key: str | None = None
    ) -> list[str]:
        query = select(Image.image_id).order_by(Image.image_id)
        for column, value in ((Image.role, role), (Image.status, status), (Image.class_key, class_key)):
            if value is not None:
                query = query.where(column == value)
        with self._project.transaction() as session:
            return list(session.scalars(query))

    def bytes(self, image_id: str, rendition: str = "500") -> bytes:
        with self._project.transaction() as session:
            image = session.get(Image, image_id)
        if image is None or image.sha256 is None:
            state = "unknown" if image is None else f"{image.status} (no stored bytes)"
            raise ObjectMissingError(
                f"image {image_id!r} is {state}", fix="collect and ingest it, or check the id"
            )
        store = self._project.store
        data = store.get(store.key(image.sha256, rendition))
        if rendition == "original" and hashlib.sha256(data).hexdigest() != image.sha256:
            raise ChecksumMismatchError(
                "stored original does not match its sha256",
                where=store.key(image.sha256),
                fix="run `heldout check`, delete the object and ingest the image again",
            )
        return data

    def load(self, image_id: str, rendition: str = "500") -> PILImage.Image:
        """A decoded rendition (RGB; orientation already applied at ingest)."""
        with PILImage.open(io.BytesIO(self.bytes(image_id, rendition))) as opened:
            return opened.convert("RGB")


class CandidateView:
    """Candidates' search records, in the published search-results format."""

    def __init__(self, project: Project):
        self._project = project

    def count(self, class_key: str | None = None) -> int:
        return len(self.ids(class_key))

    def ids(self, class_key: str | None = None) -> list[str]:
        query = select(Image.image_id).where(Image.role == "candidate").order_by(Image.image_id)
        if class_key is not None:
            query = query.where(Image.class_key == class_key)
        with self._project.transaction() as session:
            return list(session.scalars(query))

    def records(self, class_key: str | None = None) -> list[dict[str, Any]]:
        """Each candidate's record as found (published fields), with its class and status."""
        query = (
            select(Candidate, Image.class_key, Image.status)
            .join(Image, Image.image_id == Candidate.image_id)
            .order_by(Candidate.image_id)
        )
        if class_key is not None:
            query = query.where(Image.class_key == class_key)
        with self._project.transaction() as session:
            rows = session.execute(query).all()
        return [
            {
                "id_ours": c.image_id,
                "wnid": key,
                "url": c.url,
                "search_key": c.search_key,
                **c.record,
                "status": status,
            }
            for c, key, status in rows
        ]
