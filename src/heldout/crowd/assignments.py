"""Assignments: giving a worker a task, taking their answers, approving and rejecting.

Rules, each enforced here (the web app only calls these functions):

* **Issue.** A worker gets an assignment of a task at most once (the catalog's unique
  (task, worker) key). A task has ``max_assignments`` slots; a slot is taken by an assignment
  that is submitted, approved, or assigned and not yet expired, so an abandoned assignment frees
  its slot when it expires (``[crowd] assignment_duration_s`` after it was issued) and the slot is
  issued again, to someone else. Rejected assignments free their slot too. A worker with an open
  assignment gets that one back instead of a new one. Open tasks are issued oldest first.
  Before anything is issued the worker is checked (:func:`heldout.crowd.workers.check_worker`):
  paused workers get nothing, qualifying workers get ``qualification`` tasks only.
* **Submit.** Answers are ``{position: value}`` for *every* position of the task, values 0 (no),
  1 (maybe), 2 (yes). They are written in one transaction with the assignment's new status, so
  when :func:`submit_answers` returns they are committed. Submitting the same answers again
  returns the same receipt and stores nothing (``is_repeat``); different answers to a submitted
  assignment are refused, as are answers to an expired assignment or from another worker.
* **Concurrency.** Each write transaction takes the database's write lock first (SQLite: a no-op
  write, so read-then-write cannot interleave across processes; PostgreSQL: ``FOR UPDATE`` on the
  task or assignment row), so two workers racing for a task's last slot cannot both get it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Dialect, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from heldout.answers import VALID_STATUSES
from heldout.catalog import Answer, Assignment, Image, Question, Task, TaskQuestion
from heldout.crowd.adaptive_issue import maybe_close_settled_tasks
from heldout.crowd.workers import QUALIFICATION_KIND, WORK_KINDS, check_field, check_worker
from heldout.errors import (
    AssignmentClosedError,
    DuplicateAnswerError,
    InvalidAnswersError,
    NoTaskAvailableError,
    ObjectMissingError,
    TaskNotAssignedError,
    UnknownTaskError,
    WorkerPausedError,
)
from heldout.project import Project, utcnow

__all__ = [
    "AssignmentView",
    "IssuedAssignment",
    "SubmitReceipt",
    "Submission",
    "TaskSummary",
    "assignment_view",
    "expire_assignments",
    "issue_assignment",
    "rendition",
    "review_assignment",
    "submit_answers",
    "submit_many",
    "submitted_answers",
    "task_summary",
]

OPEN = "open"
_CLOSED_STATUSES = ("submitted", "approved", "rejected")
_CANDIDATE_BATCH = 20


@dataclass(frozen=True)
class IssuedAssignment:
    assignment_id: int
    task_id: int
    worker_id: int
    kind: str
    status: str
    expires_at: datetime | None
    is_new: bool


@dataclass(frozen=True)
class SubmitReceipt:
    """What a submission stored; the same for a repeated submission (``is_repeat`` True)."""

    assignment_id: int
    task_id: int
    answers: int
    submitted_at: datetime
    is_repeat: bool


@dataclass(frozen=True)
class AssignmentView:
    """What a task page needs: positions in display order and, per position, the class asked about."""

    assignment_id: int
    worker_id: int
    task_id: int
    kind: str
    class_key: str | None
    status: str
    expires_at: datetime | None
    positions: tuple[int, ...]
    class_keys: tuple[str, ...]
    links: tuple[str, ...]
    external_id: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status == "assigned"


def issue_assignment(
    project: Project,
    worker_id: int,
    *,
    task_uuid: str | None = None,
    external_id: str | None = None,
    now: datetime | None = None,
) -> IssuedAssignment:
    """An assignment for ``worker_id``: their open one, else a new one of the oldest open task with
    a free slot (or of the task ``task_uuid``, as MTurk asks; ``external_id`` is MTurk's
    assignment id)."""
    now = now or utcnow()
    if external_id is not None:
        check_field(external_id, "assignmentId")
    state = check_worker(project, worker_id)
    if state.status == "paused":
        raise WorkerPausedError("you cannot take more tasks in this project", fix=state.reason)
    kinds = (QUALIFICATION_KIND,) if state.status == "qualifying" else WORK_KINDS
    duration = timedelta(seconds=project.config.crowd.assignment_duration_s)
    maybe_close_settled_tasks(project)  # [crowd] adaptive: settled tasks are no longer issued
    with project.transaction() as session:
        _lock_for_write(session)
        if task_uuid is not None:
            return _issue_named(session, worker_id, task_uuid, kinds, external_id, now, duration)
        current = session.execute(
            select(Assignment, Task.kind)
            .join(Task, Task.task_id == Assignment.task_id)
            .where(
                Assignment.worker_id == worker_id,
                Assignment.status == "assigned",
                Assignment.expires_at > now,
                Task.kind.in_(kinds),
            )
            .order_by(Assignment.assignment_id)
            .limit(1)
        ).first()
        if current is not None:
            return _issued(current[0], current[1], is_new=False)
        _expire_own(session, worker_id, now)
        taken = (
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.task_id == Task.task_id, _holds_slot(now))
            .scalar_subquery()
        )
        mine = exists().where(Assignment.task_id == Task.task_id, Assignment.worker_id == worker_id)
        candidates = session.execute(
            select(Task.task_id, Task.kind)
            .where(Task.status == OPEN, Task.kind.in_(kinds), ~mine, taken < Task.max_assignments)
            .order_by(Task.task_id)
            .limit(_CANDIDATE_BATCH)
        ).all()
        for task_id, kind in candidates:
            assignment = _claim(session, task_id, worker_id, external_id, now, duration)
            if assignment is not None:
                return _issued(assignment, kind, is_new=True)
    raise NoTaskAvailableError(
        "there is no task for you right now" if kinds == WORK_KINDS else "there is no qualification task now",
        fix="come back later",
    )


def submit_answers(
    project: Project,
    assignment_id: int,
    answers: Mapping[int, int] | None = None,
    *,
    selected: Collection[int] | None = None,
    worker_id: int | None = None,
    now: datetime | None = None,
) -> SubmitReceipt:
    """Store a worker's answers to every position of the assignment's task (see the module rules):
    ``answers`` as ``{position: value}``, or for a grid ``selected``, the ticked positions (yes),
    every other position no. ``worker_id``, when given, must own the assignment."""
    (outcome,) = submit_many(project, [Submission(assignment_id, answers, selected, worker_id)], now=now)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


@dataclass(frozen=True)
class Submission:
    """One submission, as :func:`submit_answers` takes it."""

    assignment_id: int
    answers: Mapping[int, int] | None = None
    selected: Collection[int] | None = None
    worker_id: int | None = None


def submit_many(
    project: Project, submissions: Sequence[Submission], *, now: datetime | None = None
) -> list[SubmitReceipt | Exception]:
    """Several submissions in one transaction and one commit (the web app's group commit): each is
    checked and written in its own savepoint, so a refused one is rolled back alone and its error
    stands in its place in the returned list. When this returns, every receipt in it is committed.
    On SQLite the statements go straight to the driver (about a tenth of SQLAlchemy's cost per
    statement, which dominated a submission)."""
    now = now or utcnow()
    outcomes: list[SubmitReceipt | Exception] = []
    with project.transaction() as session:
        _lock_for_write(session)
        connection = session.connection()
        rows: _CoreRows | _SqliteRows
        if connection.dialect.name == "sqlite":
            rows = _SqliteRows(connection)
            savepoint = rows.savepoint
        else:
            rows, savepoint = _CoreRows(connection), session.begin_nested
        for submission in submissions:
            try:
                with savepoint():
                    outcomes.append(_submit(project, connection, rows, submission, now))
            except Exception as error:  # noqa: BLE001 - this submission's outcome; the others go on
                outcomes.append(error)
    return outcomes


def _submit(
    project: Project,
    connection: Connection,
    rows: _CoreRows | _SqliteRows,
    submission: Submission,
    now: datetime,
) -> SubmitReceipt:
    assignment_id, answers, selected = submission.assignment_id, submission.answers, submission.selected
    if (answers is None) == (selected is None):
        raise InvalidAnswersError("give either answers or selected positions", fix="answer every image")
    given = _check_values(answers) if answers is not None else _check_selection(selected)
    row = rows.assignment(assignment_id)
    if row is None:
        raise UnknownTaskError("this task does not exist")
    task_id, owner, status, expires_at, submitted_at = row
    if submission.worker_id is not None and owner != submission.worker_id:
        raise TaskNotAssignedError("this task was given to someone else")
    layout = _task_layout(project, connection, task_id).questions
    if selected is not None:
        given = _selection_answers(given, layout)
    by_question = _by_question(given, layout)
    if status in _CLOSED_STATUSES:
        stored = rows.answers(assignment_id)
        if stored != by_question:
            raise DuplicateAnswerError(
                "this task was already submitted with other answers", fix="start a new task"
            )
        return SubmitReceipt(assignment_id, task_id, len(stored), submitted_at or now, True)
    if status != "assigned" or (expires_at is not None and expires_at <= now):
        raise AssignmentClosedError("the time for this task ran out", fix="start a new task")
    rows.submit(assignment_id, owner, by_question, now)
    return SubmitReceipt(assignment_id, task_id, len(by_question), now, False)


def review_assignment(project: Project, assignment_id: int, *, approve: bool) -> str:
    """Approve or reject a submitted assignment (a decision can be changed); returns the new status.
    Rejected answers stay in the catalog but no longer count."""
    with project.transaction() as session:
        _lock_for_write(session)
        assignment = session.get(Assignment, assignment_id, with_for_update=True)
        if assignment is None:
            raise UnknownTaskError(f"no assignment {assignment_id}")
        if assignment.status not in _CLOSED_STATUSES:
            raise AssignmentClosedError(
                f"assignment {assignment_id} is {assignment.status}, not submitted",
                fix="approve or reject submitted assignments only",
            )
        assignment.status = "approved" if approve else "rejected"
        return assignment.status


def expire_assignments(project: Project, *, now: datetime | None = None) -> int:
    """Mark every overdue ``assigned`` assignment ``expired``; returns how many. (Issuing does not
    need this: an overdue assignment holds no slot. It keeps the admin's counts honest.)"""
    now = now or utcnow()
    with project.transaction() as session:
        _lock_for_write(session)
        result = session.execute(
            update(Assignment)
            .where(Assignment.status == "assigned", Assignment.expires_at <= now)
            .values(status="expired")
        )
        return result.rowcount or 0


def assignment_view(project: Project, assignment_id: int, *, now: datetime | None = None) -> AssignmentView:
    """The assignment's task as a page shows it. An overdue assignment reads as ``expired``."""
    now = now or utcnow()
    found = _quick_view(project, assignment_id) if project.engine.dialect.name == "sqlite" else None
    if found is None:
        with project.transaction() as session:
            connection = session.connection()
            row = connection.execute(_VIEW_ROW, {"assignment": assignment_id}).first()
            if row is None:
                raise UnknownTaskError("this task does not exist")
            layout = _task_layout(project, connection, row[0])
        found = tuple(row), layout
    (task_id, worker_id, status, expires_at, external_id), layout = found
    if status == "assigned" and expires_at is not None and expires_at <= now:
        status = "expired"
    return AssignmentView(
        assignment_id=assignment_id,
        worker_id=worker_id,
        task_id=task_id,
        kind=layout.kind,
        class_key=layout.class_key,
        status=status,
        expires_at=expires_at,
        positions=layout.positions,
        class_keys=layout.class_keys,
        links=layout.links,
        external_id=external_id,
    )


def submitted_answers(project: Project, assignment_id: int) -> dict[int, int]:
    """{position: value} of a submitted assignment (what MTurk's hand-back form carries)."""
    with project.transaction() as session:
        rows = session.execute(
            select(TaskQuestion.position, Answer.value)
            .join(Assignment, Assignment.assignment_id == Answer.assignment_id)
            .join(
                TaskQuestion,
                (TaskQuestion.task_id == Assignment.task_id)
                & (TaskQuestion.question_id == Answer.question_id),
            )
            .where(Answer.assignment_id == assignment_id)
            .order_by(TaskQuestion.position)
        ).all()
    return dict(rows)


@dataclass(frozen=True)
class TaskSummary:
    """What a preview shows of a task before it is accepted."""

    kind: str
    class_key: str | None
    questions: int


def task_summary(project: Project, task_uuid: str) -> TaskSummary:
    """The kind, class and size of the task ``task_uuid`` (an MTurk preview: no images)."""
    with project.transaction() as session:
        row = session.execute(
            select(Task.kind, Task.class_key, func.count(TaskQuestion.position))
            .join(TaskQuestion, TaskQuestion.task_id == Task.task_id, isouter=True)
            .where(Task.uuid == task_uuid)
            .group_by(Task.task_id)
        ).first()
    if row is None:
        raise UnknownTaskError("this task does not exist")
    return TaskSummary(row[0], row[1], row[2])


def rendition(project: Project, assignment_id: int, position: int, *, now: datetime | None = None) -> bytes:
    """The 500 px rendition shown at ``position`` of an *open* assignment: controls and candidates
    alike, the stored metadata-free JPEG. Finished or expired assignments show nothing."""
    now = now or utcnow()
    with project.transaction() as session:
        row = session.execute(
            select(Assignment.status, Assignment.expires_at, Image.sha256)
            .join(TaskQuestion, TaskQuestion.task_id == Assignment.task_id)
            .join(Question, Question.question_id == TaskQuestion.question_id)
            .join(Image, Image.image_id == Question.image_id)
            .where(Assignment.assignment_id == assignment_id, TaskQuestion.position == position)
        ).first()
    if row is None:
        raise UnknownTaskError("no such image")
    status, expires_at, sha256 = row
    if status != "assigned" or (expires_at is not None and expires_at <= now):
        raise AssignmentClosedError("this task is finished", fix="start a new task")
    if sha256 is None:
        raise ObjectMissingError("no stored image", fix="ingest the task's images")
    store = project.store
    return store.get(store.key(sha256, "500"))


# --- machinery -------------------------------------------------------------------------------------


# statements built once (their compiled forms are cached by SQLAlchemy)
_SUBMIT_ROW = (
    select(
        Assignment.task_id,
        Assignment.worker_id,
        Assignment.status,
        Assignment.expires_at,
        Assignment.submitted_at,
    )
    .where(Assignment.assignment_id == bindparam("assignment"))
    .with_for_update()
)
_VIEW_ROW = select(
    Assignment.task_id,
    Assignment.worker_id,
    Assignment.status,
    Assignment.expires_at,
    Assignment.external_id,
).where(Assignment.assignment_id == bindparam("assignment"))
_STORED_ANSWERS = select(Answer.question_id, Answer.value).where(
    Answer.assignment_id == bindparam("assignment")
)
_MARK_SUBMITTED = (
    update(Assignment.__table__)
    .where(Assignment.__table__.c.assignment_id == bindparam("assignment"))
    .values(status="submitted", submitted_at=bindparam("at"))
)
_INSERT_ANSWERS = insert(Answer.__table__)


class _CoreRows:
    """The rows a submission reads and writes, through SQLAlchemy Core (PostgreSQL)."""

    def __init__(self, connection: Connection):
        self.connection = connection

    def assignment(self, assignment_id: int) -> tuple | None:
        """(task_id, worker_id, status, expires_at, submitted_at), the row locked."""
        return self.connection.execute(_SUBMIT_ROW, {"assignment": assignment_id}).first()

    def answers(self, assignment_id: int) -> dict[int, int]:
        return dict(self.connection.execute(_STORED_ANSWERS, {"assignment": assignment_id}).all())

    def submit(self, assignment_id: int, worker_id: int, by_question: dict[int, int], now: datetime) -> None:
        """The answer rows (one statement) and the assignment marked submitted."""
        self.connection.execute(
            _INSERT_ANSWERS,
            [
                {
                    "assignment_id": assignment_id,
                    "question_id": q,
                    "worker_id": worker_id,
                    "value": value,
                    "answered_at": now,
                }
                for q, value in by_question.items()
            ],
        )
        self.connection.execute(_MARK_SUBMITTED, {"assignment": assignment_id, "at": now})


class _SqliteRows:
    """The same on SQLite, straight through the driver connection of the open transaction (the
    write lock is held, so no row lock is needed). Timestamps go through SQLAlchemy's own DATETIME
    processors, so the stored text is the same as the ORM's."""

    def __init__(self, connection: Connection):
        self.driver = connection.connection.driver_connection
        self.to_text, self.from_text = _sqlite_datetime(connection.dialect)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A plain SQL savepoint: rolled back (alone) if the block raises."""
        self.driver.execute("SAVEPOINT submission")
        try:
            yield
        except BaseException:
            self.driver.execute("ROLLBACK TO submission")
            raise
        finally:
            self.driver.execute("RELEASE submission")

    def assignment(self, assignment_id: int) -> tuple | None:
        row = self.driver.execute(
            "SELECT task_id, worker_id, status, expires_at, submitted_at FROM assignment"
            " WHERE assignment_id = ?",
            (assignment_id,),
        ).fetchone()
        if row is None:
            return None
        task_id, worker_id, status, expires_at, submitted_at = row
        return task_id, worker_id, status, self.from_text(expires_at), self.from_text(submitted_at)

    def answers(self, assignment_id: int) -> dict[int, int]:
        return dict(
            self.driver.execute(
                "SELECT question_id, value FROM answer WHERE assignment_id = ?", (assignment_id,)
            )
        )

    def submit(self, assignment_id: int, worker_id: int, by_question: dict[int, int], now: datetime) -> None:
        stamp = self.to_text(now)
        answers = list(by_question.items())
        for start in range(0, len(answers), _ROWS_PER_INSERT):
            chunk = answers[start : start + _ROWS_PER_INSERT]
            values = [v for q, value in chunk for v in (assignment_id, q, worker_id, value, stamp)]
            self.driver.execute(_sqlite_insert_answers(len(chunk)), values)
        self.driver.execute(
            "UPDATE assignment SET status = 'submitted', submitted_at = ? WHERE assignment_id = ?",
            (stamp, assignment_id),
        )


@dataclass(frozen=True)
class _TaskLayout:
    """What never changes of a task once it is built: its kind, class, links and positions."""

    kind: str
    class_key: str | None
    links: tuple[str, ...]
    positions: tuple[int, ...]
    class_keys: tuple[str, ...]
    questions: dict[int, int]  # position -> question_id


_LAYOUTS: WeakKeyDictionary[Project, dict[int, _TaskLayout]] = WeakKeyDictionary()
_MAX_LAYOUTS = 20_000
_layouts_lock = threading.Lock()


def _task_layout(project: Project, connection: Connection, task_id: int) -> _TaskLayout:
    """The layout of ``task_id``, read once per project handle (a task's questions, positions,
    kind and class are written when it is built and never changed; its links neither)."""
    cached = _LAYOUTS.get(project, {}).get(task_id)
    if cached is not None:
        return cached
    kind, class_key, payload = connection.execute(
        select(Task.kind, Task.class_key, Task.payload).where(Task.task_id == task_id)
    ).one()
    rows = connection.execute(
        select(TaskQuestion.position, TaskQuestion.question_id, Question.class_key)
        .join(Question, Question.question_id == TaskQuestion.question_id)
        .where(TaskQuestion.task_id == task_id)
        .order_by(TaskQuestion.position)
    ).all()
    links = tuple(str(link) for link in (payload or {}).get("links", ()) if _is_web_link(link))
    layout = _TaskLayout(
        kind=kind,
        class_key=class_key,
        links=links,
        positions=tuple(p for p, _, _ in rows),
        class_keys=tuple(k for _, _, k in rows),
        questions={p: q for p, q, _ in rows},
    )
    if rows:  # a task without questions may still be being built: read it again next time
        with _layouts_lock:
            layouts = _LAYOUTS.setdefault(project, {})
            if len(layouts) >= _MAX_LAYOUTS:
                layouts.clear()
            layouts[task_id] = layout
    return layout


def _quick_view(project: Project, assignment_id: int) -> tuple[tuple, _TaskLayout] | None:
    """SQLite, the task's layout cached: the assignment's row read on a pooled driver connection
    in autocommit mode (one statement, its own read snapshot of what is committed) rather than
    through a Session, ~50 us instead of ~500 us. None: take the full path."""
    pooled = project.engine.raw_connection()
    try:
        row = pooled.driver_connection.execute(
            "SELECT task_id, worker_id, status, expires_at, external_id FROM assignment"
            " WHERE assignment_id = ?",
            (assignment_id,),
        ).fetchone()
    finally:
        pooled.close()
    layout = None if row is None else _LAYOUTS.get(project, {}).get(row[0])
    if layout is None:
        return None
    task_id, worker_id, status, expires_at, external_id = row
    from_text = _sqlite_datetime(project.engine.dialect)[1]
    return (task_id, worker_id, status, from_text(expires_at), external_id), layout


_ROWS_PER_INSERT = 1000


@functools.lru_cache(maxsize=64)
def _sqlite_insert_answers(rows: int) -> str:
    """One INSERT of ``rows`` answers: one driver call and one statement step per submission, not
    one per row as ``executemany`` makes (each releasing and taking back the GIL). At most
    :data:`_ROWS_PER_INSERT` rows, 5,000 parameters: below SQLite's limit, 32,766."""
    one = "(?, ?, ?, ?, ?)"
    return (
        "INSERT INTO answer (assignment_id, question_id, worker_id, value, answered_at) VALUES "
        + ", ".join([one] * rows)
    )


@functools.cache
def _sqlite_datetime(dialect: Dialect) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """SQLAlchemy's own DATETIME processors on SQLite (to the stored text, and back), so what the
    driver-level statements write and read is exactly what the ORM does."""
    column_type = Assignment.__table__.c.expires_at.type.dialect_impl(dialect)
    return column_type.bind_processor(dialect), column_type.result_processor(dialect, None)


def _lock_for_write(session: Session) -> None:
    """Take the write lock before reading what the write depends on. SQLite: a write statement
    that changes nothing starts the write transaction (waiting up to the busy timeout).
    PostgreSQL: callers lock the rows they change with ``FOR UPDATE``."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("DELETE FROM assignment WHERE assignment_id = -1")


def _holds_slot(now: datetime):
    return or_(
        Assignment.status.in_(VALID_STATUSES),
        and_(Assignment.status == "assigned", Assignment.expires_at > now),
    )


def _claim(
    session: Session,
    task_id: int,
    worker_id: int,
    external_id: str | None,
    now: datetime,
    duration: timedelta,
) -> Assignment | None:
    """A new assignment of ``task_id`` if a slot is free (the task row locked while counting)."""
    task = session.execute(select(Task).where(Task.task_id == task_id).with_for_update()).scalar_one()
    taken = session.scalar(
        select(func.count()).select_from(Assignment).where(Assignment.task_id == task_id, _holds_slot(now))
    )
    if taken >= task.max_assignments or task.status != OPEN:
        return None
    try:
        with session.begin_nested():
            assignment = Assignment(
                task_id=task_id,
                worker_id=worker_id,
                external_id=external_id,
                status="assigned",
                started_at=now,
                expires_at=now + duration,
            )
            session.add(assignment)
            session.flush()
    except IntegrityError:  # the same worker, concurrently
        return None
    return assignment


def _issue_named(
    session: Session,
    worker_id: int,
    task_uuid: str,
    kinds: tuple[str, ...],
    external_id: str | None,
    now: datetime,
    duration: timedelta,
) -> IssuedAssignment:
    task = session.execute(select(Task).where(Task.uuid == task_uuid)).scalar_one_or_none()
    if task is None:
        raise UnknownTaskError("this task does not exist")
    if task.kind not in kinds:
        raise NoTaskAvailableError(
            "this task is for workers who passed the qualification",
            fix="return it and take a qualification task",
        )
    own = session.execute(
        select(Assignment).where(Assignment.task_id == task.task_id, Assignment.worker_id == worker_id)
    ).scalar_one_or_none()
    if own is not None:
        is_overdue = own.status == "assigned" and own.expires_at is not None and own.expires_at <= now
        if own.status == "expired" or is_overdue:
            # MTurk gave the worker this task again (they returned it and accepted it anew)
            if external_id is None:
                raise AssignmentClosedError("the time for this task ran out", fix="start a new task")
            own.status, own.started_at, own.expires_at = "assigned", now, now + duration
        if external_id is not None:
            own.external_id = external_id
        return _issued(own, task.kind, is_new=False)
    if task.status != OPEN:
        raise NoTaskAvailableError("this task is closed", fix="return it")
    assignment = _claim(session, task.task_id, worker_id, external_id, now, duration)
    if assignment is None:
        raise NoTaskAvailableError("this task has all the answers it needs", fix="return it")
    return _issued(assignment, task.kind, is_new=True)


def _expire_own(session: Session, worker_id: int, now: datetime) -> None:
    session.execute(
        update(Assignment)
        .where(
            Assignment.worker_id == worker_id,
            Assignment.status == "assigned",
            Assignment.expires_at <= now,
        )
        .values(status="expired")
    )


def _issued(assignment: Assignment, kind: str, *, is_new: bool) -> IssuedAssignment:
    return IssuedAssignment(
        assignment.assignment_id,
        assignment.task_id,
        assignment.worker_id,
        kind,
        assignment.status,
        assignment.expires_at,
        is_new,
    )


def _check_values(answers: Mapping[Any, Any]) -> dict[int, int]:
    if not isinstance(answers, Mapping) or not answers:
        raise InvalidAnswersError("no answers were sent", fix="answer every image")
    checked = {}
    for position, value in answers.items():
        if type(position) is not int or type(value) is not int or not 0 <= value <= 2:
            raise InvalidAnswersError(
                "answers must be whole positions with values 0 (no), 1 (maybe) or 2 (yes)",
                fix="answer with no, maybe or yes",
            )
        checked[position] = value
    return checked


def _check_selection(selected: Collection[Any]) -> dict[int, int]:
    positions = {}
    for position in selected:
        if type(position) is not int:
            raise InvalidAnswersError("selected positions must be whole numbers", fix="submit the form again")
        positions[position] = 2
    return positions


def _selection_answers(ticked: dict[int, int], layout: dict[int, int]) -> dict[int, int]:
    if not set(ticked) <= set(layout):
        raise InvalidAnswersError("an unknown image was selected", fix="submit the form again")
    return {position: ticked.get(position, 0) for position in layout}


def _by_question(given: dict[int, int], layout: dict[int, int]) -> dict[int, int]:
    """{question_id: value} from {position: value}; every position of the task, nothing else."""
    if set(given) != set(layout):
        extra, missing = len(set(given) - set(layout)), len(set(layout) - set(given))
        raise InvalidAnswersError(
            f"the answers do not match the task ({extra} unknown, {missing} missing)",
            fix="answer every image of this task and nothing else",
        )
    by_question: dict[int, int] = {}
    for position, value in given.items():
        question_id = layout[position]
        if by_question.setdefault(question_id, value) != value:
            raise InvalidAnswersError("one question got two different answers", fix="answer it once")
    return by_question


def _is_web_link(link: object) -> bool:
    return isinstance(link, str) and link.startswith(("https://", "http://")) and len(link) < 500
