"""Statistics shared by every stage: exact binomial intervals."""

from __future__ import annotations

import numpy as np
from scipy.special import betaincinv

__all__ = ["clopper_pearson"]


def clopper_pearson(
    correct: np.ndarray | int, total: np.ndarray | int, *, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Exact binomial interval for the proportion ``correct / total`` (as fractions).

    The Beta quantiles come from ``scipy.special.betaincinv`` directly: ``beta.ppf`` computes
    the same values with several times the argument checking per call.
    """
    correct = np.asarray(correct, dtype=np.float64)
    total = np.asarray(total, dtype=np.float64)
    alpha = 1.0 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(correct > 0, betaincinv(correct, total - correct + 1, alpha / 2), 0.0)
        high = np.where(correct < total, betaincinv(correct + 1, total - correct, 1 - alpha / 2), 1.0)
    empty = total == 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)
