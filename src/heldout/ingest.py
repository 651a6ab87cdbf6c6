"""Ingest: get each pending image's bytes, validate them, store the original and two renditions.

Work goes in chunks; each chunk's bytes are written to the store first and its catalog rows are
committed in one transaction after, so a run killed at any moment loses at most the chunk in
flight, which the next run redoes (store writes of a key are idempotent). Bad files never stop a
batch: each is marked ``bad`` with its own reason; a download that fails is marked ``failed`` and
retried by ``retry_failed=True``.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select, update

from heldout.atomic import write_atomic
from heldout.catalog import Blob, Image
from heldout.collect.download import download_many
from heldout.errors import HeldoutError, ImageError
from heldout.images import PreparedImage, prepare
from heldout.project import Project, utcnow

__all__ = ["IngestReport", "bad_files", "ingest", "write_bad_file_report"]

Progress = Callable[[int, int | None], None]
_CHUNK = 64


@dataclass(frozen=True)
class IngestReport:
    """Counts of one ingest run, and how many files failed for each reason."""

    stored: int = 0
    bad: int = 0
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def ingest(
    project: Project,
    *,
    retry_failed: bool = False,
    limit: int | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest every pending image (and failed downloads with ``retry_failed``)."""
    statuses = ("pending", "failed") if retry_failed else ("pending",)
    with project.transaction() as session:
        query = select(Image.image_id, Image.location).where(
            Image.status.in_(statuses), Image.location.is_not(None)
        )
        todo = session.execute(query.order_by(Image.image_id).limit(limit)).all()
    settings = project.config.images
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    parameters = {"retry_failed": retry_failed, "limit": limit, **settings.model_dump()}
    with project.run("ingest", parameters) as run, _pool(settings.workers) as pool:
        for start in range(0, len(todo), _CHUNK):
            chunk = todo[start : start + _CHUNK]
            outcomes = _process(project, pool, chunk)
            _commit(project, outcomes)
            for outcome in outcomes:
                counts[outcome.status] += 1
                if outcome.reason:
                    reasons[_reason_kind(outcome.reason)] += 1
            if progress:
                progress(start + len(chunk), len(todo))
        run.counts.update(counts, reasons=dict(reasons))
    return IngestReport(counts["stored"], counts["bad"], counts["failed"], dict(reasons))


def bad_files(project: Project) -> list[tuple[str, str, str, str]]:
    """(image id, status, location, reason) of every image that is bad or failed to download."""
    with project.transaction() as session:
        rows = session.execute(
            select(Image.image_id, Image.status, Image.location, Image.reason)
            .where(Image.status.in_(("bad", "failed")))
            .order_by(Image.image_id)
        ).all()
    return [(r.image_id, r.status, r.location or "", r.reason or "") for r in rows]


def write_bad_file_report(project: Project, path: str | Path) -> Path:
    """The bad-file report as CSV: image_id,status,location,reason (written atomically)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("image_id", "status", "location", "reason"))
    writer.writerows(bad_files(project))
    return write_atomic(path, buffer.getvalue())


@dataclass(frozen=True)
class _Outcome:
    image_id: str
    status: str
    reason: str | None = None
    prepared: PreparedImage | None = None
    size_bytes: int = 0


def _process(project: Project, pool: Executor, chunk: Sequence) -> list[_Outcome]:
    fetched = dict(_fetch(project, chunk))
    ready = [(image_id, data) for image_id, data in fetched.items() if isinstance(data, bytes)]
    outcomes = [_Outcome(i, "failed", reason) for i, reason in fetched.items() if isinstance(reason, str)]
    settings = project.config.images
    jobs = [
        pool.submit(
            _prepare, data, image_id, settings.min_side_px, settings.max_pixels, settings.jpeg_quality
        )
        for image_id, data in ready
    ]
    for (image_id, data), job in zip(ready, jobs, strict=True):
        prepared, reason = job.result()
        if prepared is None:
            outcomes.append(_Outcome(image_id, "bad", reason))
            continue
        _store(project, data, prepared)
        outcomes.append(_Outcome(image_id, "stored", prepared=prepared, size_bytes=len(data)))
    return outcomes


def _fetch(project: Project, chunk: Sequence) -> Iterator[tuple[str, bytes | str]]:
    """(image id, bytes) for each image, or (image id, reason) when the bytes cannot be had."""
    urls = {row.location: row.image_id for row in chunk if row.location.startswith(("http://", "https://"))}
    for row in chunk:
        if row.location in urls:
            continue
        try:
            if row.location.startswith("sha256:"):
                yield row.image_id, project.store.get(project.store.key(row.location.removeprefix("sha256:")))
            else:
                yield row.image_id, Path(row.location).read_bytes()
        except (OSError, HeldoutError) as exc:
            yield row.image_id, f"cannot read {row.location}: {getattr(exc, 'what', exc)}"
    for result in download_many(list(urls), project.config.download):
        yield urls[result.url], result.data if result.ok else f"download failed: {result.error}"


def _prepare(data: bytes, name: str, min_side_px: int, max_pixels: int, quality: int) -> tuple:
    """Runs in a worker process: (PreparedImage, None) or (None, reason)."""
    try:
        return prepare(
            data, name=name, min_side_px=min_side_px, max_pixels=max_pixels, jpeg_quality=quality
        ), None
    except ImageError as exc:
        return None, exc.what


def _store(project: Project, data: bytes, prepared: PreparedImage) -> None:
    store = project.store
    store.put(store.key(prepared.sha256, "original"), data)
    for rendition, encoded in prepared.renditions.items():
        store.put(store.key(prepared.sha256, rendition), encoded)


def _commit(project: Project, outcomes: list[_Outcome]) -> None:
    now = utcnow()
    with project.transaction() as session:
        blobs = {o.prepared.sha256: o for o in outcomes if o.prepared is not None}
        existing = set(session.scalars(select(Blob.sha256).where(Blob.sha256.in_(blobs))).all())
        new = [_blob_row(o, now) for sha, o in sorted(blobs.items()) if sha not in existing]
        if new:
            session.execute(insert(Blob), new)
        for outcome in outcomes:
            values = {"status": outcome.status, "reason": outcome.reason, "updated_at": now}
            if outcome.prepared is not None:
                values["sha256"] = outcome.prepared.sha256
            statement = update(Image).where(Image.image_id == outcome.image_id).values(**values)
            if outcome.status == "failed":
                statement = statement.values(attempts=Image.attempts + 1)
            session.execute(statement)


def _blob_row(outcome: _Outcome, now: datetime) -> dict:
    prepared = outcome.prepared
    return {
        "sha256": prepared.sha256,
        "size_bytes": outcome.size_bytes,
        "format": prepared.format,
        "width": prepared.width,
        "height": prepared.height,
        "renditions": ["original", *sorted(prepared.renditions)],
        "flags": list(prepared.flags),
        "created_at": now,
    }


def _reason_kind(reason: str) -> str:
    """Group reasons for the summary: the text before the first colon."""
    return reason.split(":", 1)[0]


def _pool(workers: int) -> Executor:
    """Processes for decoding (CPU-bound); one worker runs in a thread, so tests and small runs stay light."""
    return ThreadPoolExecutor(1) if workers <= 1 else ProcessPoolExecutor(workers)
