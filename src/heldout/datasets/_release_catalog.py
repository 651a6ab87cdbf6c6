"""The catalog reads a release needs beyond the images: answers, duplicate pairs, reference scores.

Raw answers ship with worker ids pseudonymised as ``sha256(worker external id + project secret)``
(:func:`heldout.crowd.tokens.hash_worker_id`): the same worker has the same pseudonym in every
release of the project, nobody without the secret can link it to the catalog or to a platform id,
and the secret itself is never written into a release. Platform assignment ids are left out.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
from sqlalchemy import and_, select, union

from heldout.catalog import (
    Answer,
    Assignment,
    Dataset,
    DatasetImage,
    DuplicatePair,
    Image,
    Question,
    Score,
    Task,
    Worker,
)
from heldout.crowd.tokens import hash_worker_id, project_secret
from heldout.project import Project

__all__ = ["AnswerStats", "answers_csv", "duplicate_pairs", "reference_frequencies"]

ANSWER_WORDS = ("no", "maybe", "yes")
ANSWER_COLUMNS = ("image_id", "class_id", "task", "assignment", "worker", "answer", "status")


@dataclass(frozen=True)
class AnswerStats:
    """Counts and date range of the released answers (for the datasheet)."""

    answers: int
    workers: int
    first: str | None
    last: str | None


def answers_csv(project: Project, dataset: Dataset) -> tuple[bytes, AnswerStats]:
    """Every answer to a question about a released image, sorted, as CSV bytes."""
    query = (
        select(
            Question.image_id,
            Question.class_key,
            Task.uuid,
            Assignment.assignment_id,
            Worker.external_id,
            Answer.value,
            Assignment.status,
            Answer.answered_at,
        )
        .select_from(DatasetImage)
        .join(Question, Question.image_id == DatasetImage.image_id)
        .join(Answer, Answer.question_id == Question.question_id)
        .join(Assignment, Assignment.assignment_id == Answer.assignment_id)
        .join(Task, Task.task_id == Assignment.task_id)
        .join(Worker, Worker.worker_id == Answer.worker_id)
        .where(DatasetImage.dataset_id == dataset.dataset_id)
        .order_by(Question.image_id, Question.class_key, Task.uuid, Assignment.assignment_id)
    )
    with project.transaction() as session:
        rows = session.execute(query).all()
    secret = project_secret(project.root) if rows else ""
    pseudonyms = {w: hash_worker_id(w, secret) for w in {r[4] for r in rows}}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ANSWER_COLUMNS)
    writer.writerows(
        (image, key, task, assignment, pseudonyms[worker], ANSWER_WORDS[value], status)
        for image, key, task, assignment, worker, value, status, _ in rows
    )
    dates = sorted(r[7] for r in rows if r[7] is not None)
    stats = AnswerStats(
        answers=len(rows),
        workers=len(pseudonyms),
        first=dates[0].date().isoformat() if dates else None,
        last=dates[-1].date().isoformat() if dates else None,
    )
    return buffer.getvalue().encode(), stats


def duplicate_pairs(project: Project, dataset: Dataset) -> dict[str, list[str]]:
    """Reviewed near-duplicate pairs with a released image on either side, in the published
    ``near_duplicates.json`` shape ``{image id: [other ids]}``, sorted."""
    members = select(DatasetImage.image_id).where(DatasetImage.dataset_id == dataset.dataset_id)
    query = union(
        select(DuplicatePair.image_id, DuplicatePair.other_id).where(DuplicatePair.image_id.in_(members)),
        select(DuplicatePair.image_id, DuplicatePair.other_id).where(DuplicatePair.other_id.in_(members)),
    )
    with project.transaction() as session:
        rows = session.execute(query).all()
    pairs: dict[str, list[str]] = {}
    for image_id, other_id in sorted(rows):
        pairs.setdefault(image_id, []).append(other_id)
    return pairs


def reference_frequencies(
    project: Project, class_keys: np.ndarray, *, min_annotations: int = 10
) -> np.ndarray:
    """Selection frequencies of the reference images of ``class_keys`` for their own class, with at
    least ``min_annotations`` answers: the histogram MatchedFrequency matches."""
    query = (
        select(Score.value)
        .join(Question, Question.question_id == Score.question_id)
        .join(Image, and_(Image.image_id == Question.image_id, Image.class_key == Question.class_key))
        .where(
            Image.role == "reference",
            Score.method == "frequency",
            Score.annotations >= min_annotations,
            Image.class_key.in_(class_keys.tolist()),
        )
        .order_by(Score.value)
    )
    with project.transaction() as session:
        values = session.scalars(query).all()
    return np.array(values, dtype=np.float64)
