"""The aggregation stage: fit an aggregator on the project's answers and store its scores.

Scores go to the ``score`` table under the aggregator's method name, replacing that method's
previous scores in the same transaction, with the run that made them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select

from heldout.aggregate.base import Aggregator
from heldout.aggregate.operating import LabelSets, label_sets, write_real_json
from heldout.aggregate.quality import WorkerQuality, control_truth, expert_majority, worker_quality
from heldout.answers import AGGREGATED_TASK_KINDS, Answers, load_answers
from heldout.catalog import Image, Question, Score, TaskQuestion
from heldout.catalog.bulk import bulk_insert
from heldout.errors import AggregationError
from heldout.project import Project

__all__ = ["AggregationResult", "aggregate", "export_labels", "measure_workers"]


@dataclass(frozen=True, eq=False)
class AggregationResult:
    """Scores per question (aligned with ``question_ids``) and the answers behind each."""

    method: str
    question_ids: np.ndarray
    scores: np.ndarray
    annotations: np.ndarray
    aggregator: Aggregator


def aggregate(
    project: Project, aggregator: Aggregator, *, answers: Answers | None = None
) -> AggregationResult:
    """Fit ``aggregator`` on the project's answers (or ``answers``) and store the scores."""
    answers = answers if answers is not None else load_answers(project)
    parameters = {"method": aggregator.name, **_parameters(aggregator), "answers": len(answers)}
    with project.run("aggregate", parameters) as run:
        scores = aggregator.fit_predict_proba(answers)
        annotations = np.bincount(answers.question, minlength=answers.n_questions)
        with project.transaction() as session:
            session.execute(delete(Score).where(Score.method == aggregator.name))
            bulk_insert(
                session,
                "score",
                ("question_id", "method", "value", "annotations", "run_id"),
                zip(
                    answers.question_ids.tolist(),
                    [aggregator.name] * answers.n_questions,
                    scores.tolist(),
                    annotations.tolist(),
                    [run.run_id] * answers.n_questions,
                    strict=True,
                ),
            )
        run.counts.update(questions=answers.n_questions, positive=int((scores > aggregator.threshold).sum()))
    return AggregationResult(aggregator.name, answers.question_ids, scores, annotations, aggregator)


def _parameters(aggregator: Aggregator) -> dict:
    """The aggregator's settings, JSON-ready (arrays are summarised, not stored)."""
    out = {}
    for key, value in vars(aggregator).items():
        if key.endswith("_"):
            continue
        out[key] = (
            value if isinstance(value, (int, float, str, bool, type(None), tuple)) else type(value).__name__
        )
    return out


def measure_workers(project: Project, *, confidence: float = 0.95) -> WorkerQuality:
    """Each crowd worker's accuracy against the expert majority (>= 3 of 5 experts yes) on golden
    questions, and against controls (positives 1, negatives 0) in grid tasks."""
    crowd = load_answers(project, task_kinds=(*AGGREGATED_TASK_KINDS, "golden"))
    truth = np.full(crowd.n_questions, -1, dtype=np.int64)
    with project.transaction() as session:
        roles = session.execute(
            select(TaskQuestion.question_id, TaskQuestion.role).where(
                TaskQuestion.role.in_(("positive", "negative"))
            )
        ).all()
    if roles:
        positions = np.searchsorted(crowd.question_ids, [r[0] for r in roles])
        truth[positions] = control_truth([r[1] for r in roles])
    try:
        experts = load_answers(project, worker_kind="expert", task_kinds=("expert",))
    except AggregationError:  # no expert answers: controls only
        experts = None
    if experts is not None:
        majority = expert_majority(experts)
        known = majority >= 0
        truth[np.searchsorted(crowd.question_ids, experts.question_ids[known])] = majority[known]
    if not (truth >= 0).any():
        raise AggregationError(
            "no control or golden question has a known truth",
            fix="build grid tasks with controls, or import expert answers to golden questions",
        )
    return worker_quality(crowd, truth, confidence=confidence)


def export_labels(
    project: Project, path: str | Path, *, method: str = "dawid-skene", threshold: float = 0.8
) -> LabelSets:
    """Label sets at ``threshold`` in ``real.json`` format: for each image with scored questions,
    the classes scoring above the threshold; reference images without questions keep their own
    class. Images are written in sorted-id order (for ImageNet val names: the val order)."""
    with project.transaction() as session:
        rows = session.execute(
            select(Question.image_id, Question.class_key, Score.value)
            .join(Score, Score.question_id == Question.question_id)
            .where(Score.method == method)
        ).all()
        references = session.execute(
            select(Image.image_id, Image.class_key).where(
                Image.role == "reference", Image.class_key.is_not(None)
            )
        ).all()
    if not rows:
        raise AggregationError(
            f"no {method} scores in this project", fix=f"run `heldout aggregate {method}` first"
        )
    image_ids, class_keys, scores = (list(column) for column in zip(*rows, strict=True))
    reference_ids = [r[0] for r in references]
    unrated = dict(
        zip(reference_ids, project.classes.indices([r[1] for r in references]).tolist(), strict=True)
    )
    sets = label_sets(image_ids, project.classes.indices(class_keys), scores, threshold, unrated=unrated)
    write_real_json(sets, path)
    return sets
