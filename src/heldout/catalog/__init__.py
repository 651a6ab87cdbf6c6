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
    Answer,
    Assignment,
    Base,
    Blacklist,
    Blob,
    Candidate,
    Image,
    ImageClass,
    Question,
    Run,
    Score,
    SearchQuery,
    Source,
    Task,
    TaskQuestion,
    Worker,
)

__all__ = [
    "Answer",
    "Assignment",
    "Base",
    "Blacklist",
    "Blob",
    "Candidate",
    "Image",
    "ImageClass",
    "Run",
    "Score",
    "SearchQuery",
    "Question",
    "Source",
    "Task",
    "TaskQuestion",
    "Worker",
    "current_revision",
    "downgrade",
    "head_revision",
    "is_known_revision",
    "upgrade",
]
