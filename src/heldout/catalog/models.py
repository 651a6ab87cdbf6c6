"""The catalog's tables (SQLAlchemy 2). The schema changes only through Alembic migrations.

An *image* is anything a test set, a crowd task or a duplicate check can name: a candidate found
by a source, or a reference image of the original dataset (by split). Its bytes live in the
content-addressed store as a *blob*; an image may have no blob at all (metadata-only: a published
candidate id or an ImageNet file name), so published tasks, answers and manifests import
faithfully. Identical bytes are one blob shared by every image that has them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Answer",
    "Assignment",
    "Base",
    "Blacklist",
    "Blob",
    "Candidate",
    "ClassReview",
    "Dataset",
    "DatasetImage",
    "DuplicateOverride",
    "DuplicatePair",
    "DuplicateStatus",
    "Image",
    "ImageClass",
    "ImageFlag",
    "LabelReview",
    "Neighbour",
    "NeighbourReview",
    "Run",
    "Score",
    "SearchQuery",
    "Source",
    "Task",
    "TaskQuestion",
    "Question",
    "Threshold",
    "Worker",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=False)}


class ImageClass(Base):
    """A class of the project's class set; ``class_id`` is the class index."""

    __tablename__ = "class"

    class_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    names: Mapped[list[Any]]
    description: Mapped[str] = mapped_column(Text, default="")


class Source(Base):
    """Where candidates came from: a Flickr search, a folder, a URL list, a reference set."""

    __tablename__ = "source"

    source_id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    uri: Mapped[str] = mapped_column(Text)
    parameters: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("kind", "uri", name="uq_source_kind_uri"),)


class SearchQuery(Base):
    """One query of a search source over one date window, with its paging cursor.

    ``status``: ``pending`` (next page is ``next_page``), ``done``, or ``split`` (more results
    than the engine returns for one query; replaced by two queries over halves of the window).
    """

    __tablename__ = "search_query"

    search_query_id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.source_id"))
    class_key: Mapped[str] = mapped_column(String(64))
    search_key: Mapped[str] = mapped_column(Text)
    min_date: Mapped[str] = mapped_column(String(32))
    max_date: Mapped[str] = mapped_column(String(32))
    budget: Mapped[int]
    next_page: Mapped[int] = mapped_column(default=1)
    found: Mapped[int] = mapped_column(default=0)
    total: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("search_query.search_query_id"))
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint(
            "source_id", "class_key", "search_key", "min_date", "max_date", name="uq_search_query_window"
        ),
    )


class Blob(Base):
    """Stored bytes, by sha256 of the original; renditions are derived and keyed by the same hash."""

    __tablename__ = "blob"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int]
    format: Mapped[str] = mapped_column(String(16))
    width: Mapped[int]
    height: Mapped[int]
    renditions: Mapped[list[Any]]
    flags: Mapped[list[Any]]
    created_at: Mapped[datetime]


class Image(Base):
    """A candidate or reference image; ``status`` is pending, stored, bad or metadata."""

    __tablename__ = "image"

    image_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    split: Mapped[str | None] = mapped_column(String(16))
    class_key: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(ForeignKey("blob.sha256"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(Text)
    """Where the bytes come from before ingest: a URL or a local path."""
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_image_status_role", "status", "role"),
        Index("ix_image_class_key", "class_key"),
        Index("ix_image_sha256", "sha256"),
    )


class Candidate(Base):
    """The search record of a candidate image, in the fields of the published search results."""

    __tablename__ = "candidate"

    image_id: Mapped[str] = mapped_column(ForeignKey("image.image_id"), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("source.source_id"))
    search_query_id: Mapped[int | None] = mapped_column(ForeignKey("search_query.search_query_id"))
    id_search_engine: Mapped[str | None] = mapped_column(String(64))
    search_key: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    url_type: Mapped[str | None] = mapped_column(String(16))
    license: Mapped[str | None] = mapped_column(String(16))
    owner: Mapped[str | None] = mapped_column(String(128))
    date_taken: Mapped[str | None] = mapped_column(String(32))
    date_upload_search_engine: Mapped[str | None] = mapped_column(String(32))
    width: Mapped[int | None]
    height: Mapped[int | None]
    record: Mapped[dict[str, Any]]
    """The full record as found (published format), so it round-trips exactly."""

    __table_args__ = (Index("ix_candidate_id_search_engine", "id_search_engine"),)


class Blacklist(Base):
    """Images excluded from every later stage, with the reason."""

    __tablename__ = "blacklist"

    image_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class Run(Base):
    """Every stage run leaves a record: what ran, with which parameters, version and seed, and how it ended."""

    __tablename__ = "run"

    run_id: Mapped[int] = mapped_column(primary_key=True)
    stage: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[dict[str, Any]]
    package_version: Mapped[str] = mapped_column(String(32))
    seed: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default="running")
    counts: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class Worker(Base):
    """Someone who answers questions: a crowd worker or an expert. ``external_id`` is opaque
    (a hash of the platform's worker id, or the id a public release used)."""

    __tablename__ = "worker"

    worker_id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="crowd")
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    """active, qualifying (must pass golden questions first) or paused (accuracy dropped)."""
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class Task(Base):
    """A unit of crowd work: a grid (questions sharing a class), a verify task (the candidate
    classes of one image), or a batch of imported answers."""

    __tablename__ = "task"

    task_id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    class_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open")
    max_assignments: Mapped[int] = mapped_column(default=10, server_default="10")
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Question(Base):
    """Does image ``image_id`` show an object of class ``class_key``? Golden questions have expert answers."""

    __tablename__ = "question"

    question_id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("image.image_id"))
    class_key: Mapped[str] = mapped_column(String(64))
    is_golden: Mapped[bool] = mapped_column(default=False)
    is_original_label: Mapped[bool] = mapped_column(default=False)
    """The class is the image's label in the original dataset (a grouping for priors)."""
    published_score: Mapped[float | None]
    """A score released with imported answers (ReaL's Dawid–Skene scores), for comparison."""

    __table_args__ = (UniqueConstraint("image_id", "class_key", name="uq_question_image_class"),)


class TaskQuestion(Base):
    """A question shown in a task, at a position, as a candidate or a positive/negative control."""

    __tablename__ = "task_question"

    task_id: Mapped[int] = mapped_column(ForeignKey("task.task_id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    question_id: Mapped[int] = mapped_column(ForeignKey("question.question_id"))
    role: Mapped[str] = mapped_column(String(16), default="candidate")

    __table_args__ = (Index("ix_task_question_question_id", "question_id"),)


class Assignment(Base):
    """One worker's go at one task; only submitted or approved assignments count."""

    __tablename__ = "assignment"

    assignment_id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.task_id"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.worker_id"))
    external_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    """assigned (in progress), submitted, approved, rejected or expired."""
    started_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("task_id", "worker_id", name="uq_assignment_task_worker"),
        Index("ix_assignment_worker_id", "worker_id"),
    )


class Answer(Base):
    """One worker's reply to one question within an assignment: 0 = no, 1 = maybe, 2 = yes."""

    __tablename__ = "answer"

    answer_id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignment.assignment_id"))
    question_id: Mapped[int] = mapped_column(ForeignKey("question.question_id"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("worker.worker_id"))
    value: Mapped[int] = mapped_column(SmallInteger)
    answered_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("assignment_id", "question_id", name="uq_answer_assignment_question"),
        Index("ix_answer_question_id", "question_id"),
        Index("ix_answer_worker_id", "worker_id"),
    )


class Score(Base):
    """An aggregated score of a question by one method (``frequency``, ``dawid-skene``, ...),
    with the number of answers behind it; rewritten by each aggregation run."""

    __tablename__ = "score"

    question_id: Mapped[int] = mapped_column(ForeignKey("question.question_id"), primary_key=True)
    method: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[float]
    annotations: Mapped[int]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.run_id"))


class Neighbour(Base):
    """One of the nearest neighbours of an image under one metric (``l2``, ``dssim``, or a CNN
    extractor's name), by rank; rewritten when the metric is run again for that image."""

    __tablename__ = "neighbour"

    image_id: Mapped[str] = mapped_column(ForeignKey("image.image_id"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    rank: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    neighbour_id: Mapped[str] = mapped_column(ForeignKey("image.image_id"))
    distance: Mapped[float]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.run_id"))

    __table_args__ = (Index("ix_neighbour_neighbour_id", "neighbour_id"),)


class NeighbourReview(Base):
    """A person looked at (image, neighbour) under a metric; the pair never needs review again."""

    __tablename__ = "neighbour_review"

    image_id: Mapped[str] = mapped_column(ForeignKey("image.image_id"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    neighbour_id: Mapped[str] = mapped_column(ForeignKey("image.image_id"), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(128))
    reviewed_at: Mapped[datetime]


class DuplicatePair(Base):
    """Two images declared near duplicates (by review, import, or the final review), keyed as the
    published ``near_duplicates.json`` is: ``image_id`` is the key, ``other_id`` one of its list."""

    __tablename__ = "duplicate_pair"

    image_id: Mapped[str] = mapped_column(ForeignKey("image.image_id"), primary_key=True)
    other_id: Mapped[str] = mapped_column(ForeignKey("image.image_id"), primary_key=True)
    origin: Mapped[str] = mapped_column(String(32), default="review")
    reviewer: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_duplicate_pair_other_id", "other_id"),)


class DuplicateOverride(Base):
    """The member a person chose to keep in its duplicate component; wins over the resolution rule."""

    __tablename__ = "duplicate_override"

    image_id: Mapped[str] = mapped_column(ForeignKey("image.image_id"), primary_key=True)
    reviewer: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]


class DuplicateStatus(Base):
    """The resolution's verdict per image in a duplicate component: ``kept``, ``duplicate`` (another
    member was kept) or ``reference`` (the component touches a reference image); rewritten by each run."""

    __tablename__ = "duplicate_status"

    image_id: Mapped[str] = mapped_column(ForeignKey("image.image_id"), primary_key=True)
    component: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.run_id"))


class Threshold(Base):
    """The review threshold of a metric (published, configured, or calibrated at a target recall)."""

    __tablename__ = "threshold"

    metric: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float]
    origin: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.run_id"))


class Dataset(Base):
    """A sampled test set revision (``<set>-<letter>-<revision>``) with its full manifest."""

    __tablename__ = "dataset"

    dataset_id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    variant: Mapped[str] = mapped_column(String(32))
    revision: Mapped[int]
    starting_from: Mapped[str | None] = mapped_column(String(128))
    seed: Mapped[int | None]
    is_valid: Mapped[bool]
    manifest: Mapped[dict[str, Any]]
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.run_id"))
    created_at: Mapped[datetime]


class DatasetImage(Base):
    """An image of a dataset revision, in manifest order, with the class it is labelled with."""

    __tablename__ = "dataset_image"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.dataset_id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    image_id: Mapped[str] = mapped_column(ForeignKey("image.image_id"))
    class_key: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_dataset_image_image_id", "image_id"),)


class ClassReview(Base):
    """The final review of one class of one dataset revision: ``reviewed`` or ``problematic``."""

    __tablename__ = "class_review"

    dataset_id: Mapped[int] = mapped_column(ForeignKey("dataset.dataset_id"), primary_key=True)
    class_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    reviewer: Mapped[str] = mapped_column(String(128))
    carried_from: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime]


class ImageFlag(Base):
    """An image a reviewer flagged as problematic (kept out of sampling until the flag is removed)."""

    __tablename__ = "image_flag"

    image_id: Mapped[str] = mapped_column(ForeignKey("image.image_id"), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]


class LabelReview(Base):
    """A reviewer's verdict on whether ``class_key`` (a model's prediction or the label) is right for
    the image: ``correct``, ``wrong`` or ``unclear``. It queues nothing and never changes the label."""

    __tablename__ = "label_review"

    image_id: Mapped[str] = mapped_column(ForeignKey("image.image_id"), primary_key=True)
    class_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    reviewer: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime]
