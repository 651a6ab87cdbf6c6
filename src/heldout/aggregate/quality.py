r"""Worker quality: accuracy against a known truth, per worker, with exact intervals.

The truth is one value per question: 1 (the class fits), 0 (it does not), -1 (unknown, skipped).
It comes from experts (:func:`expert_majority`: ReaL's golden questions, "≥ 3 of 5 experts say
yes") or from the design of a grid task (:func:`control_truth`: positive controls fit, negative
controls do not), so golden accuracy and control accuracy are one function,
:func:`worker_quality`. Everything is ``np.bincount`` over the answer arrays; no loop runs over
answers or workers.

A worker is a *likely spammer* when, with enough answers, their answers carry (almost) no
information about the truth. Two rules, either suffices:

* the Clopper–Pearson upper bound of their accuracy is below ``min_accuracy`` (default 0.5:
  clearly worse than a coin), or
* they answered at least ``min_answers`` questions on *each* side of the truth and their
  informedness :math:`J = \text{sensitivity} + \text{specificity} - 1` (Youden's J) has
  :math:`|J| <` ``min_informedness`` (default 0.2). A worker who always says "no", or clicks at
  random, has :math:`J \approx 0` whatever their raw accuracy; on ReaL's golden questions (22 %
  positive) always answering "no" would score 78 % accuracy, so accuracy alone cannot catch them.

:func:`confusion_prior` turns the per-worker answer counts by truth into Dirichlet pseudo-counts
for ``DawidSkene(alpha=...)``, so control answers can seed each worker's confusion matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from heldout.answers import Answers
from heldout.errors import AggregationError
from heldout.stats import clopper_pearson

__all__ = [
    "CONTROL_ROLES",
    "WorkerQuality",
    "confusion_prior",
    "control_truth",
    "expert_majority",
    "worker_quality",
]

YES = 2
CONTROL_ROLES = ("candidate", "positive", "negative")
"""Roles of grid-task questions: candidates are what the task measures; controls have a known truth."""


@dataclass(frozen=True, eq=False)
class WorkerQuality:
    """Per-worker accuracy against a truth; every array is aligned with ``worker_ids``.

    ``answer_counts[w, z, a]`` counts worker ``w``'s answers ``a`` to questions of truth ``z``
    (the raw material for :func:`confusion_prior`); ``n_answers``/``n_correct`` count only
    questions with a known truth. Rates are NaN where a worker has no answer to count them on.
    """

    worker_ids: np.ndarray
    n_answers: np.ndarray
    n_correct: np.ndarray
    accuracy: np.ndarray
    accuracy_low: np.ndarray
    accuracy_high: np.ndarray
    sensitivity: np.ndarray
    """P(answer counts as yes | truth 1)."""
    specificity: np.ndarray
    """P(answer counts as no | truth 0)."""
    answer_counts: np.ndarray
    is_likely_spammer: np.ndarray
    positive: tuple[int, ...]
    confidence: float

    def __len__(self) -> int:
        return len(self.worker_ids)

    @property
    def informedness(self) -> np.ndarray:
        """Youden's J = sensitivity + specificity − 1: 0 for answers independent of the truth."""
        return self.sensitivity + self.specificity - 1.0

    def to_rows(self) -> list[dict]:
        """One dict per worker (JSON-ready; NaN rates become None), for a table or a CSV."""
        columns = {
            "worker_id": self.worker_ids.tolist(),
            "answers": self.n_answers.tolist(),
            "correct": self.n_correct.tolist(),
            "accuracy": _floats(self.accuracy),
            "accuracy_low": _floats(self.accuracy_low),
            "accuracy_high": _floats(self.accuracy_high),
            "sensitivity": _floats(self.sensitivity),
            "specificity": _floats(self.specificity),
            "informedness": _floats(self.informedness),
            "is_likely_spammer": self.is_likely_spammer.tolist(),
        }
        return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def expert_majority(expert: Answers, *, min_yes: int = 3, positive: Sequence[int] = (YES,)) -> np.ndarray:
    """Per question of ``expert``: 1 if at least ``min_yes`` experts answered in ``positive``
    (ReaL: ≥ 3 of the 5 experts said yes), else 0; -1 for questions no expert answered."""
    if min_yes < 1:
        raise AggregationError(f"min_yes must be at least 1, got {min_yes}")
    said_yes = np.isin(expert.value, np.asarray(positive))
    answered = np.bincount(expert.question, minlength=expert.n_questions)
    yes = np.bincount(expert.question[said_yes], minlength=expert.n_questions)
    truth = (yes >= min_yes).astype(np.int8)
    truth[answered == 0] = -1
    return truth


def control_truth(roles: np.ndarray | Sequence[str]) -> np.ndarray:
    """Truth per question from grid roles: ``positive`` → 1, ``negative`` → 0, ``candidate`` → -1.

    With it, control accuracy is ``worker_quality(answers, control_truth(roles))``.
    """
    roles = np.asarray(roles, dtype=str)
    known = np.isin(roles, CONTROL_ROLES)
    if not known.all():
        raise AggregationError(
            f"unknown question role(s) {sorted(set(roles[~known].tolist()))[:5]}",
            fix=f"roles are one of {', '.join(CONTROL_ROLES)}",
        )
    truth = np.full(roles.shape, -1, dtype=np.int8)
    truth[roles == "positive"] = 1
    truth[roles == "negative"] = 0
    return truth


def worker_quality(
    answers: Answers,
    truth: np.ndarray,
    *,
    positive: Sequence[int] = (1, YES),
    confidence: float = 0.95,
    min_accuracy: float = 0.5,
    min_informedness: float = 0.2,
    min_answers: int = 10,
) -> WorkerQuality:
    """Each worker's accuracy against ``truth`` (one entry per question of ``answers``; -1 skipped).

    Answers in ``positive`` count as "yes" (default: maybe and yes, the ReaL convention). The
    spammer rule and its thresholds are described in the module docstring.
    """
    truth = np.asarray(truth)
    if truth.shape != (answers.n_questions,):
        raise AggregationError(
            f"truth has shape {truth.shape} for {answers.n_questions} questions",
            where=answers.source or None,
            fix="give one truth value (0, 1 or -1 = unknown) per question of the answers",
        )
    if not np.isin(truth, (-1, 0, 1)).all():
        raise AggregationError("truth values must be 0, 1 or -1 (unknown)", where=answers.source or None)
    workers, k = answers.n_workers, answers.n_categories
    z = truth[answers.question].astype(np.int64)
    known = z >= 0
    worker, value, z = answers.worker[known].astype(np.int64), answers.value[known], z[known]
    cells = (worker * 2 + z) * k + value
    counts = np.bincount(cells, minlength=workers * 2 * k).reshape(workers, 2, k)

    is_yes = np.isin(np.arange(k), np.asarray(positive))
    true_positive = counts[:, 1, is_yes].sum(axis=1)
    false_negative = counts[:, 1, ~is_yes].sum(axis=1)
    true_negative = counts[:, 0, ~is_yes].sum(axis=1)
    false_positive = counts[:, 0, is_yes].sum(axis=1)
    n_answers = counts.sum(axis=(1, 2))
    n_correct = true_positive + true_negative
    low, high = clopper_pearson(n_correct, n_answers, confidence=confidence)
    accuracy = _ratio(n_correct, n_answers)
    sensitivity = _ratio(true_positive, true_positive + false_negative)
    specificity = _ratio(true_negative, true_negative + false_positive)

    worse_than_chance = (n_answers > 0) & (np.nan_to_num(high, nan=1.0) < min_accuracy)
    both_sides = np.minimum(true_positive + false_negative, true_negative + false_positive) >= min_answers
    uninformed = both_sides & (
        np.abs(np.nan_to_num(sensitivity + specificity - 1.0, nan=1.0)) < min_informedness
    )
    return WorkerQuality(
        worker_ids=answers.worker_ids,
        n_answers=n_answers,
        n_correct=n_correct,
        accuracy=accuracy,
        accuracy_low=low,
        accuracy_high=high,
        sensitivity=sensitivity,
        specificity=specificity,
        answer_counts=counts,
        is_likely_spammer=worse_than_chance | uninformed,
        positive=tuple(int(p) for p in positive),
        confidence=confidence,
    )


def confusion_prior(
    quality: WorkerQuality,
    n_categories: int,
    *,
    strength: float = 10.0,
    worker_ids: np.ndarray | None = None,
) -> np.ndarray:
    """Dirichlet pseudo-counts (workers, 2, K) for ``DawidSkene(alpha=...)`` from control answers.

    Row ``z`` of worker ``w`` is ``strength`` pseudo-answers spread like the worker's own answers
    to questions of truth ``z`` (with add-one smoothing, so an unseen answer keeps some mass):
    ``strength`` is how many real answers the control evidence weighs. Workers without control
    answers of a truth — and workers of ``worker_ids`` that ``quality`` does not know — get the
    pooled rates of all workers. ``worker_ids`` (default ``quality.worker_ids``) aligns the
    result with the answers Dawid–Skene will be fitted on.
    """
    counts = quality.answer_counts.astype(np.float64)
    if counts.shape[2] != n_categories:
        raise AggregationError(
            f"quality was measured on {counts.shape[2]} answer categories, the prior asks for {n_categories}",
            fix="measure quality on answers with the same categories as the Dawid–Skene fit",
        )
    if strength <= 0:
        raise AggregationError(f"strength must be positive, got {strength}")
    pooled = counts.sum(axis=0) + 1.0
    pooled = pooled / pooled.sum(axis=1, keepdims=True)
    own = (counts + 1.0) / (counts.sum(axis=2, keepdims=True) + n_categories)
    has_rows = counts.sum(axis=2, keepdims=True) > 0
    rates = np.where(has_rows, own, pooled[None])
    if worker_ids is not None:
        worker_ids = np.asarray(worker_ids)
        sorter = np.argsort(quality.worker_ids)
        at = np.minimum(np.searchsorted(quality.worker_ids, worker_ids, sorter=sorter), len(sorter) - 1)
        rows = sorter[at]
        found = quality.worker_ids[rows] == worker_ids
        rates = np.where(found[:, None, None], rates[rows], pooled[None])
    return strength * rates


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values.tolist()]
