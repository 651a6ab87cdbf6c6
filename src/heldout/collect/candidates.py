"""Adding found candidates to the catalog: bulk inserts, one transaction per batch.

A record whose id is already taken by the same class is a duplicate and skipped, so rerunning a
source adds nothing twice. A photo found again for *another* class becomes its own candidate
under the record's ``alternate_id`` (ImageNetV2: sha1(photo id + ",flickr," + wnid)).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from heldout.catalog import Candidate, Image, Source
from heldout.collect.records import CandidateRecord
from heldout.project import Project, utcnow

__all__ = ["add_candidates", "source_row"]

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
    wanted = {r.image_id for r in records} | {r.alternate_id for r in records if r.alternate_id}
    known = dict(
        session.execute(select(Image.image_id, Image.class_key).where(Image.image_id.in_(wanted))).all()
    )
    images, candidates = [], []
    for record in records:
        image_id = _free_id(record, known)
        if image_id is None:
            continue
        known[image_id] = record.class_key
        images.append(
            {
                "image_id": image_id,
                "role": "candidate",
                "split": None,
                "class_key": record.class_key,
                "status": "failed" if record.failure else "pending",
                "reason": record.failure,
                "location": record.location,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
        fields = {k: getattr(record, k) for k in _CANDIDATE_FIELDS}
        if "id_ours" in fields["record"]:  # the published record names the id actually used
            fields["record"] = {**fields["record"], "id_ours": image_id}
        candidates.append(
            {
                "image_id": image_id,
                "source_id": source_id,
                "search_query_id": record.search_query_id,
                **fields,
            }
        )
    if images:
        session.execute(insert(Image), images)
        session.execute(insert(Candidate), candidates)
    return len(images), len(records) - len(images)


def _free_id(record: CandidateRecord, known: dict[str, str | None]) -> str | None:
    """The id this record gets, or None when it is already in the catalog for its class."""
    if record.image_id not in known:
        return record.image_id
    if known[record.image_id] == record.class_key or not record.alternate_id:
        return None
    return record.alternate_id if record.alternate_id not in known else None
