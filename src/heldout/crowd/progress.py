"""What the admin pages show, as library calls: progress, one task's answers, each worker's
control accuracy, and the cost and fairness ledger.

The ledger's terms:

* *reward per accepted image*: the reward of every valid (submitted or approved) assignment,
  divided by the number of candidate questions whose selection frequency (share of yes among valid
  answers) reached ``accept_threshold`` (0.7, the Threshold sampling default): what one usable
  image has cost so far. ``None`` while no image is accepted.
* *answers per question*: valid answers per candidate question (mean and maximum).
* *median seconds per grid*: from issue to submission, over valid grid assignments.
* *implied hourly pay* of a worker: their valid assignments x reward / the hours they spent on
  them (issue to submission); the ledger also gives the median over workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import case, func, select

from heldout.answers import VALID_STATUSES
from heldout.catalog import Answer, Assignment, Image, Question, Task, TaskQuestion, Worker
from heldout.errors import UnknownTaskError
from heldout.project import Project, utcnow
from heldout.stats import clopper_pearson

__all__ = [
    "CostLedger",
    "CrowdProgress",
    "TaskInspection",
    "WorkerAccuracy",
    "cost_ledger",
    "crowd_progress",
    "inspect_task",
    "task_image",
    "worker_accuracy",
]


@dataclass(frozen=True)
class CrowdProgress:
    tasks: dict[str, dict[str, int]]
    """kind → status → count."""
    tasks_complete: int
    """Tasks whose valid assignments reached ``max_assignments``."""
    assignments: dict[str, int]
    """status → count (overdue ``assigned`` ones count as ``expired``)."""
    answers: int
    answers_per_s: float
    """Over the last ``window_s`` seconds."""
    window_s: int
    workers: dict[str, int]


def crowd_progress(project: Project, *, now: datetime | None = None, window_s: int = 60) -> CrowdProgress:
    now = now or utcnow()
    with project.transaction() as session:
        tasks: dict[str, dict[str, int]] = {}
        for kind, status, count in session.execute(
            select(Task.kind, Task.status, func.count()).group_by(Task.kind, Task.status)
        ):
            tasks.setdefault(kind, {})[status] = count
        valid = (
            select(Assignment.task_id, func.count().label("n"))
            .where(Assignment.status.in_(VALID_STATUSES))
            .group_by(Assignment.task_id)
            .subquery()
        )
        complete = session.scalar(
            select(func.count())
            .select_from(Task)
            .join(valid, valid.c.task_id == Task.task_id)
            .where(valid.c.n >= Task.max_assignments)
        )
        overdue = (Assignment.status == "assigned") & (Assignment.expires_at <= now)
        status = case((overdue, "expired"), else_=Assignment.status)
        assignments = dict(session.execute(select(status, func.count()).group_by(status)).all())
        answers = session.scalar(select(func.count()).select_from(Answer)) or 0
        recent = session.scalar(
            select(func.count())
            .select_from(Answer)
            .where(Answer.answered_at > now - timedelta(seconds=window_s))
        )
        workers = dict(
            session.execute(
                select(Worker.status, func.count()).where(Worker.kind == "crowd").group_by(Worker.status)
            ).all()
        )
    return CrowdProgress(
        tasks=tasks,
        tasks_complete=complete or 0,
        assignments=assignments,
        answers=answers,
        answers_per_s=(recent or 0) / window_s,
        window_s=window_s,
        workers=workers,
    )


@dataclass(frozen=True)
class TaskInspection:
    """One task: per position the image, class and role; per assignment its worker, status and
    seconds; ``answers[p][j]`` is assignment j's answer at position p (None: not answered)."""

    task_id: int
    uuid: str
    kind: str
    class_key: str | None
    status: str
    max_assignments: int
    positions: list[int]
    image_ids: list[str]
    class_keys: list[str]
    roles: list[str]
    assignment_ids: list[int]
    worker_ids: list[int]
    statuses: list[str]
    seconds: list[float | None]
    answers: list[list[int | None]] = field(repr=False)

    @property
    def yes_share(self) -> list[float | None]:
        """Per position: share of yes (2) among valid assignments' answers."""
        valid = [i for i, s in enumerate(self.statuses) if s in VALID_STATUSES]
        out = []
        for row in self.answers:
            given = [row[i] for i in valid if row[i] is not None]
            out.append(sum(v == 2 for v in given) / len(given) if given else None)
        return out


def inspect_task(project: Project, task_id: int) -> TaskInspection:
    """The seed's ``inspect_hit``: one task's images with each worker's answers."""
    with project.transaction() as session:
        task = session.get(Task, task_id)
        if task is None:
            raise UnknownTaskError(f"no task {task_id}")
        layout = session.execute(
            select(
                TaskQuestion.position,
                TaskQuestion.question_id,
                TaskQuestion.role,
                Question.image_id,
                Question.class_key,
            )
            .join(Question, Question.question_id == TaskQuestion.question_id)
            .where(TaskQuestion.task_id == task_id)
            .order_by(TaskQuestion.position)
        ).all()
        assignments = (
            session.execute(
                select(Assignment).where(Assignment.task_id == task_id).order_by(Assignment.assignment_id)
            )
            .scalars()
            .all()
        )
        answers = session.execute(
            select(Answer.assignment_id, Answer.question_id, Answer.value)
            .join(Assignment, Assignment.assignment_id == Answer.assignment_id)
            .where(Assignment.task_id == task_id)
        ).all()
    column = {a.assignment_id: j for j, a in enumerate(assignments)}
    value = {(a, q): v for a, q, v in answers}
    matrix = [[value.get((a.assignment_id, row[1])) for a in assignments] for row in layout]
    return TaskInspection(
        task_id=task.task_id,
        uuid=task.uuid,
        kind=task.kind,
        class_key=task.class_key,
        status=task.status,
        max_assignments=task.max_assignments,
        positions=[r[0] for r in layout],
        image_ids=[r[3] for r in layout],
        class_keys=[r[4] for r in layout],
        roles=[r[2] for r in layout],
        assignment_ids=list(column),
        worker_ids=[a.worker_id for a in assignments],
        statuses=[a.status for a in assignments],
        seconds=[_seconds(a.started_at, a.submitted_at) for a in assignments],
        answers=matrix,
    )


def task_image(project: Project, task_id: int, position: int) -> bytes:
    """The 500 px rendition at ``position`` of a task (for the admin; workers use tokens)."""
    with project.transaction() as session:
        sha256 = session.scalar(
            select(Image.sha256)
            .join(Question, Question.image_id == Image.image_id)
            .join(TaskQuestion, TaskQuestion.question_id == Question.question_id)
            .where(TaskQuestion.task_id == task_id, TaskQuestion.position == position)
        )
    if sha256 is None:
        raise UnknownTaskError(f"task {task_id} has no stored image at position {position}")
    return project.store.get(project.store.key(sha256, "500"))


@dataclass(frozen=True)
class WorkerAccuracy:
    """A crowd worker's answers to controls (positive / negative roles) in valid assignments."""

    worker_id: int
    status: str
    reason: str | None
    assignments: int
    control_answers: int
    correct: int
    accuracy: float | None
    accuracy_low: float | None
    accuracy_high: float | None
    sensitivity: float | None
    specificity: float | None


def worker_accuracy(project: Project) -> list[WorkerAccuracy]:
    """Per crowd worker: control accuracy with a 95 % Clopper–Pearson interval (a tick, yes or
    maybe counts as yes), sensitivity on positive and specificity on negative controls."""
    positive = Answer.value >= 1
    with project.transaction() as session:
        workers = session.execute(
            select(Worker.worker_id, Worker.status, Worker.status_reason)
            .where(Worker.kind == "crowd")
            .order_by(Worker.worker_id)
        ).all()
        counts = session.execute(
            select(
                Answer.worker_id,
                TaskQuestion.role,
                func.sum(case((positive, 1), else_=0)),
                func.count(),
            )
            .join(Assignment, Assignment.assignment_id == Answer.assignment_id)
            .join(
                TaskQuestion,
                (TaskQuestion.task_id == Assignment.task_id)
                & (TaskQuestion.question_id == Answer.question_id),
            )
            .where(Assignment.status.in_(VALID_STATUSES), TaskQuestion.role.in_(("positive", "negative")))
            .group_by(Answer.worker_id, TaskQuestion.role)
        ).all()
        done = dict(
            session.execute(
                select(Assignment.worker_id, func.count())
                .where(Assignment.status.in_(VALID_STATUSES))
                .group_by(Assignment.worker_id)
            ).all()
        )
    table = {(w, role): (int(yes or 0), int(n)) for w, role, yes, n in counts}
    rows = []
    for worker_id, status, reason in workers:
        tp, n_pos = table.get((worker_id, "positive"), (0, 0))
        fp, n_neg = table.get((worker_id, "negative"), (0, 0))
        n, correct = n_pos + n_neg, tp + (n_neg - fp)
        low, high = clopper_pearson(np.array([correct]), np.array([n]))
        rows.append(
            WorkerAccuracy(
                worker_id=worker_id,
                status=status,
                reason=reason,
                assignments=done.get(worker_id, 0),
                control_answers=n,
                correct=correct,
                accuracy=correct / n if n else None,
                accuracy_low=float(low[0]) if n else None,
                accuracy_high=float(high[0]) if n else None,
                sensitivity=tp / n_pos if n_pos else None,
                specificity=(n_neg - fp) / n_neg if n_neg else None,
            )
        )
    return rows


@dataclass(frozen=True)
class CostLedger:
    reward_usd: float
    valid_assignments: int
    total_usd: float
    accepted_images: int
    reward_per_accepted_image_usd: float | None
    answers_per_question: float | None
    max_answers_per_question: int
    median_seconds_per_grid: float | None
    median_hourly_usd: float | None
    workers: list[dict] = field(repr=False)
    """Per worker: worker_id, assignments, seconds, earned_usd, hourly_usd."""


def cost_ledger(project: Project, *, accept_threshold: float = 0.7) -> CostLedger:
    """Cost and fairness (see the module docstring for each term)."""
    reward = project.config.crowd.reward_usd
    with project.transaction() as session:
        spans = session.execute(
            select(Assignment.worker_id, Task.kind, Assignment.started_at, Assignment.submitted_at)
            .join(Task, Task.task_id == Assignment.task_id)
            .where(Assignment.status.in_(VALID_STATUSES))
        ).all()
        per_question = session.execute(
            select(Answer.question_id, func.sum(case((Answer.value == 2, 1), else_=0)), func.count())
            .join(Assignment, Assignment.assignment_id == Answer.assignment_id)
            .join(
                TaskQuestion,
                (TaskQuestion.task_id == Assignment.task_id)
                & (TaskQuestion.question_id == Answer.question_id),
            )
            .where(Assignment.status.in_(VALID_STATUSES), TaskQuestion.role == "candidate")
            .group_by(Answer.question_id)
        ).all()
    yes = np.array([int(r[1] or 0) for r in per_question], dtype=np.float64)
    total = np.array([int(r[2]) for r in per_question], dtype=np.float64)
    accepted = int((yes / np.maximum(total, 1) >= accept_threshold).sum()) if len(total) else 0
    grid_seconds = [_seconds(s, e) for w, kind, s, e in spans if kind == "grid"]
    grid_seconds = [s for s in grid_seconds if s is not None]
    by_worker: dict[int, list[float]] = {}
    for worker_id, _, started, submitted in spans:
        by_worker.setdefault(worker_id, []).append(_seconds(started, submitted) or 0.0)
    workers = []
    for worker_id, seconds in sorted(by_worker.items()):
        spent = float(sum(seconds))
        earned = reward * len(seconds)
        workers.append(
            {
                "worker_id": worker_id,
                "assignments": len(seconds),
                "seconds": spent,
                "earned_usd": earned,
                "hourly_usd": earned / spent * 3600 if spent > 0 else None,
            }
        )
    hourly = [w["hourly_usd"] for w in workers if w["hourly_usd"] is not None]
    total_usd = reward * len(spans)
    return CostLedger(
        reward_usd=reward,
        valid_assignments=len(spans),
        total_usd=total_usd,
        accepted_images=accepted,
        reward_per_accepted_image_usd=total_usd / accepted if accepted else None,
        answers_per_question=float(total.mean()) if len(total) else None,
        max_answers_per_question=int(total.max()) if len(total) else 0,
        median_seconds_per_grid=float(np.median(grid_seconds)) if grid_seconds else None,
        median_hourly_usd=float(np.median(hourly)) if hourly else None,
        workers=workers,
    )


def _seconds(started: datetime | None, ended: datetime | None) -> float | None:
    if started is None or ended is None:
        return None
    return max((ended - started).total_seconds(), 0.0)
