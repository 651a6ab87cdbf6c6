"""Two models on the same images: is one really better?

Accuracies of two models on one test set are paired: most images are right (or wrong) for both,
and only the *discordant* images, right for one model and wrong for the other, carry evidence.
The exact McNemar test asks whether those split 50/50 (a two-sided binomial test on the
discordant counts). The interval for the accuracy difference is exact conditional on the number
of discordant images: a Clopper–Pearson interval for the share won by model A, scaled to the whole
set. On 10,000 images, models a few tenths of a point apart are often not distinguishable, so a
ranking needs this test before anyone reads it as one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

from heldout.errors import AnalysisError
from heldout.stats import clopper_pearson

__all__ = ["PairedComparison", "compare_paired", "compare_ranking"]


@dataclass(frozen=True)
class PairedComparison:
    """Model ``a`` against model ``b`` on the same ``images``; differences are a − b in points."""

    model_a: str
    model_b: str
    images: int
    accuracy_a: float
    accuracy_b: float
    only_a: int
    only_b: int
    p_value: float
    difference_low: float
    difference_high: float
    confidence: float

    @property
    def difference(self) -> float:
        return self.accuracy_a - self.accuracy_b

    @property
    def significant(self) -> bool:
        """The test rejects "equally accurate" at level 1 − confidence."""
        return self.p_value < 1 - self.confidence

    def summary(self) -> str:
        """One sentence a reader can act on, saying plainly when the order is not established."""
        verdict = (
            "significant"
            if self.significant
            else f"NOT significant at {100 * (1 - self.confidence):g} %: the order of these two is not established"
        )
        return (
            f"{self.model_a} − {self.model_b} = {self.difference:+.2f} points "
            f"[{self.difference_low:+.2f}, {self.difference_high:+.2f}] on {self.images} images; "
            f"{self.only_a} vs {self.only_b} discordant images, exact McNemar p = {self.p_value:.3g}; {verdict}"
        )


def compare_paired(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    *,
    model_a: str = "a",
    model_b: str = "b",
    confidence: float = 0.95,
) -> PairedComparison:
    """Exact McNemar test and difference interval from two per-image correctness arrays."""
    a, b = _as_correct(correct_a, model_a), _as_correct(correct_b, model_b)
    if a.shape != b.shape:
        raise AnalysisError(
            f"{model_a} has {a.size} images, {model_b} has {b.size}",
            fix="compare two models on the same test set, rows in the same order",
        )
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must be between 0 and 1, got {confidence}")
    n = a.size
    only_a = int(np.count_nonzero(a & ~b))
    only_b = int(np.count_nonzero(b & ~a))
    discordant = only_a + only_b
    if discordant == 0:
        p_value, low, high = 1.0, 0.0, 0.0
    else:
        p_value = float(binomtest(only_a, discordant, 0.5).pvalue)
        share_low, share_high = clopper_pearson(only_a, discordant, confidence=confidence)
        low = 100.0 * discordant / n * (2 * float(share_low) - 1)
        high = 100.0 * discordant / n * (2 * float(share_high) - 1)
    return PairedComparison(
        model_a=model_a,
        model_b=model_b,
        images=n,
        accuracy_a=100.0 * np.count_nonzero(a) / n,
        accuracy_b=100.0 * np.count_nonzero(b) / n,
        only_a=only_a,
        only_b=only_b,
        p_value=p_value,
        difference_low=low,
        difference_high=high,
        confidence=confidence,
    )


def compare_ranking(correct: Mapping[str, np.ndarray], *, confidence: float = 0.95) -> list[PairedComparison]:
    """Each model against the next one down the accuracy ranking (best first).

    Neighbours in the ranking are the pairs most likely to be indistinguishable; a ranking is
    only as firm as its adjacent comparisons.
    """
    if len(correct) < 2:
        return []
    names = sorted(correct, key=lambda m: (-float(np.mean(correct[m])), m))
    return [
        compare_paired(correct[hi], correct[lo], model_a=hi, model_b=lo, confidence=confidence)
        for hi, lo in zip(names, names[1:], strict=False)
    ]


def _as_correct(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.size == 0:
        raise AnalysisError(f"correctness of {name} must be a non-empty 1-d array, got shape {array.shape}")
    if array.dtype != np.bool_:
        if not np.isin(array, (0, 1)).all():
            raise AnalysisError(
                f"correctness of {name} must be booleans (or 0/1)", fix="pass predictions == labels"
            )
        array = array.astype(bool)
    return array
