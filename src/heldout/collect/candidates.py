"""Adding found candidates to the catalog: bulk inserts, one transaction per batch.

A record whose id is already taken by the same class is a duplicate and skipped, so rerunning a
source adds nothing twice. A photo found again for *another* class becomes its own candidate
under the record's ``alternate_id`` (ImageNetV2: sha1(photo id + ",flickr," + wnid)).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from heldout.catalog import Image, Source
from heldout.catalog.bulk import bulk_insert
from heldout.collect.records import CandidateRecord
from heldout.project import Project, utcnow

__all__ = ["add_candidates", "source_row"]

_LOOKUP_SLICE = 10_000
_IMAGE_COLUMNS = (
    "image_id",
    "role",
    "class_key",
    "status",
    "reason",
    "location",
    "attempts",
    "created_at",
    "updated_at",
)
_CANDIDATE_FIELDS = (
    "search_key",
    "id_search_engine",
    "url",
    "url_type",
    "license",
    "owner",
    "date_taken",
    "date_upload_search_engine",
    "width",
    "height",
    "record",
)


def source_row(session: Session, kind: str, uri: str, parameters: dict) -> int:
    """The id of the source (kind, uri), created on first use."""
    found = session.scalar(select(Source.source_id).where(Source.kind == kind, Source.uri == uri))
    if found is not None:
        return found
    row = Source(kind=kind, uri=uri, parameters=parameters, created_at=utcnow())
    session.add(row)
    session.flush()
    return row.source_id


def add_candidates(project: Project, source_id: int, records: Sequence[CandidateRecord]) -> tuple[int, int]:
    """Insert new candidates; returns (added, skipped as already known)."""
    with project.transaction() as session:
        return _insert(session, source_id, records, utcnow())


def _insert(
    session: Session,
    source_id: int,
    records: Sequence[CandidateRecord],
    now: datetime,
) -> tuple[int, int]:
    known = _known_classes(session, [r.image_id for r in records])
    alternates = [r.alternate_id for r in records if r.alternate_id and r.image_id in known]
    known.update(_known_classes(session, alternates))
    images, candidates = [], []
    for record in records:
        image_id = _free_id(record, known)
        if image_id is None:
            continue
        known[image_id] = record.class_key
        status = "failed" if record.failure else "pending"
        images.append(
            (image_id, "candidate", record.class_key, status, record.failure, record.location, 0, now, now)
        )
        published = record.record
        if "id_ours" in published:  # the published record names the id actually used
            published = {**published, "id_ours": image_id}
        fields = [getattr(record, k) for k in _CANDIDATE_FIELDS[:-1]]
        candidates.append((image_id, source_id, record.search_query_id, *fields, json.dumps(published)))
    bulk_insert(session, "image", _IMAGE_COLUMNS, images)
    bulk_insert(
        session, "candidate", ("image_id", "source_id", "search_query_id", *_CANDIDATE_FIELDS), candidates
    )
    return len(images), len(records) - len(images)


def _known_classes(session: Session, image_ids: list[str]) -> dict[str, str | None]:
    """Class of each of ``image_ids`` already in the catalog, looked up in slices that stay far
    below the drivers' bind-parameter limits (PostgreSQL: 65,535)."""
    known: dict[str, str | None] = {}
    for start in range(0, len(image_ids), _LOOKUP_SLICE):
        part = image_ids[start : start + _LOOKUP_SLICE]
        known.update(
            session.execute(select(Image.image_id, Image.class_key).where(Image.image_id.in_(part))).all()
        )
    return known


def _free_id(record: CandidateRecord, known: dict[str, str | None]) -> str | None:
    """The id this record gets, or None when it is already in the catalog for its class."""
    if record.image_id not in known:
        return record.image_id
    if known[record.image_id] == record.class_key or not record.alternate_id:
        return None
    return record.alternate_id if record.alternate_id not in known else None
