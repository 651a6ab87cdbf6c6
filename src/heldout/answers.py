"""Answers as aligned arrays: the one question/answer model, in the shape aggregators fit on.

A question is (image, class); an answer is one worker's reply to it: 0 = no, 1 = maybe, 2 = yes
(a grid tick is yes, no tick no). ``Answers`` holds them in long format, one row per answer, as
three integer arrays, plus per-question and per-worker metadata. Everything downstream (selection
frequency, Dawid–Skene, worker quality) is array math on this object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select

from heldout.catalog import Answer, Assignment, Question, Task, Worker
from heldout.errors import AggregationError

__all__ = [
    "AGGREGATED_TASK_KINDS",
    "ANSWER_NAMES",
    "VALID_STATUSES",
    "Answers",
    "answers_from_onehot",
    "load_answers",
]

ANSWER_NAMES = ("no", "maybe", "yes")
AGGREGATED_TASK_KINDS = ("grid", "verify", "imported")
VALID_STATUSES = ("submitted", "approved")
"""Assignments whose answers count (ImageNetV2: rejected ones are ignored)."""


@dataclass(frozen=True, eq=False)
class Answers:
    """Answers in long format: ``value[i]`` is worker ``worker[i]``'s answer to question ``question[i]``.

    ``question`` and ``worker`` are 0-based positions into ``question_ids`` / ``worker_ids``;
    ``group`` assigns each question a prior group (e.g. 1 = the image's original label);
    ``golden`` marks questions with expert answers.
    """

    question: np.ndarray
    worker: np.ndarray
    value: np.ndarray
    question_ids: np.ndarray
    worker_ids: np.ndarray
    n_categories: int = 3
    group: np.ndarray | None = None
    golden: np.ndarray | None = None
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        where = self.source or None
        lengths = {len(self.question), len(self.worker), len(self.value)}
        if len(lengths) != 1:
            raise AggregationError(f"answer arrays differ in length: {sorted(lengths)}", where=where)
        if not len(self.value):
            raise AggregationError("no answers", where=where, fix="import or collect answers first")
        for name, array, upper in (
            ("question", self.question, len(self.question_ids)),
            ("worker", self.worker, len(self.worker_ids)),
            ("value", self.value, self.n_categories),
        ):
            if array.min() < 0 or array.max() >= upper:
                raise AggregationError(
                    f"{name} index out of range 0..{upper - 1}: found {int(array.min())}..{int(array.max())}",
                    where=where,
                    fix="every answer must name a known question and worker and a valid category",
                )
        for name, per_question in (("group", self.group), ("golden", self.golden)):
            if per_question is not None and len(per_question) != len(self.question_ids):
                raise AggregationError(
                    f"{name} has {len(per_question)} entries for {len(self.question_ids)} questions",
                    where=where,
                )

    def __len__(self) -> int:
        return len(self.value)

    @property
    def n_questions(self) -> int:
        return len(self.question_ids)

    @property
    def n_workers(self) -> int:
        return len(self.worker_ids)

    def counts(self) -> np.ndarray:
        """(questions, categories) matrix of answer counts."""
        flat = self.question.astype(np.int64) * self.n_categories + self.value
        return np.bincount(flat, minlength=self.n_questions * self.n_categories).reshape(
            -1, self.n_categories
        )

    def collapse(self, mapping: tuple[int, ...]) -> Answers:
        """Merge categories, e.g. ``(0, 1, 1)`` counts maybe as yes in a 2-category model."""
        table = np.asarray(mapping, dtype=np.int8)
        return Answers(
            self.question,
            self.worker,
            table[self.value],
            self.question_ids,
            self.worker_ids,
            int(table.max()) + 1,
            self.group,
            self.golden,
            self.source,
        )


def answers_from_onehot(
    tensor: np.ndarray,
    *,
    question_ids: np.ndarray,
    worker_ids: np.ndarray,
    source: str = "",
) -> Answers:
    """Long-format answers from a (workers, questions, categories) one-hot tensor (the ReaL format).

    An all-zero row means "did not answer"; a row with two categories set, or anything but 0/1, is
    an error, as are shapes that disagree with the ids.
    """
    tensor = np.asarray(tensor)
    where = source or None
    if tensor.ndim != 3:
        raise AggregationError(
            f"expected a (workers, questions, categories) tensor, got shape {tensor.shape}", where=where
        )
    if tensor.shape[0] != len(worker_ids) or tensor.shape[1] != len(question_ids):
        raise AggregationError(
            f"tensor shape {tensor.shape} disagrees with {len(worker_ids)} worker ids and "
            f"{len(question_ids)} questions",
            where=where,
            fix="the tensor, info and ids arrays must come from the same file",
        )
    if not np.isfinite(tensor).all():
        raise AggregationError("the tensor holds NaN or infinite values", where=where)
    if not ((tensor == 0) | (tensor == 1)).all():
        raise AggregationError("a one-hot tensor holds only 0 and 1", where=where)
    per_row = tensor.sum(axis=2)
    if (per_row > 1).any():
        worker, question = np.argwhere(per_row > 1)[0]
        raise AggregationError(
            f"{int((per_row > 1).sum())} answer row(s) have two categories set, "
            f"first: worker {worker_ids[worker]}, question {int(question)}",
            where=where,
        )
    worker, question = np.nonzero(per_row)
    value = tensor[worker, question].argmax(axis=1)
    order = np.lexsort((worker, question))
    return Answers(
        question[order].astype(np.int64),
        worker[order].astype(np.int64),
        value[order].astype(np.int8),
        np.asarray(question_ids),
        np.asarray(worker_ids),
        tensor.shape[2],
        source=source,
    )


def load_answers(
    project,
    *,
    valid_only: bool = True,
    worker_kind: str = "crowd",
    task_kinds: tuple[str, ...] = AGGREGATED_TASK_KINDS,
) -> Answers:
    """The project's answers as arrays: by default every crowd answer of valid assignments of
    grid, verify and imported tasks (answers given only to measure workers, e.g. ReaL's
    re-answered golden questions, are left out)."""
    query = (
        select(Answer.question_id, Answer.worker_id, Answer.value)
        .join(Assignment, Assignment.assignment_id == Answer.assignment_id)
        .join(Task, Task.task_id == Assignment.task_id)
        .join(Worker, Worker.worker_id == Answer.worker_id)
        .where(Worker.kind == worker_kind, Task.kind.in_(task_kinds))
        .order_by(Answer.question_id, Answer.worker_id, Answer.answer_id)
    )
    if valid_only:
        query = query.where(Assignment.status.in_(VALID_STATUSES))
    with project.transaction() as session:
        rows = _fetch_array(session, query, 3)
        questions = _fetch_array(
            session,
            select(Question.question_id, Question.is_original_label, Question.is_golden).order_by(
                Question.question_id
            ),
            3,
        )
        workers = _fetch_array(
            session, select(Worker.worker_id).where(Worker.kind == worker_kind).order_by(Worker.worker_id), 1
        )
    question_ids, workers = questions[:, 0], workers[:, 0]
    return Answers(
        np.searchsorted(question_ids, rows[:, 0]),
        np.searchsorted(workers, rows[:, 1]),
        rows[:, 2].astype(np.int8),
        question_ids,
        workers,
        3,
        questions[:, 1].astype(np.int64),
        questions[:, 2].astype(bool),
        source=str(project.root),
    )


def _fetch_array(session, query, width: int) -> np.ndarray:
    """Run ``query`` on the raw driver cursor: a million rows as one int64 array in about a second
    (building ORM rows would take a minute)."""
    connection = session.connection()
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(str(compiled))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return np.array(rows, dtype=np.int64).reshape(-1, width)
