"""Selection frequency and majority vote: the ImageNetV2 rules, as array math.

Selection frequency of (image, class) = valid assignments that selected it / valid assignments of
all tasks of that class that showed it. With one answer per (assignment, question) — a grid tick
is yes, no tick is no — that is the share of yes among the question's valid answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

import numpy as np

from heldout.aggregate.base import Aggregator
from heldout.answers import Answers

__all__ = ["MajorityVote", "SelectionFrequency"]

YES = 2


@dataclass
class SelectionFrequency(Aggregator):
    """Share of ``yes`` answers per question; ``annotations_`` counts the answers behind it.

    ``positive`` lists the answer codes that count as selected (``(2,)`` = yes only; pass
    ``(1, 2)`` to count maybe too). Questions without answers get frequency 0.
    """

    positive: tuple[int, ...] = (YES,)
    threshold: float = 0.7
    inclusive: bool = True
    name: str = "frequency"
    scores_: np.ndarray = field(init=False, repr=False)
    annotations_: np.ndarray = field(init=False, repr=False)

    def fit(self, answers: Answers) -> Self:
        selected = np.isin(answers.value, self.positive)
        self.annotations_ = np.bincount(answers.question, minlength=answers.n_questions)
        hits = np.bincount(answers.question[selected], minlength=answers.n_questions)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.scores_ = np.where(self.annotations_ > 0, hits / np.maximum(self.annotations_, 1), 0.0)
        return self


@dataclass
class MajorityVote(Aggregator):
    """The most frequent answer per question; score = share of answers in ``positive``.

    Ties go to the smaller answer code (no before maybe before yes): a tie is not a yes.
    """

    positive: tuple[int, ...] = (1, YES)
    name: str = "majority"
    scores_: np.ndarray = field(init=False, repr=False)
    labels_: np.ndarray = field(init=False, repr=False)

    def fit(self, answers: Answers) -> Self:
        counts = answers.counts()
        self.labels_ = counts.argmax(axis=1)
        totals = counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.scores_ = np.where(
                totals > 0, counts[:, list(self.positive)].sum(axis=1) / np.maximum(totals, 1), 0.0
            )
        return self
