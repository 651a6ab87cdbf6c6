"""The blacklist: images excluded from every later stage, each with the reason."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select

from heldout.catalog import Blacklist
from heldout.errors import ConfigError
from heldout.project import Project, utcnow

__all__ = ["add_to_blacklist", "list_blacklist", "remove_from_blacklist"]


def add_to_blacklist(project: Project, image_ids: Sequence[str], reason: str) -> int:
    """Blacklist ``image_ids`` (the reason of an already listed image is updated); returns how many are new."""
    if not reason.strip():
        raise ConfigError("a blacklist entry needs a reason", fix='--reason "blurry"')
    with project.transaction() as session:
        existing = {
            b.image_id: b for b in session.scalars(select(Blacklist).where(Blacklist.image_id.in_(image_ids)))
        }
        for image_id in dict.fromkeys(image_ids):
            if image_id in existing:
                existing[image_id].reason = reason
            else:
                session.add(Blacklist(image_id=image_id, reason=reason, created_at=utcnow()))
    return len(set(image_ids) - set(existing))


def remove_from_blacklist(project: Project, image_ids: Sequence[str]) -> int:
    with project.transaction() as session:
        return session.execute(delete(Blacklist).where(Blacklist.image_id.in_(image_ids))).rowcount


def list_blacklist(project: Project) -> list[tuple[str, str]]:
    """(image id, reason), sorted by id."""
    with project.transaction() as session:
        return [
            tuple(r)
            for r in session.execute(
                select(Blacklist.image_id, Blacklist.reason).order_by(Blacklist.image_id)
            )
        ]
