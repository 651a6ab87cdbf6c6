"""Accuracy metrics on arrays: top-k, ReaL top-k, per-class accuracy, Clopper–Pearson intervals.

Everything here takes whole arrays of predictions and labels; no loop runs over images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heldout.datasets.real import RealLabels
from heldout.stats import clopper_pearson

__all__ = [
    "Accuracy",
    "clopper_pearson",
    "correct_within",
    "per_class_accuracy",
    "real_topk_correct",
    "topk_correct",
]


@dataclass(frozen=True)
class Accuracy:
    """``correct`` of ``total`` images right, in percent, with a Clopper–Pearson interval."""

    correct: int
    total: int
    percent: float
    low: float
    high: float

    @classmethod
    def from_correct(cls, correct: np.ndarray, *, confidence: float = 0.95) -> Accuracy:
        """The accuracy of one boolean correctness array."""
        counts = {"": (int(np.count_nonzero(correct)), int(np.size(correct)))}
        return cls.from_counts(counts, confidence=confidence)[""]

    @classmethod
    def from_counts(
        cls, counts: dict[str, tuple[int, int]], *, confidence: float = 0.95
    ) -> dict[str, Accuracy]:
        """Accuracies from (correct, total) pairs; all intervals in one vectorised call."""
        hits = np.array([c for c, _ in counts.values()], dtype=np.int64)
        totals = np.array([t for _, t in counts.values()], dtype=np.int64)
        lows, highs = clopper_pearson(hits, totals, confidence=confidence)
        with np.errstate(invalid="ignore", divide="ignore"):
            percents = 100.0 * hits / totals
        return {
            name: cls(int(h), int(t), float(p), 100.0 * float(lo), 100.0 * float(hi))
            for name, h, t, p, lo, hi in zip(counts, hits, totals, percents, lows, highs, strict=True)
        }


def topk_correct(ranked: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """True where ``labels[i]`` is among the first ``k`` predictions of row ``i``."""
    return (ranked[:, :k] == np.asarray(labels)[:, None]).any(axis=1)


def correct_within(hits: np.ndarray) -> np.ndarray:
    """From ``hits[i, j]`` (prediction j of image i is right) to "right within the first j+1".

    Column ``k - 1`` of the result is top-k correctness, so all k come from one pass. The loop
    runs over the k columns (column-major, contiguous), never over images.
    """
    columns = np.asfortranarray(hits)
    out = np.empty_like(columns)
    out[:, 0] = columns[:, 0]
    for j in range(1, columns.shape[1]):
        np.logical_or(out[:, j - 1], columns[:, j], out=out[:, j])
    return out


def real_topk_correct(ranked: np.ndarray, real: RealLabels, k: int) -> np.ndarray:
    """ReaL top-k on the images that have labels: any of the first ``k`` predictions is in the set.

    ``real`` must be aligned to the rows of ``ranked``; images with an empty set are dropped, so
    the result has one entry per *scored* image.
    """
    return real.contains(ranked[:, :k]).any(axis=1)[real.counts > 0]


def per_class_accuracy(correct: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Accuracy of every class in percent (NaN for classes with no images)."""
    totals = np.bincount(labels, minlength=num_classes)
    hits = np.bincount(labels[correct], minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, 100.0 * hits / totals, np.nan)
