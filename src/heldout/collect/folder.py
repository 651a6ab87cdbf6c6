"""Candidates from a folder: class subfolders (``<class id>/<file>``) or a CSV of ``path,class``.

Ids are content-derived (sha1 of the bytes), so the same file found twice is one candidate and
a rerun adds nothing new; the same bytes filed under a second class become a second candidate,
sha1(id + "," + class id), as ImageNetV2 did for photos found for two classes.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from heldout.collect.records import CandidateRecord, content_id
from heldout.errors import SourceError

__all__ = ["FolderSource"]

_BATCH = 256
_SKIPPED_NAMES = (".", "_")


class FolderSource:
    """Every file under ``root/<class id>/`` (or listed in a ``path,class`` CSV) is a candidate."""

    kind = "folder"

    def __init__(self, root: str | Path, *, listing: str | Path | None = None):
        self.root = Path(root).resolve()
        self.listing = Path(listing).resolve() if listing else None
        if not (self.listing or self.root).exists():
            raise SourceError("not found", where=self.listing or self.root, fix="check the path")
        self.uri = str(self.listing or self.root)

    def parameters(self) -> dict[str, Any]:
        return {"root": str(self.root), "listing": str(self.listing) if self.listing else None}

    def search(self, project: Any, source_id: int, class_keys: list[str]) -> Iterator[list[CandidateRecord]]:
        wanted = set(class_keys)
        batch: list[CandidateRecord] = []
        for path, class_key in self._files():
            if class_key not in wanted:
                continue
            image_id = content_id(path.read_bytes())
            batch.append(
                CandidateRecord(
                    image_id=image_id,
                    class_key=class_key,
                    location=str(path),
                    alternate_id=hashlib.sha1(f"{image_id},{class_key}".encode()).hexdigest(),
                )
            )
            if len(batch) == _BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _files(self) -> Iterator[tuple[Path, str]]:
        if self.listing is not None:
            yield from self._listed()
            return
        for folder in sorted(
            p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(_SKIPPED_NAMES)
        ):
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not path.name.startswith(_SKIPPED_NAMES):
                    yield path, folder.name

    def _listed(self) -> Iterator[tuple[Path, str]]:
        with self.listing.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"path", "class"} <= set(reader.fieldnames):
                raise SourceError(
                    "a folder listing needs the columns path,class",
                    where=self.listing,
                    fix="add a header row: path,class",
                )
            for line, row in enumerate(reader, start=2):
                path = Path(row["path"])
                path = path if path.is_absolute() else self.listing.parent / path
                if not path.is_file():
                    raise SourceError(f"line {line}: file not found: {path}", where=self.listing)
                yield path, row["class"]
