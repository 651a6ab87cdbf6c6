"""The catalog: SQLAlchemy models and Alembic migrations, on SQLite (WAL) or PostgreSQL.

Only :class:`heldout.project.Project` creates engines and sessions; stages get a session from
``project.transaction()``.
"""

from heldout.catalog.migrations_runner import (
    current_revision,
    downgrade,
    head_revision,
    is_known_revision,
    upgrade,
)
from heldout.catalog.models import (
    Base,
    Blacklist,
    Blob,
    Candidate,
    Image,
    ImageClass,
    Run,
    SearchQuery,
    Source,
)

__all__ = [
    "Base",
    "Blacklist",
    "Blob",
    "Candidate",
    "Image",
    "ImageClass",
    "Run",
    "SearchQuery",
    "Source",
    "current_revision",
    "downgrade",
    "head_revision",
    "is_known_revision",
    "upgrade",
]
