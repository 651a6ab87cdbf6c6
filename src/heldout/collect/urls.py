"""Candidates from a CSV of ``url,class``.

A candidate's id is the sha1 of its bytes, so a URL is downloaded when it is collected and its
original bytes go straight into the store (``location = sha256:<hex>``); ingest then makes the
renditions. A URL that fails is recorded under the sha1 of the URL itself with its reason, and
tried again on the next run; URLs already collected are skipped, so a rerun resumes. As in a
folder, the same bytes under a second class become a second candidate, sha1(id + "," + class id).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from heldout.catalog import Candidate, Image
from heldout.collect.download import download_many
from heldout.collect.records import CandidateRecord, content_id
from heldout.errors import SourceError

__all__ = ["UrlListSource", "url_id"]

_BATCH = 64


def url_id(url: str) -> str:
    """The id of a URL that could not be downloaded (no bytes, so no content id)."""
    return hashlib.sha1(f"url,{url}".encode()).hexdigest()


class UrlListSource:
    """Every row of a ``url,class`` CSV is a candidate."""

    kind = "urls"

    def __init__(self, listing: str | Path):
        self.listing = Path(listing).resolve()
        if not self.listing.is_file():
            raise SourceError("URL list not found", where=self.listing, fix="check the path")
        self.uri = str(self.listing)

    def parameters(self) -> dict[str, Any]:
        return {"listing": str(self.listing)}

    def search(self, project: Any, source_id: int, class_keys: list[str]) -> Iterator[list[CandidateRecord]]:
        wanted = set(class_keys)
        rows = [(url, key) for url, key in self._rows() if key in wanted]
        with project.transaction() as session:
            known = session.execute(
                select(Candidate.url, Image.status)
                .join(Image, Image.image_id == Candidate.image_id)
                .where(Candidate.source_id == source_id)
            ).all()
        done = {url for url, status in known if status != "failed"}
        retried = {url for url, status in known if status == "failed"}
        classes: dict[str, list[str]] = {}  # a URL listed for several classes is downloaded once
        for url, key in rows:
            if url not in done and key not in classes.setdefault(url, []):
                classes[url].append(key)
        batch: list[CandidateRecord] = []
        for result in download_many(list(classes), project.config.download):
            if result.ok:
                sha256 = hashlib.sha256(result.data).hexdigest()
                project.store.put(project.store.key(sha256), result.data)
                if result.url in retried:
                    _forget(project, url_id(result.url))
                image_id = content_id(result.data)
                records = [
                    CandidateRecord(
                        image_id=image_id,
                        class_key=key,
                        location=f"sha256:{sha256}",
                        url=result.url,
                        alternate_id=hashlib.sha1(f"{image_id},{key}".encode()).hexdigest(),
                    )
                    for key in classes[result.url]
                ]
            elif result.url in retried:
                continue  # still failing: its failed row is already there
            else:
                records = [
                    CandidateRecord(
                        image_id=url_id(result.url),
                        class_key=classes[result.url][0],
                        location=result.url,
                        url=result.url,
                        failure=result.error,
                    )
                ]
            batch.extend(records)
            if len(batch) >= _BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _rows(self) -> Iterator[tuple[str, str]]:
        with self.listing.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"url", "class"} <= set(reader.fieldnames):
                raise SourceError(
                    "a URL list needs the columns url,class",
                    where=self.listing,
                    fix="add a header row: url,class",
                )
            for line, row in enumerate(reader, start=2):
                url, key = (row["url"] or "").strip(), (row["class"] or "").strip()  # None: a short row
                if not url.startswith(("http://", "https://")):
                    raise SourceError(f"line {line}: not an http(s) URL: {url!r}", where=self.listing)
                if not key:
                    raise SourceError(f"line {line}: no class for {url}", where=self.listing)
                yield url, key


def _forget(project: Any, image_id: str) -> None:
    """Drop the failed row of a URL that has now downloaded (it gets its content id instead)."""
    with project.transaction() as session:
        session.execute(delete(Candidate).where(Candidate.image_id == image_id))
        session.execute(delete(Image).where(Image.image_id == image_id))
