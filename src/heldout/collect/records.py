"""What a source yields: one record per candidate it found, in the published search-record shape."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["CandidateRecord", "Source", "content_id", "flickr_id"]


@dataclass(frozen=True)
class CandidateRecord:
    """One candidate image as a source found it.

    ``location`` is where ingest gets the bytes: an http(s) URL, a local path, or
    ``sha256:<hex>`` when the source already put the original bytes in the store. ``record``
    holds every field of the published search-record format, so it round-trips exactly.
    """

    image_id: str
    class_key: str
    location: str
    search_key: str | None = None
    id_search_engine: str | None = None
    url: str | None = None
    url_type: str | None = None
    license: str | None = None
    owner: str | None = None
    date_taken: str | None = None
    date_upload_search_engine: str | None = None
    width: int | None = None
    height: int | None = None
    record: dict[str, Any] = field(default_factory=dict)
    alternate_id: str | None = None
    """The id to use when ``image_id`` is already a candidate of another class."""
    search_query_id: int | None = None
    """The catalog query that found it (search sources)."""
    failure: str | None = None
    """Why the source could not get the bytes (the image is recorded as failed, with this reason)."""


class Source(Protocol):
    """A place candidates come from. ``kind`` and ``uri`` identify it in the catalog."""

    kind: str
    uri: str

    def parameters(self) -> dict[str, Any]:
        """Settings recorded with the source (and the run), for provenance."""
        ...

    def search(self, project: Any, source_id: int, class_keys: list[str]) -> Iterator[list[CandidateRecord]]:
        """Yield batches of records; a source that pages saves its cursor in the catalog after each batch."""
        ...


def flickr_id(photo_id: str, class_key: str | None = None) -> str:
    """ImageNetV2's candidate id: sha1(photo id + "flickr"), or, for a photo found again for
    another class, sha1(photo id + ",flickr," + wnid)."""
    text = f"{photo_id}flickr" if class_key is None else f"{photo_id},flickr,{class_key}"
    return hashlib.sha1(text.encode()).hexdigest()


def content_id(data: bytes) -> str:
    """Candidate id of a file or URL source: sha1 of its bytes (40 hex, like the published ids)."""
    return hashlib.sha1(data).hexdigest()
