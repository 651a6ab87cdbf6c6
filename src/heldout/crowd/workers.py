r"""Crowd workers: registration, onboarding qualification, and the rule that pauses spammers.

**Registration.** A worker arrives with a platform id (MTurk's ``workerId``) or an invite label
(a lab's own crowd, :meth:`~heldout.crowd.tokens.TokenSigner.invite`). Only
``sha256(id + secret)`` is stored (:func:`~heldout.crowd.tokens.hash_worker_id`); invite labels
are hashed as ``"invite:" + label`` so they never collide with platform ids. Registering twice
is the same worker. With ``[crowd] qualification = true`` a new worker starts ``qualifying``.

**Qualification.** A qualifying worker is only given ``qualification`` tasks (golden questions,
or controls). Once they answered ``qualification_min_answers`` questions of known truth, they
become ``active`` if at least ``qualification_min_accuracy`` of them are right and the pause rule
below does not fire on them; otherwise they are ``paused`` with the reason.

**The pause rule** (documented here, configured in ``[crowd]``, checked before every new
assignment, so a worker is paused before their next task). Over the worker's last
``monitor_window`` submitted assignments, every answer counts as *positive* (a grid tick; yes or
maybe in a verify task) or not, against the question's probability :math:`T` that its class fits:

* positive controls :math:`T = 1`, negative controls :math:`T = 0`;
* golden questions: the expert majority (:math:`T = 1` when most experts said yes);
* candidates: the other workers' answers so far (excluding paused workers), combined with the
  honest prior means :math:`\bar s, \bar f` and ``candidate_prior`` :math:`\rho`:
  :math:`\operatorname{logit} T = \operatorname{logit}\rho + k_+ \log(\bar s/\bar f) + k_- \log\frac{1-\bar s}{1-\bar f}`;
  a candidate nobody else has answered yet is left out (its truth would be a guess about the
  class: an honest worker on a class whose candidates are all wrong would look like an always-no
  clicker).

Two models explain the answers. *Honest*: P(positive) = :math:`T s + (1 - T) f`, with sensitivity
:math:`s \sim \mathrm{Beta}` (``honest_sensitivity``) and false-positive rate
:math:`f \sim \mathrm{Beta}` (``honest_false_positive``), both fitted on the 85 ReaL raters'
Dawid–Skene confusion matrices. *Spammer*: P(positive) = :math:`q` whatever the image, with
:math:`q \sim U(0, 1)` (always-yes, always-no and random clickers alike). The worker is paused when
the Bayes factor

.. math::

    \log \frac{\int_0^1 \prod_i q^{a_i} (1-q)^{1-a_i}\, dq}
              {\iint \prod_i p_i^{a_i} (1-p_i)^{1-a_i}\, \mathrm{Beta}(s)\,\mathrm{Beta}(f)\, ds\, df}
    > \texttt{pause\_log\_odds} \;(2.0), \qquad p_i = T_i s + (1 - T_i) f

(midpoint quadrature on a 64-point grid per parameter; answers are binned by :math:`T` into 21
bins, so the cost does not grow with the window). With the ImageNetV2 grid (42 candidates, 3
positive and 3 negative controls) and up to nine earlier workers per task, this pauses an always-
yes, an always-no and a random clicker within two grids, and an honest worker drawn from the ReaL
raters rarely: on 1,000 seeded runs each (``tests/web/test_workers.py``), always-yes and always-no
clickers 100 % and random clickers 98.8 % within two grids, honest workers 0.3 % over 20 grids.

**Quality priors.** :func:`control_prior` turns each worker's control and golden answers into
Dirichlet pseudo-counts for ``DawidSkene(alpha=...)``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import betaln, logsumexp
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from heldout.aggregate import confusion_prior, measure_workers
from heldout.answers import VALID_STATUSES, Answers
from heldout.catalog import Answer, Assignment, Question, Task, TaskQuestion, Worker
from heldout.config import CrowdConfig
from heldout.crowd.tokens import hash_worker_id
from heldout.errors import InvalidFieldError, UnknownTaskError
from heldout.project import Project, utcnow

__all__ = [
    "QUALIFICATION_KIND",
    "WORK_KINDS",
    "PauseRule",
    "WorkerCheck",
    "WorkerRef",
    "check_field",
    "check_text",
    "check_worker",
    "control_prior",
    "register_worker",
    "set_worker_status",
]

WORK_KINDS = ("grid", "verify")
"""Task kinds an active worker is given."""
QUALIFICATION_KIND = "qualification"
"""Task kind a qualifying worker is given (golden questions or controls)."""
MONITORED_KINDS = (*WORK_KINDS, QUALIFICATION_KIND)
WORKER_STATUSES = ("active", "qualifying", "paused")

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TEXT = re.compile(r"[\w .,!?'\"()\-:/%+\n]*")
_TEXT_MAX = 500


def check_field(value: str, name: str) -> str:
    """An id from outside (``workerId``, ``assignmentId``, ``hitId``, an invite label): letters,
    digits, ``_`` and ``-``, at most 64 of them. Anything else (quotes, markup, SQL) is refused."""
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InvalidFieldError(
            f"{name} must be 1 to 64 letters, digits, '_' or '-'", fix=f"check the {name} you were given"
        )
    return value


def check_text(value: str, name: str) -> str:
    """A free-text field (a pause or reject reason): words, spaces and plain punctuation
    (``.,!?'"()-:/%+``), at most 500 characters. Markup (``<>&``), ``;``, ``=``, backticks,
    braces, backslashes and control characters are refused, not escaped and stored."""
    if not isinstance(value, str) or len(value) > _TEXT_MAX or not _TEXT.fullmatch(value):
        raise InvalidFieldError(
            f"{name} may hold at most {_TEXT_MAX} letters, digits, spaces and .,!?'\"()-:/%+",
            fix="leave out markup and special characters",
        )
    return value


@dataclass(frozen=True)
class WorkerRef:
    worker_id: int
    status: str
    is_new: bool


def register_worker(project: Project, secret: str, *, platform_id: str, via: str = "mturk") -> WorkerRef:
    """The worker with this platform id (``via="mturk"``) or invite label (``via="invite"``),
    created on first sight. Only the salted hash of the id is stored."""
    check_field(platform_id, "workerId" if via == "mturk" else "invite label")
    if via not in ("mturk", "invite"):
        raise InvalidFieldError(f"unknown worker origin {via!r}", fix="use mturk or invite")
    external_id = hash_worker_id(platform_id if via == "mturk" else f"invite:{platform_id}", secret)
    status = "qualifying" if project.config.crowd.qualification else "active"
    with project.transaction() as session:
        found = session.execute(
            select(Worker.worker_id, Worker.status).where(Worker.external_id == external_id)
        ).first()
        if found is not None:
            return WorkerRef(found[0], found[1], False)
        try:
            with session.begin_nested():
                worker = Worker(external_id=external_id, kind="crowd", status=status, created_at=utcnow())
                session.add(worker)
                session.flush()
            return WorkerRef(worker.worker_id, status, True)
        except IntegrityError:  # registered by a concurrent request
            row = session.execute(
                select(Worker.worker_id, Worker.status).where(Worker.external_id == external_id)
            ).one()
            return WorkerRef(row[0], row[1], False)


def set_worker_status(project: Project, worker_id: int, status: str, *, reason: str = "") -> None:
    """Pause, resume (``active``) or send a worker back to qualification, with a reason."""
    if status not in WORKER_STATUSES:
        raise InvalidFieldError(f"unknown worker status {status!r}", fix=f"use one of {WORKER_STATUSES}")
    check_text(reason, "reason")
    with project.transaction() as session:
        worker = session.get(Worker, worker_id)
        if worker is None or worker.kind != "crowd":
            raise UnknownTaskError(f"no crowd worker {worker_id}")
        worker.status, worker.status_reason = status, reason or None


# --- the pause rule --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PauseRule:
    """The Bayes-factor test of "answers independent of the truth" (see the module docstring).

    Evidence is two arrays ``(..., bins)``: positive and negative answers to questions whose
    probability of fitting falls in each of ``bins`` equal bins of [0, 1]. Every method is
    vectorised over leading axes, so a thousand simulated workers are one call.
    """

    log_odds: float = 2.0
    window: int = 10
    honest_sensitivity: tuple[float, float] = (15.5, 6.2)
    honest_false_positive: tuple[float, float] = (1.8, 26.2)
    candidate_prior: float = 0.5
    min_peers: int = 1
    """Candidates with fewer answers from other workers are left out (their truth is a guess)."""
    bins: int = 21
    nodes: int = 64

    @classmethod
    def from_config(cls, crowd: CrowdConfig) -> PauseRule:
        return cls(
            log_odds=crowd.pause_log_odds,
            window=crowd.monitor_window,
            honest_sensitivity=tuple(crowd.honest_sensitivity),
            honest_false_positive=tuple(crowd.honest_false_positive),
            candidate_prior=crowd.candidate_prior,
        )

    @property
    def mean_sensitivity(self) -> float:
        a, b = self.honest_sensitivity
        return a / (a + b)

    @property
    def mean_false_positive(self) -> float:
        a, b = self.honest_false_positive
        return a / (a + b)

    def peer_truth(self, positive: np.ndarray, negative: np.ndarray) -> np.ndarray:
        """P(class fits) of candidates from other workers' positive/negative answer counts."""
        s, f, rho = self.mean_sensitivity, self.mean_false_positive, self.candidate_prior
        logit = (
            np.log(rho / (1 - rho))
            + np.asarray(positive) * np.log(s / f)
            + np.asarray(negative) * np.log((1 - s) / (1 - f))
        )
        return 1.0 / (1.0 + np.exp(-logit))

    def evidence(
        self, truth: np.ndarray, positive: np.ndarray, counted: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bin answers ``(..., n)`` by truth: (positive counts, negative counts), each ``(..., bins)``;
        answers where ``counted`` is False are left out."""
        truth, positive = np.asarray(truth, dtype=np.float64), np.asarray(positive, dtype=bool)
        index = np.clip(np.rint(np.nan_to_num(truth) * (self.bins - 1)).astype(np.int64), 0, self.bins - 1)
        one_hot = index[..., None] == np.arange(self.bins)
        if counted is not None:
            one_hot &= np.asarray(counted, dtype=bool)[..., None]
        hits = (one_hot & positive[..., None]).sum(axis=-2)
        misses = (one_hot & ~positive[..., None]).sum(axis=-2)
        return hits.astype(np.float64), misses.astype(np.float64)

    def log_bayes_factor(self, hits: np.ndarray, misses: np.ndarray) -> np.ndarray:
        """log P(answers | spammer) − log P(answers | honest); 0 without answers."""
        hits, misses = np.asarray(hits, dtype=np.float64), np.asarray(misses, dtype=np.float64)
        log_p, log_not_p, log_weight = self._honest_tables
        honest = logsumexp(hits @ log_p + misses @ log_not_p + log_weight, axis=-1)
        positive, total = hits.sum(axis=-1), hits.sum(axis=-1) + misses.sum(axis=-1)
        q = self._nodes
        spammer = logsumexp(
            positive[..., None] * np.log(q) + (total - positive)[..., None] * np.log1p(-q), axis=-1
        ) - np.log(len(q))
        return spammer - honest

    def should_pause(self, hits: np.ndarray, misses: np.ndarray) -> np.ndarray:
        return self.log_bayes_factor(hits, misses) > self.log_odds

    @property
    def _nodes(self) -> np.ndarray:
        return (np.arange(self.nodes) + 0.5) / self.nodes

    @functools.cached_property
    def _honest_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self._nodes
        weights = []
        for a, b in (self.honest_sensitivity, self.honest_false_positive):
            log_pdf = (a - 1) * np.log(x) + (b - 1) * np.log1p(-x) - betaln(a, b)
            weights.append(log_pdf - logsumexp(log_pdf))
        s, f = np.meshgrid(x, x, indexing="ij")
        truth = np.linspace(0.0, 1.0, self.bins)[:, None]
        p = truth * s.ravel()[None] + (1 - truth) * f.ravel()[None]  # (bins, nodes²)
        log_weight = (weights[0][:, None] + weights[1][None, :]).ravel()
        return np.log(p), np.log1p(-p), log_weight


@dataclass(frozen=True)
class WorkerCheck:
    """The outcome of :func:`check_worker`."""

    worker_id: int
    status: str
    log_odds: float
    answers: int
    """Answers the rule looked at."""
    changed: bool
    reason: str | None = None


def check_worker(project: Project, worker_id: int) -> WorkerCheck:
    """Apply the qualification decision or the pause rule to one worker, and store the outcome."""
    rule = PauseRule.from_config(project.config.crowd)
    crowd = project.config.crowd
    with project.transaction() as session:
        worker = session.get(Worker, worker_id)
        if worker is None:
            raise UnknownTaskError(f"no worker {worker_id}")
        if worker.kind != "crowd" or worker.status == "paused":
            return WorkerCheck(worker_id, worker.status, 0.0, 0, False, worker.status_reason)
        qualifying = worker.status == "qualifying"
        kinds = (QUALIFICATION_KIND,) if qualifying else MONITORED_KINDS
        truth, positive, known, counted = _worker_evidence(session, worker_id, rule, kinds)
        hits, misses = rule.evidence(truth, positive, counted)
        n_counted = int(counted.sum())
        log_odds = float(rule.log_bayes_factor(hits, misses))
        reason = None
        if qualifying:
            n_known = int(known.sum())
            if n_known < crowd.qualification_min_answers:
                return WorkerCheck(worker_id, worker.status, log_odds, n_counted, False)
            correct = int((positive[known] == (truth[known] > 0.5)).sum())
            if correct / n_known >= crowd.qualification_min_accuracy and log_odds <= rule.log_odds:
                status = "active"
                reason = f"passed qualification: {correct} of {n_known} right"
            else:
                status = "paused"
                reason = f"failed qualification: {correct} of {n_known} right"
        elif log_odds > rule.log_odds:
            status = "paused"
            reason = (
                f"answers look independent of the images (log odds {log_odds:.1f} > {rule.log_odds:g} "
                f"over {n_counted} answers)"
            )
        else:
            return WorkerCheck(worker_id, worker.status, log_odds, n_counted, False)
        worker.status, worker.status_reason = status, reason
        return WorkerCheck(worker_id, status, log_odds, n_counted, True, reason)


def _worker_evidence(
    session: Session, worker_id: int, rule: PauseRule, kinds: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(truth probability, is positive, truth is known, is counted) per answer in the worker's window."""
    recent = (
        select(Assignment.assignment_id)
        .join(Task, Task.task_id == Assignment.task_id)
        .where(
            Assignment.worker_id == worker_id,
            Assignment.status.in_(VALID_STATUSES),
            Task.kind.in_(kinds),
        )
        .order_by(Assignment.submitted_at.desc(), Assignment.assignment_id.desc())
        .limit(rule.window)
    )
    assignment_ids = list(session.scalars(recent))
    if not assignment_ids:
        empty = np.zeros(0)
        return empty, empty.astype(bool), empty.astype(bool), empty.astype(bool)
    rows = session.execute(
        select(Answer.question_id, Answer.value, TaskQuestion.role, Question.is_golden)
        .join(Assignment, Assignment.assignment_id == Answer.assignment_id)
        .join(
            TaskQuestion,
            (TaskQuestion.task_id == Assignment.task_id) & (TaskQuestion.question_id == Answer.question_id),
        )
        .join(Question, Question.question_id == Answer.question_id)
        .where(Answer.assignment_id.in_(assignment_ids))
    ).all()
    question = np.array([r[0] for r in rows], dtype=np.int64)
    positive = np.array([r[1] >= 1 for r in rows], dtype=bool)
    role = np.array([r[2] for r in rows], dtype=object)
    golden = np.array([bool(r[3]) or r[2] == "golden" for r in rows], dtype=bool)
    truth = np.full(len(rows), np.nan)
    truth[role == "positive"] = 1.0
    truth[role == "negative"] = 0.0
    if golden.any():
        experts = _expert_truth(session, np.unique(question[golden]))
        for i in np.flatnonzero(golden & np.isnan(truth)):
            truth[i] = experts.get(int(question[i]), np.nan)
    known = ~np.isnan(truth)
    counted = known.copy()
    open_questions = np.unique(question[~known])
    if len(open_questions):
        peers = session.execute(
            select(Answer.question_id, func.sum(_positive_case()), func.count())
            .join(Assignment, Assignment.assignment_id == Answer.assignment_id)
            .join(Worker, Worker.worker_id == Answer.worker_id)
            .where(
                Answer.question_id.in_(open_questions.tolist()),
                Answer.worker_id != worker_id,
                Assignment.status.in_(VALID_STATUSES),
                Worker.kind == "crowd",
                Worker.status != "paused",
            )
            .group_by(Answer.question_id)
        ).all()
        yes = dict.fromkeys(open_questions.tolist(), 0)
        no = dict.fromkeys(open_questions.tolist(), 0)
        for question_id, n_yes, n_all in peers:
            yes[question_id], no[question_id] = int(n_yes or 0), int(n_all) - int(n_yes or 0)
        unknown = np.flatnonzero(~known)
        peer_yes = np.array([yes[int(q)] for q in question[unknown]])
        peer_no = np.array([no[int(q)] for q in question[unknown]])
        truth[unknown] = rule.peer_truth(peer_yes, peer_no)
        counted[unknown] = peer_yes + peer_no >= rule.min_peers
    return truth, positive, known, counted


def _positive_case():
    return case((Answer.value >= 1, 1), else_=0)


def _expert_truth(session: Session, question_ids: np.ndarray) -> dict[int, float]:
    """1.0 where most experts answered yes, 0.0 where they did not (questions experts answered)."""
    rows = session.execute(
        select(Answer.question_id, func.sum(_yes_case()), func.count())
        .join(Worker, Worker.worker_id == Answer.worker_id)
        .where(Worker.kind == "expert", Answer.question_id.in_(question_ids.tolist()))
        .group_by(Answer.question_id)
    ).all()
    return {int(q): float(2 * int(yes or 0) > int(n)) for q, yes, n in rows}


def _yes_case():
    return case((Answer.value == 2, 1), else_=0)


# --- quality priors --------------------------------------------------------------------------------


def control_prior(project: Project, answers: Answers, *, strength: float = 10.0) -> np.ndarray:
    """Dirichlet pseudo-counts ``(workers, 2, K)`` aligned with ``answers.worker_ids``, from each
    worker's control and golden answers, for ``DawidSkene(alpha=...)``. Answers collapsed to two
    categories (grids) get the counts collapsed the same way (maybe counts as yes)."""
    quality = measure_workers(project)
    if answers.n_categories == 2:
        counts = quality.answer_counts
        collapsed = np.stack([counts[..., 0], counts[..., 1:].sum(axis=-1)], axis=-1)
        quality = replace(quality, answer_counts=collapsed)
    return confusion_prior(quality, answers.n_categories, strength=strength, worker_ids=answers.worker_ids)
