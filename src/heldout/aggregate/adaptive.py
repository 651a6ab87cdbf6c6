r"""Adaptive answers: ask for another answer only while a question's decision is still open.

A question is *settled* when more answers are unlikely to change its decision. With a fitted
Dawid–Skene model (worker confusion matrices :math:`\pi_w`, priors :math:`\rho_g`) the decision is
"posterior above ``threshold``" and the policy works in log-odds: the question's evidence so far is

.. math::

    x_q = \operatorname{logit} \rho_{g(q)} + \sum_{i: q_i = q} \lambda_{w_i a_i}, \qquad
    \lambda_{wa} = \log \pi_w[1, a] - \log \pi_w[0, a],

and each further answer adds one :math:`\lambda` drawn from the worker pool (worker ``w`` with its
share of the answers so far, answer ``a`` with probability :math:`\pi_w[z, a]`). With
:math:`r` answers still possible (``max_answers`` minus those given) the probability that they
move :math:`x_q` across :math:`\operatorname{logit}(\text{threshold})` is

.. math::

    P_\text{flip}(q) = \sum_{z} P(z \mid x_q)\, P\bigl(\operatorname{sign}(x_q + S_r - c)
    \ne \operatorname{sign}(x_q - c) \mid z\bigr), \qquad S_r = \lambda^{(1)} + \dots + \lambda^{(r)},

computed exactly (up to a ``resolution_logit`` grid) by convolving the pool's :math:`\lambda`
distribution :math:`r` times. A question is settled when it has ``min_answers`` and
:math:`P_\text{flip} \le` ``max_flip_probability`` (0 means "no sequence of remaining answers can
cross the threshold", the worst-case rule), or when its posterior is decisive
(:math:`P(z = 1) < \varepsilon` or :math:`> 1 - \varepsilon`, if ``epsilon`` is set), or when it has
``max_answers``.

Without a model the policy falls back to the share of ``positive`` answers (yes or maybe): settled
when its Clopper–Pearson interval lies on one side of ``frequency_threshold``, or when no
remaining answers can move the final share across it.

:func:`replay` simulates the policy on answers that are all known (every question fully answered):
each question's answers are revealed in a seeded random order, ``min_answers`` to everyone, then one
more per round to unsettled questions after a warm-started refit, and the result is compared with
the fit on all answers.

>>> policy = AdaptivePolicy(threshold=0.8)
>>> model = DawidSkene().fit(answers)  # doctest: +SKIP
>>> policy.next_questions(answers, confusion=model.confusion_, priors=model.priors_)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.special import expit, logit

from heldout.aggregate.dawid_skene import DawidSkene
from heldout.answers import Answers
from heldout.errors import AggregationError
from heldout.stats import clopper_pearson

__all__ = ["AdaptivePolicy", "ReplayResult", "replay"]

_TINY = 1e-300


@dataclass(frozen=True, kw_only=True)
class AdaptivePolicy:
    """Which questions still need answers, from the answers so far (see the module docstring).

    The defaults replayed on the ReaL votes (5 per question, ``benchmarks/adaptive.py``) use a
    third fewer answers and keep 99.8 % of the full-data decisions at 0.8; ``min_answers=2``
    saves 47 % but keeps 99.4 % and costs up to 0.4 pp of agreement with the experts.
    """

    threshold: float = 0.8
    """Operating threshold on the Dawid–Skene posterior: the class is accepted above it (ReaL: 0.8)."""
    max_flip_probability: float = 0.01
    """Settle when the remaining answers change the decision with at most this probability."""
    epsilon: float | None = None
    """Also settle when the posterior is below ``epsilon`` or above ``1 - epsilon`` (None: off)."""
    min_answers: int = 3
    """Every question gets this many answers before the policy looks at it."""
    max_answers: int = 5
    """A question with this many answers is settled whatever they say."""
    resolution_logit: float = 0.02
    """Grid step (in log-odds) of the remaining-evidence distribution."""
    frequency_threshold: float = 0.5
    """Without a model: the class is accepted when the share of ``positive`` answers exceeds this."""
    positive: tuple[int, ...] = (1, 2)
    """Without a model: the answer codes counted as positive (maybe and yes)."""
    confidence: float = 0.95
    """Without a model: confidence of the Clopper–Pearson interval of the positive share."""

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise AggregationError(f"threshold must lie in (0, 1), got {self.threshold}")
        if not 0.0 <= self.max_flip_probability < 1.0:
            raise AggregationError(
                f"max_flip_probability must lie in [0, 1), got {self.max_flip_probability}"
            )
        if self.epsilon is not None and not 0.0 < self.epsilon < 0.5:
            raise AggregationError(f"epsilon must lie in (0, 0.5), got {self.epsilon}")
        if not 1 <= self.min_answers <= self.max_answers:
            raise AggregationError(
                f"need 1 <= min_answers <= max_answers, got {self.min_answers} and {self.max_answers}"
            )
        if self.resolution_logit <= 0:
            raise AggregationError(f"resolution_logit must be positive, got {self.resolution_logit}")
        if not 0.0 < self.confidence < 1.0:
            raise AggregationError(f"confidence must lie in (0, 1), got {self.confidence}")

    def settled(
        self, answers: Answers, *, confusion: np.ndarray | None = None, priors: np.ndarray | None = None
    ) -> np.ndarray:
        """One bool per question of ``answers``: True when it needs no more answers.

        ``confusion`` (workers, 2, categories) and ``priors`` (one per prior group, or one) come
        from a :class:`DawidSkene` fit (``confusion_``, ``priors_``); without them the policy uses
        the positive-answer share and its Clopper–Pearson interval.
        """
        return self._uncertainty(answers, confusion, priors) <= 0.0

    def next_questions(
        self, answers: Answers, *, confusion: np.ndarray | None = None, priors: np.ndarray | None = None
    ) -> np.ndarray:
        """Indices of the questions that still need answers, most uncertain first.

        Questions below ``min_answers`` come first (fewest answers first), then the rest by
        decreasing probability that more answers change their decision (frequency fallback: by
        closeness of the positive share to ``frequency_threshold``). Ties keep question order.
        """
        uncertainty = self._uncertainty(answers, confusion, priors)
        open_questions = np.flatnonzero(uncertainty > 0.0)
        order = np.argsort(-uncertainty[open_questions], kind="stable")
        return open_questions[order]

    def posterior_log_odds(self, answers: Answers, confusion: np.ndarray, priors: np.ndarray) -> np.ndarray:
        """log P(z=1 | answers) / P(z=0 | answers) per question, under the given model."""
        llr = self._answer_log_odds(answers, np.asarray(confusion, dtype=np.float64))
        prior = np.asarray(priors, dtype=np.float64)
        prior_log_odds = logit(np.clip(prior, 1e-12, 1 - 1e-12))[_prior_groups(answers, len(prior))]
        evidence = np.bincount(
            answers.question, weights=llr[answers.worker, answers.value], minlength=answers.n_questions
        )
        return prior_log_odds + evidence

    def flip_probability(self, answers: Answers, confusion: np.ndarray, priors: np.ndarray) -> np.ndarray:
        """Per question: probability that its remaining possible answers (up to ``max_answers``)
        change its decision, each answer coming from the worker pool in proportion to the workers'
        answers so far."""
        confusion = np.asarray(confusion, dtype=np.float64)
        log_odds = self.posterior_log_odds(answers, confusion, priors)
        remaining = np.maximum(self.max_answers - self._n_answers(answers), 0)
        return self._flip(answers, confusion, log_odds, remaining)

    # -- machinery -------------------------------------------------------------------------------

    def _uncertainty(
        self, answers: Answers, confusion: np.ndarray | None, priors: np.ndarray | None
    ) -> np.ndarray:
        """Per question: > 0 while it needs answers (larger = more uncertain), <= 0 once settled."""
        n = self._n_answers(answers)
        if (confusion is None) != (priors is None):
            raise AggregationError("pass both confusion and priors (a fitted model) or neither")
        if confusion is None:
            score = self._frequency_uncertainty(answers, n)
        else:
            score = self._model_uncertainty(answers, np.asarray(confusion, dtype=np.float64), priors, n)
        below_minimum = n < self.min_answers
        # below-minimum questions rank first, fewest answers first; exhausted ones are settled
        score = np.where(below_minimum, 2.0 + (self.min_answers - n), score)
        return np.where(n >= self.max_answers, 0.0, score)

    def _model_uncertainty(
        self, answers: Answers, confusion: np.ndarray, priors: np.ndarray, n: np.ndarray
    ) -> np.ndarray:
        log_odds = self.posterior_log_odds(answers, confusion, priors)
        remaining = np.maximum(self.max_answers - n, 0)
        flip = self._flip(answers, confusion, log_odds, remaining)
        score = np.where(flip > self.max_flip_probability, flip, 0.0)
        if self.epsilon is not None:
            decisive = np.abs(log_odds) > logit(1.0 - self.epsilon)
            score = np.where(decisive, 0.0, score)
        return score

    def _frequency_uncertainty(self, answers: Answers, n: np.ndarray) -> np.ndarray:
        counts = answers.counts()
        hits = counts[:, [c for c in self.positive if c < answers.n_categories]].sum(axis=1)
        remaining = np.maximum(self.max_answers - n, 0)
        final_total = np.maximum(n + remaining, 1)
        thr = self.frequency_threshold
        cannot_cross = ((hits + remaining) / final_total <= thr) | (hits / final_total > thr)
        with np.errstate(invalid="ignore"):  # no answers: NaN interval, never decisive
            low, high = clopper_pearson(hits, n, confidence=self.confidence)
        decisive = (high < thr) | (low > thr)
        share = hits / np.maximum(n, 1)
        closeness = 1.5 - np.abs(share - thr)  # in [0.5, 1.5]: the nearer the threshold, the more uncertain
        return np.where(cannot_cross | decisive, 0.0, closeness)

    @staticmethod
    def _n_answers(answers: Answers) -> np.ndarray:
        return np.bincount(answers.question, minlength=answers.n_questions)

    @staticmethod
    def _answer_log_odds(answers: Answers, confusion: np.ndarray) -> np.ndarray:
        expected = (answers.n_workers, 2, answers.n_categories)
        if confusion.shape != expected:
            raise AggregationError(
                f"confusion has shape {confusion.shape}, expected {expected} (workers, truth, categories)",
                fix="pass the confusion_ of a DawidSkene fitted on the same answers",
            )
        log_confusion = np.log(np.maximum(confusion, _TINY))
        return log_confusion[:, 1, :] - log_confusion[:, 0, :]

    def _flip(
        self, answers: Answers, confusion: np.ndarray, log_odds: np.ndarray, remaining: np.ndarray
    ) -> np.ndarray:
        """P(the remaining answers move log_odds across logit(threshold)), per question."""
        cut = float(logit(self.threshold))
        llr = self._answer_log_odds(answers, confusion)
        share = np.bincount(answers.worker, minlength=answers.n_workers) / len(answers)
        step = self.resolution_logit
        bins = np.rint(llr / step).astype(np.int64)
        offset = int(np.abs(bins).max())
        # per truth z: the distribution of one more answer's log-odds on the grid -offset..offset
        single = [
            np.bincount(
                (bins + offset).ravel(),
                weights=(share[:, None] * confusion[:, z, :]).ravel(),
                minlength=2 * offset + 1,
            )
            for z in (0, 1)
        ]
        posterior = expit(log_odds)
        accepted = log_odds > cut
        flip = np.zeros(answers.n_questions)
        sums = [np.array([1.0]), np.array([1.0])]
        for r in range(1, int(remaining.max(initial=0)) + 1):
            sums = [np.convolve(sums[z], single[z]) for z in (0, 1)]
            rows = np.flatnonzero(remaining == r)
            if not len(rows):
                continue
            # S <= u  <=>  grid index <= floor(u / step) + r * offset
            index = np.floor((cut - log_odds[rows]) / step + 1e-9).astype(np.int64) + r * offset
            below = []
            for z in (0, 1):
                cdf = np.concatenate([[0.0], np.cumsum(sums[z])])
                below.append(cdf[np.clip(index + 1, 0, len(cdf) - 1)] / cdf[-1])
            p = posterior[rows]
            fall = p * below[1] + (1 - p) * below[0]  # P(final <= cut)
            flip[rows] = np.where(accepted[rows], fall, 1.0 - fall)
        return flip


@dataclass(frozen=True, eq=False)
class ReplayResult:
    """What :func:`replay` measured; fractions in [0, 1]."""

    answers_used: int
    answers_available: int
    rounds: int
    """Refits after the first one (each gave one more answer to every unsettled question)."""
    used: np.ndarray = field(repr=False)
    """Answers revealed per question."""
    scores: np.ndarray = field(repr=False)
    """Dawid–Skene posteriors fitted on the revealed answers."""
    full_scores: np.ndarray = field(repr=False)
    """Dawid–Skene posteriors fitted on all answers."""
    threshold: float
    identical_decisions: float
    """Share of questions whose decision (score > threshold) matches the full-data fit."""
    expert_agreement: float | None
    """Share of golden questions where the adaptive decision equals the expert truth."""
    full_expert_agreement: float | None
    """The same for the full-data fit."""
    golden_questions: int

    @property
    def saved(self) -> float:
        """Share of the available answers not needed."""
        return 1.0 - self.answers_used / self.answers_available

    @property
    def ratio(self) -> float:
        """Available answers per used answer (2.0 = half the answers)."""
        return self.answers_available / self.answers_used


def replay(
    answers: Answers,
    policy: AdaptivePolicy,
    *,
    seed: int,
    model: DawidSkene | None = None,
    truth: np.ndarray | None = None,
    rounds: int | None = None,
) -> ReplayResult:
    """Simulate ``policy`` on fully answered questions and compare with the fit on all answers.

    Each question's answers are revealed in a random order drawn from
    ``np.random.default_rng(seed)``: ``min_answers`` to every question, then, after each refit of
    ``model`` (default ``DawidSkene()``) on the revealed answers, warm-started from the previous
    posteriors, one more to every question the policy leaves open, until all are settled or out
    of answers (or after ``rounds`` refits). ``truth`` holds the expert answer per question
    (1 fits, 0 does not, -1 unknown) for the expert-agreement figures.
    """
    model = model if model is not None else DawidSkene()
    if truth is not None and len(truth) != answers.n_questions:
        raise AggregationError(f"truth has {len(truth)} entries for {answers.n_questions} questions")
    rank = _reveal_order(answers, np.random.default_rng(seed))
    available = np.bincount(answers.question, minlength=answers.n_questions)
    cap = np.minimum(available, policy.max_answers)
    budget = np.minimum(cap, policy.min_answers)
    revealed = _subset(answers, rank < budget[answers.question])
    fit = replace(model).fit(revealed)  # copies: the caller's model stays unfitted
    done = 0
    while rounds is None or done < rounds:
        settled = policy.settled(revealed, confusion=fit.confusion_, priors=fit.priors_)
        grow = ~settled & (budget < cap)
        if not grow.any():
            break
        budget = budget + grow
        revealed = _subset(answers, rank < budget[answers.question])
        fit = replace(model, initial=fit.scores_).fit(revealed)
        done += 1
    full = replace(model).fit(answers).scores_
    scores = fit.scores_
    decisions, full_decisions = scores > policy.threshold, full > policy.threshold
    agreement = full_agreement = None
    golden = 0
    if truth is not None:
        known = np.asarray(truth) >= 0
        golden = int(known.sum())
        if golden:
            agreement = float((decisions[known] == (truth[known] == 1)).mean())
            full_agreement = float((full_decisions[known] == (truth[known] == 1)).mean())
    return ReplayResult(
        answers_used=len(revealed),
        answers_available=len(answers),
        rounds=done,
        used=np.bincount(revealed.question, minlength=answers.n_questions),
        scores=scores,
        full_scores=full,
        threshold=policy.threshold,
        identical_decisions=float((decisions == full_decisions).mean()),
        expert_agreement=agreement,
        full_expert_agreement=full_agreement,
        golden_questions=golden,
    )


def _reveal_order(answers: Answers, rng: np.random.Generator) -> np.ndarray:
    """Per answer: its 0-based position in its question's random reveal order.

    Answers are first put in a canonical order (question, worker, value) so the result depends on
    the seed and the answers, not on how the rows happen to be sorted.
    """
    canonical = np.lexsort((answers.value, answers.worker, answers.question))
    keys = np.empty(len(answers))
    keys[canonical] = rng.random(len(answers))
    order = np.lexsort((keys, answers.question))
    starts = np.searchsorted(answers.question[order], answers.question[order], side="left")
    rank = np.empty(len(answers), dtype=np.int64)
    rank[order] = np.arange(len(answers)) - starts
    return rank


def _subset(answers: Answers, mask: np.ndarray) -> Answers:
    return Answers(
        answers.question[mask],
        answers.worker[mask],
        answers.value[mask],
        answers.question_ids,
        answers.worker_ids,
        answers.n_categories,
        answers.group,
        answers.golden,
        answers.source,
    )


def _prior_groups(answers: Answers, n_priors: int) -> np.ndarray:
    """Per question: index into the priors (one global prior, or one per ``answers.group`` value)."""
    if n_priors == 1:
        return np.zeros(answers.n_questions, dtype=np.int64)
    if answers.group is None:
        raise AggregationError(
            f"{n_priors} priors given but the answers have no question groups",
            fix="pass the answers the grouped-prior model was fitted on",
        )
    values, inverse = np.unique(answers.group, return_inverse=True)
    if len(values) != n_priors:
        raise AggregationError(f"{n_priors} priors for {len(values)} question groups")
    return inverse.astype(np.int64)
