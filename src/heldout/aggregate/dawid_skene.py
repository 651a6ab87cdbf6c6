r"""Dawid–Skene with a binary latent truth and K answer categories, vectorised.

Each question :math:`q` has a latent truth :math:`z_q \in \{0, 1\}` ("the class does not fit" /
"fits") with prior :math:`P(z_q = 1) = \rho_{g(q)}` for the question's group :math:`g(q)` (one
global group, or e.g. "is the image's original label" vs other). Worker :math:`w` answers
:math:`a \in \{0..K-1\}` with probability :math:`\pi_w[z, a]` (a 2×K row-stochastic matrix).
EM alternates

.. math::

    T_q = P(z_q = 1 \mid \text{answers}) \propto \rho_{g(q)} \prod_{i: q_i = q} \pi_{w_i}[1, a_i]

    \pi_w[z, a] \propto \alpha + \sum_{i: w_i = w, a_i = a} P(z_{q_i} = z), \qquad
    \rho_g = \operatorname{mean}_{q \in g} T_q

in log space with ``np.bincount`` sums (no loop over answers) and stops when the marginal
log-likelihood changes by less than ``tol`` (relative), or, with ``stop="posterior"``, when no
posterior moves by more than ``tol``. K = 3 (no/maybe/yes) is the ReaL model; K = 2 fits grids.

Dawid, A. P. and Skene, A. M. (1979). Maximum likelihood estimation of observer error-rates using
the EM algorithm. Applied Statistics 28(1), 20–28. doi:10.2307/2346806
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Self

import numpy as np
from scipy.special import expit

from heldout.aggregate.base import Aggregator
from heldout.answers import Answers
from heldout.errors import AggregationError

__all__ = ["DawidSkene"]

_EPS = 1e-12


@dataclass
class DawidSkene(Aggregator):
    """Binary-truth Dawid–Skene; ``scores_[q]`` is the posterior that question q's class fits."""

    max_iter: int = 200
    """Stop after this many EM iterations even if not converged (``converged_`` says which)."""
    tol: float = 1e-7
    """Convergence threshold: relative log-likelihood change, or largest posterior change."""
    stop: Literal["loglik", "posterior"] = "loglik"
    alpha: float | np.ndarray = 0.0
    """Dirichlet pseudo-counts added to every confusion count: a scalar, or (workers, 2, K)
    per worker (e.g. seeded from control-question accuracy)."""
    grouped_prior: bool = False
    """One prior per ``answers.group`` value instead of one global prior."""
    clamp: np.ndarray | None = None
    """Per question: -1 = free, 0 or 1 = fixed truth (golden questions at the expert majority)."""
    initial: np.ndarray | None = None
    """Initial posteriors; default: the share of answers in the top half of the categories."""
    threshold: float = 0.5
    name: str = "dawid-skene"
    scores_: np.ndarray = field(init=False, repr=False)
    confusion_: np.ndarray = field(init=False, repr=False)
    priors_: np.ndarray = field(init=False, repr=False)
    log_likelihood_: list[float] = field(init=False, repr=False)
    n_iter_: int = field(init=False, default=0)
    converged_: bool = field(init=False, default=False)

    def fit(self, answers: Answers) -> Self:
        self._check(answers)
        groups = self._groups(answers)
        cell = answers.worker.astype(np.int64) * answers.n_categories + answers.value
        cell_totals = np.bincount(cell, minlength=answers.n_workers * answers.n_categories)
        posterior = self._initial(answers)
        self.log_likelihood_ = []
        self.converged_ = False
        for iteration in range(1, self.max_iter + 1):
            self.confusion_, self.priors_ = self._m_step(answers, cell, cell_totals, posterior, groups)
            previous = posterior
            posterior, log_likelihood = self._e_step(answers, cell, self.confusion_, self.priors_, groups)
            posterior = self._apply_clamp(posterior)
            self.log_likelihood_.append(log_likelihood)
            self.n_iter_ = iteration
            if self._has_converged(previous, posterior):
                self.converged_ = True
                break
        self.scores_ = posterior
        return self

    def _check(self, answers: Answers) -> None:
        if np.count_nonzero(np.bincount(answers.worker)) < 2:
            raise AggregationError(
                "Dawid–Skene needs answers from at least 2 workers (one worker's errors are not identifiable)",
                where=answers.source or None,
                fix="use SelectionFrequency or MajorityVote for single-worker data",
            )
        if self.clamp is not None and len(self.clamp) != answers.n_questions:
            raise AggregationError(f"clamp has {len(self.clamp)} entries for {answers.n_questions} questions")
        if self.grouped_prior and answers.group is None:
            raise AggregationError(
                "grouped_prior needs answers.group", fix="load answers with question groups"
            )

    def _groups(self, answers: Answers) -> np.ndarray:
        if not self.grouped_prior:
            return np.zeros(answers.n_questions, dtype=np.int64)
        _, inverse = np.unique(answers.group, return_inverse=True)
        return inverse.astype(np.int64)

    def _initial(self, answers: Answers) -> np.ndarray:
        if self.initial is not None:
            return self._apply_clamp(np.asarray(self.initial, dtype=np.float64))
        counts = answers.counts()
        positive = counts[:, answers.n_categories // 2 :].sum(axis=1)
        totals = counts.sum(axis=1)
        share = np.where(totals > 0, positive / np.maximum(totals, 1), 0.5)
        return self._apply_clamp(share.astype(np.float64))

    def _apply_clamp(self, posterior: np.ndarray) -> np.ndarray:
        if self.clamp is None:
            return posterior
        fixed = self.clamp >= 0
        return np.where(fixed, self.clamp.astype(np.float64), posterior)

    def _m_step(
        self,
        answers: Answers,
        cell: np.ndarray,
        cell_totals: np.ndarray,
        posterior: np.ndarray,
        groups: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Soft counts per (worker, truth, answer) → confusion matrices; mean posterior per group → priors."""
        shape = (answers.n_workers, answers.n_categories)
        fits = np.bincount(cell, weights=posterior[answers.question], minlength=cell_totals.size)
        counts = np.stack([(cell_totals - fits).reshape(shape), fits.reshape(shape)], axis=1)
        counts = counts + self.alpha + _EPS
        confusion = counts / counts.sum(axis=2, keepdims=True)
        priors = np.bincount(groups, weights=posterior) / np.maximum(np.bincount(groups), 1)
        return confusion, np.clip(priors, _EPS, 1.0 - _EPS)

    @staticmethod
    def _e_step(
        answers: Answers, cell: np.ndarray, confusion: np.ndarray, priors: np.ndarray, groups: np.ndarray
    ) -> tuple[np.ndarray, float]:
        """Posterior log-odds = prior log-odds + the answers' summed log likelihood ratios.

        The marginal log-likelihood of question q is log(1 - rho) + sum log pi[w, 0, a] +
        softplus(log-odds), so both come from two bincounts over flat lookups.
        """
        log_no = np.log(confusion[:, 0, :]).ravel()
        log_ratio = np.log(confusion[:, 1, :]).ravel() - log_no
        n = answers.n_questions
        evidence_no = np.bincount(answers.question, weights=np.take(log_no, cell), minlength=n)
        log_odds = (np.log(priors) - np.log1p(-priors))[groups] + np.bincount(
            answers.question, weights=np.take(log_ratio, cell), minlength=n
        )
        softplus = np.maximum(log_odds, 0.0) + np.log1p(np.exp(-np.abs(log_odds)))
        log_likelihood = np.log1p(-priors)[groups] + evidence_no + softplus
        return expit(log_odds), float(log_likelihood.sum())

    def _has_converged(self, previous: np.ndarray, posterior: np.ndarray) -> bool:
        if self.stop == "posterior":
            return float(np.abs(posterior - previous).max()) < self.tol
        trace = self.log_likelihood_
        return len(trace) > 1 and abs(trace[-1] - trace[-2]) <= self.tol * abs(trace[-1])
