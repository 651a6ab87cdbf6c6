"""The aggregator contract (crowd-kit's, on arrays): ``fit(answers) -> self``, then
``fit_predict_proba`` gives one score per question in [0, 1] and ``fit_predict`` the decision.

One implementation, three entry points: subclasses write ``fit`` and set ``scores_``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self

import numpy as np

from heldout.answers import Answers

__all__ = ["Aggregator"]


class Aggregator(ABC):
    """Base of every aggregator: questions → a score (probability the class fits) per question."""

    name: str = "aggregator"
    """The method name scores are stored under."""
    threshold: float = 0.5
    inclusive: bool = False
    """Whether a score equal to the threshold passes (ImageNetV2: frequency >= 0.7; ReaL: score > 0.8)."""
    scores_: np.ndarray

    @abstractmethod
    def fit(self, answers: Answers) -> Self:
        """Fit on ``answers`` and set ``scores_`` (one per question)."""

    def fit_predict_proba(self, answers: Answers) -> np.ndarray:
        """P(the question's class fits its image), one per question of ``answers.question_ids``."""
        return self.fit(answers).scores_

    def fit_predict(self, answers: Answers) -> np.ndarray:
        """The decision per question: score above (or at, when ``inclusive``) ``threshold``."""
        scores = self.fit_predict_proba(answers)
        return scores >= self.threshold if self.inclusive else scores > self.threshold
