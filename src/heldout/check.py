"""The consistency check: every stored image has all its renditions, and stored bytes match their hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from heldout.catalog import Blob, Image
from heldout.errors import HeldoutError
from heldout.project import Project
from heldout.store import RENDITIONS

__all__ = ["CheckReport", "check"]


@dataclass(frozen=True)
class CheckReport:
    checked: int
    problems: list[tuple[str, str]]
    """(sha256 or image id, what is wrong)."""

    @property
    def ok(self) -> bool:
        return not self.problems


def check(
    project: Project, *, verify_hashes: bool = True, progress: Callable[[int, int | None], None] | None = None
) -> CheckReport:
    """Check every blob in the catalog against the store (hashes re-computed with ``verify_hashes``)."""
    with project.transaction() as session:
        blobs = session.scalars(select(Blob.sha256).order_by(Blob.sha256)).all()
        dangling = session.scalars(
            select(Image.image_id).where(Image.status == "stored", Image.sha256.is_(None))
        ).all()
    problems = [(image_id, "stored without a blob") for image_id in dangling]
    store = project.store
    for done, sha256 in enumerate(blobs, start=1):
        for rendition in RENDITIONS:
            if not store.exists(store.key(sha256, rendition)):
                problems.append((sha256, f"rendition {rendition} missing"))
        if verify_hashes:
            try:
                data = store.get(store.key(sha256))
            except HeldoutError:
                continue  # reported as missing above
            if hashlib.sha256(data).hexdigest() != sha256:
                problems.append((sha256, "original bytes do not match their sha256"))
        if progress:
            progress(done, len(blobs))
    return CheckReport(len(blobs), problems)
