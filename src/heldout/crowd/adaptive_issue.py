"""Adaptive assignment: stop issuing tasks whose questions are settled (``[crowd] adaptive``).

:func:`close_settled_tasks` loads the project's answers, fits Dawid–Skene per task kind (grids
with two categories, maybe counted as yes; verify tasks with no/maybe/yes; each worker's
confusion seeded from their control answers, :func:`~heldout.crowd.workers.control_prior`), asks an
:class:`~heldout.aggregate.adaptive.AdaptivePolicy` which questions are settled, and marks every
open grid or verify task whose candidate questions are all settled ``settled``: it is no longer
issued (only ``open`` tasks are). Controls and golden questions do not count; a task without a
counted candidate is left alone. Assignments already issued are untouched: their workers keep
them and can submit. With fewer than two workers the policy uses its model-free rule.

:func:`maybe_close_settled_tasks` is what :func:`~heldout.crowd.assignments.issue_assignment`
calls when adaptive assignment is on: it refits only when answers changed and either
``adaptive_refit_submissions`` assignments were submitted since the last fit or
``adaptive_refit_interval_s`` seconds passed, so requests do not refit each time.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select, update

from heldout.aggregate.adaptive import AdaptivePolicy
from heldout.aggregate.dawid_skene import DawidSkene
from heldout.answers import VALID_STATUSES, Answers, load_answers
from heldout.catalog import Assignment, Question, Task, TaskQuestion
from heldout.config import CrowdConfig
from heldout.crowd.workers import control_prior
from heldout.errors import AggregationError
from heldout.project import Project

__all__ = ["SETTLED", "close_settled_tasks", "maybe_close_settled_tasks", "policy_from_config"]

logger = logging.getLogger(__name__)

SETTLED = "settled"
_KINDS = {"grid": (0, 1, 1), "verify": None}
"""Task kinds closed adaptively, with the answer collapse their model uses (None: keep K=3)."""


def policy_from_config(crowd: CrowdConfig) -> AdaptivePolicy:
    return AdaptivePolicy(
        threshold=crowd.adaptive_threshold,
        max_flip_probability=crowd.adaptive_max_flip_probability,
        min_answers=crowd.adaptive_min_answers,
        max_answers=crowd.adaptive_max_answers,
    )


def close_settled_tasks(project: Project, policy: AdaptivePolicy | None = None) -> int:
    """Mark ``settled`` every open grid/verify task whose candidate questions the policy (default:
    from ``[crowd]``) calls settled; returns how many tasks were closed."""
    policy = policy or policy_from_config(project.config.crowd)
    with project.transaction() as session:
        rows = session.execute(
            select(Task.task_id, Task.kind, TaskQuestion.question_id)
            .join(TaskQuestion, TaskQuestion.task_id == Task.task_id)
            .join(Question, Question.question_id == TaskQuestion.question_id)
            .where(
                Task.status == "open",
                Task.kind.in_(tuple(_KINDS)),
                TaskQuestion.role == "candidate",
                Question.is_golden.is_(False),
            )
        ).all()
    questions_by_task: dict[int, list[int]] = {}
    kind_of: dict[int, str] = {}
    for task_id, kind, question_id in rows:
        questions_by_task.setdefault(task_id, []).append(question_id)
        kind_of[task_id] = kind
    closing = []
    for kind in sorted(set(kind_of.values())):
        settled = _settled_questions(project, kind, policy)
        closing += [
            task_id
            for task_id, questions in questions_by_task.items()
            if kind_of[task_id] == kind and all(q in settled for q in questions)
        ]
    if not closing:
        return 0
    with project.transaction() as session:
        result = session.execute(
            update(Task).where(Task.task_id.in_(closing), Task.status == "open").values(status=SETTLED)
        )
        return result.rowcount or 0


def maybe_close_settled_tasks(project: Project) -> int:
    """:func:`close_settled_tasks` when adaptive assignment is on and a refit is due (see the module
    docstring); returns how many tasks were closed (0 when no refit ran)."""
    crowd = project.config.crowd
    if not crowd.adaptive:
        return 0
    with _STATES_LOCK:
        state = _STATES.setdefault(project, _RefitState())
    if not state.lock.acquire(blocking=False):
        return 0  # another request is refitting
    try:
        with project.transaction() as session:
            submitted = session.scalar(
                select(func.count()).select_from(Assignment).where(Assignment.status.in_(VALID_STATUSES))
            )
        elapsed = time.monotonic() - state.fitted_at
        if submitted == state.submitted or (
            abs(submitted - state.submitted) < crowd.adaptive_refit_submissions
            and elapsed < crowd.adaptive_refit_interval_s
        ):
            return 0
        try:
            closed = close_settled_tasks(project)
        except AggregationError as exc:  # adaptive issuing must never stop issuing
            logger.warning("adaptive assignment skipped: %s", exc)
            closed = 0
        state.submitted, state.fitted_at = submitted, time.monotonic()
        return closed
    finally:
        state.lock.release()


# --- machinery -------------------------------------------------------------------------------------


@dataclass
class _RefitState:
    submitted: int = 0
    fitted_at: float = float("-inf")
    lock: threading.Lock = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.lock = threading.Lock()


_STATES: weakref.WeakKeyDictionary[Project, _RefitState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def _settled_questions(project: Project, kind: str, policy: AdaptivePolicy) -> set[int]:
    """Question ids the policy calls settled, from the answers given in tasks of ``kind``."""
    try:
        answers = load_answers(project, task_kinds=(kind,))
    except AggregationError:  # no answers yet
        return set()
    answers = _answered_only(answers)
    if _KINDS[kind] is not None:
        answers = answers.collapse(_KINDS[kind])
    try:
        alpha = control_prior(project, answers)  # each worker's quality prior from their controls
    except AggregationError:  # no control or golden truth known
        alpha = 0.0
    try:
        model = DawidSkene(alpha=alpha).fit(answers)
        settled = policy.settled(answers, confusion=model.confusion_, priors=model.priors_)
    except AggregationError:  # e.g. a single worker so far: the policy's model-free rule
        settled = policy.settled(answers)
    return {int(q) for q in answers.question_ids[settled]}


def _answered_only(answers: Answers) -> Answers:
    """The same answers over only the questions and workers that have some (unanswered questions
    would pull the fitted prior towards 0.5; workers without answers have no confusion)."""
    questions, question = np.unique(answers.question, return_inverse=True)
    workers, worker = np.unique(answers.worker, return_inverse=True)
    return Answers(
        question.astype(np.int64),
        worker.astype(np.int64),
        answers.value,
        answers.question_ids[questions],
        answers.worker_ids[workers],
        answers.n_categories,
        None if answers.group is None else answers.group[questions],
        None if answers.golden is None else answers.golden[questions],
        answers.source,
    )
