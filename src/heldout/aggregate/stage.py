"""The aggregation stage: fit an aggregator on the project's answers and store its scores.

Scores go to the ``score`` table under the aggregator's method name, replacing that method's
previous scores in the same transaction, with the run that made them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete

from heldout.aggregate.base import Aggregator
from heldout.answers import Answers, load_answers
from heldout.catalog import Score
from heldout.catalog.bulk import bulk_insert
from heldout.project import Project

__all__ = ["AggregationResult", "aggregate"]


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
