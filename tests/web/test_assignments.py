"""The assignment library on a real catalog (SQLite and PostgreSQL): issue, expire and reissue,
submit (validated, idempotent), review, registration, qualification."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from webtools import CLASSES, SECRET, close_open_tasks, make_grid, make_task, new_label, stored_images

from heldout.answers import load_answers
from heldout.catalog import Answer, Assignment, Image, Worker
from heldout.crowd.assignments import (
    expire_assignments,
    issue_assignment,
    review_assignment,
    submit_answers,
)
from heldout.crowd.tokens import hash_worker_id
from heldout.crowd.workers import control_prior, register_worker, set_worker_status
from heldout.errors import (
    AssignmentClosedError,
    DuplicateAnswerError,
    InvalidAnswersError,
    InvalidFieldError,
    NoTaskAvailableError,
    TaskNotAssignedError,
    WorkerPausedError,
)
from heldout.project import Project, utcnow


@pytest.fixture()
def project(web_project):
    close_open_tasks(web_project)
    return web_project


def _worker(project) -> int:
    return register_worker(project, SECRET, platform_id=new_label(), via="invite").worker_id


def _all_no(n: int = 48) -> dict[int, int]:
    return dict.fromkeys(range(n), 0)


def _honest(n: int = 48) -> dict[int, int]:
    """Ticks the three positive controls (positions 0-2), nothing else."""
    return {p: 2 if p < 3 else 0 for p in range(n)}


def _answer_count(project, assignment_id: int) -> int:
    with project.transaction() as session:
        return session.scalar(
            select(func.count()).select_from(Answer).where(Answer.assignment_id == assignment_id)
        )


def test_issue_respects_max_assignments(project):
    make_grid(project, max_assignments=2)
    for _ in range(2):
        issue_assignment(project, _worker(project))
    with pytest.raises(NoTaskAvailableError):
        issue_assignment(project, _worker(project))


def test_worker_never_gets_the_same_task_twice(project):
    task = make_grid(project)
    worker = _worker(project)
    first = issue_assignment(project, worker)
    submit_answers(project, first.assignment_id, _honest())
    assert first.task_id == task.task_id
    with pytest.raises(NoTaskAvailableError):
        issue_assignment(project, worker)


def test_open_assignment_is_returned_again(project):
    make_grid(project)
    make_grid(project)
    worker = _worker(project)
    assert issue_assignment(project, worker).assignment_id == issue_assignment(project, worker).assignment_id


def test_tasks_are_issued_oldest_first(project):
    older, _ = make_grid(project), make_grid(project)
    assert issue_assignment(project, _worker(project)).task_id == older.task_id


def test_abandoned_assignment_expires_and_its_slot_is_reissued(project):
    make_grid(project, max_assignments=1)
    abandoned = issue_assignment(project, _worker(project))
    with pytest.raises(NoTaskAvailableError):
        issue_assignment(project, _worker(project))
    later = abandoned.expires_at + timedelta(seconds=1)
    reissued = issue_assignment(project, _worker(project), now=later)
    assert reissued.task_id == abandoned.task_id
    assert reissued.assignment_id != abandoned.assignment_id


def test_expired_assignment_takes_no_answers(project):
    make_grid(project)
    issued = issue_assignment(project, _worker(project))
    with pytest.raises(AssignmentClosedError):
        submit_answers(project, issued.assignment_id, _all_no(), now=issued.expires_at + timedelta(seconds=1))
    assert _answer_count(project, issued.assignment_id) == 0


def test_expire_assignments_marks_overdue_ones(project):
    make_grid(project)
    issued = issue_assignment(project, _worker(project))
    assert expire_assignments(project, now=issued.expires_at + timedelta(seconds=1)) >= 1
    with project.transaction() as session:
        assert session.get(Assignment, issued.assignment_id).status == "expired"


def test_submit_stores_one_answer_per_position(project):
    make_grid(project)
    issued = issue_assignment(project, _worker(project))
    receipt = submit_answers(project, issued.assignment_id, {**_all_no(), 0: 2, 1: 1})
    assert receipt.answers == 48 and not receipt.is_repeat
    assert _answer_count(project, issued.assignment_id) == 48


def test_double_submit_returns_the_same_receipt_and_stores_nothing_more(project):
    make_grid(project)
    issued = issue_assignment(project, _worker(project))
    first = submit_answers(project, issued.assignment_id, _all_no())
    second = submit_answers(project, issued.assignment_id, _all_no())
    assert second.is_repeat and second.submitted_at == first.submitted_at
    assert _answer_count(project, issued.assignment_id) == 48


def test_second_submit_with_other_answers_is_refused(project):
    make_grid(project)
    issued = issue_assignment(project, _worker(project))
    submit_answers(project, issued.assignment_id, _all_no())
    with pytest.raises(DuplicateAnswerError):
        submit_answers(project, issued.assignment_id, {**_all_no(), 3: 2})


@pytest.mark.parametrize(
    "answers",
    [
        {**_all_no(), 48: 0},
        dict.fromkeys(range(47), 0),
        {**_all_no(), 0: 3},
        {**_all_no(), 0: -1},
        {**_all_no(), 0: True},
        {},
    ],
    ids=["extra-position", "missing-position", "value-3", "value-negative", "bool-value", "empty"],
)
def test_invalid_answers_are_refused_and_nothing_is_stored(project, answers):
    make_grid(project)
    issued = issue_assignment(project, _worker(project))
    with pytest.raises(InvalidAnswersError):
        submit_answers(project, issued.assignment_id, answers)
    assert _answer_count(project, issued.assignment_id) == 0


def test_submit_for_another_worker_is_refused(project):
    make_grid(project)
    issued = issue_assignment(project, _worker(project))
    with pytest.raises(TaskNotAssignedError):
        submit_answers(project, issued.assignment_id, _all_no(), worker_id=_worker(project))
    assert _answer_count(project, issued.assignment_id) == 0


def test_rejected_answers_no_longer_count(project):
    make_grid(project)
    worker = _worker(project)
    issued = issue_assignment(project, worker)
    submit_answers(project, issued.assignment_id, _all_no())
    assert review_assignment(project, issued.assignment_id, approve=False) == "rejected"
    valid = load_answers(project)
    assert worker not in valid.worker_ids[np.unique(valid.worker)]


def test_approving_an_open_assignment_is_refused(project):
    make_grid(project)
    issued = issue_assignment(project, _worker(project))
    with pytest.raises(AssignmentClosedError):
        review_assignment(project, issued.assignment_id, approve=True)


def test_registration_stores_only_the_salted_hash(project):
    reference = register_worker(project, SECRET, platform_id="A3MTURKWORKER", via="mturk")
    with project.transaction() as session:
        stored = session.get(Worker, reference.worker_id).external_id
    assert stored == hash_worker_id("A3MTURKWORKER", SECRET)
    assert "A3MTURKWORKER" not in stored


def test_registering_twice_is_the_same_worker(project):
    first = register_worker(project, SECRET, platform_id="A3SAMEWORKER", via="mturk")
    second = register_worker(project, SECRET, platform_id="A3SAMEWORKER", via="mturk")
    assert first.worker_id == second.worker_id and first.is_new and not second.is_new


def test_invite_label_and_mturk_id_are_different_workers(project):
    mturk = register_worker(project, SECRET, platform_id="SAMENAME1", via="mturk")
    invited = register_worker(project, SECRET, platform_id="SAMENAME1", via="invite")
    assert mturk.worker_id != invited.worker_id


def test_worker_id_with_quotes_is_refused(project):
    with pytest.raises(InvalidFieldError):
        register_worker(project, SECRET, platform_id="A1' OR '1'='1", via="mturk")


def test_paused_worker_gets_no_assignment(project):
    make_grid(project)
    worker = _worker(project)
    set_worker_status(project, worker, "paused", reason="test")
    with pytest.raises(WorkerPausedError):
        issue_assignment(project, worker)


def test_control_prior_gives_pseudo_counts_per_worker(project):
    make_grid(project)
    worker = _worker(project)
    issued = issue_assignment(project, worker)
    submit_answers(project, issued.assignment_id, {**_all_no(), 0: 2, 1: 2, 2: 2})
    answers = load_answers(project)
    prior = control_prior(project, answers)
    row = prior[list(answers.worker_ids).index(worker)]
    assert prior.shape == (answers.n_workers, 2, 3)
    assert row[1, 2] > row[1, 0]  # ticked every positive control
    assert row[0, 0] > row[0, 2]  # ticked no negative control


def test_last_slot_goes_to_one_of_two_racing_workers(project):
    make_grid(project, max_assignments=1)
    workers = [_worker(project), _worker(project)]
    results: list[object] = []

    def take(worker: int) -> None:
        try:
            results.append(issue_assignment(project, worker))
        except NoTaskAvailableError as exc:
            results.append(exc)

    threads = [threading.Thread(target=take, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(isinstance(r, NoTaskAvailableError) for r in results) == 1


# --- qualification -----------------------------------------------------------------------------------


@pytest.fixture()
def qualifying_project(tmp_path: Path, sqlite_project):
    """A project whose new workers must qualify: 12 golden-style control questions per task."""
    root = tmp_path / "qualify"
    root.mkdir()
    (root / "heldout.toml").write_text("[crowd]\nqualification = true\nqualification_min_answers = 12\n")
    with Project.open(root) as project:
        images = stored_images(sqlite_project)[:24]
        with project.transaction() as session:
            for image_id in images:
                session.add(
                    Image(
                        image_id=image_id,
                        role="candidate",
                        class_key=CLASSES[0],
                        status="metadata",
                        created_at=utcnow(),
                        updated_at=utcnow(),
                    )
                )
        roles = ["positive"] * 6 + ["negative"] * 6
        make_task(project, images[:12], kind="qualification", roles=roles)
        grid = make_task(project, images[12:24], roles=["candidate"] * 12)
        yield project, grid


def test_qualifying_worker_is_given_a_qualification_task_first(qualifying_project):
    project, _ = qualifying_project
    assert issue_assignment(project, _worker(project)).kind == "qualification"


def test_worker_who_passes_the_qualification_gets_real_tasks(qualifying_project):
    project, grid = qualifying_project
    worker = _worker(project)
    qualification = issue_assignment(project, worker)
    submit_answers(project, qualification.assignment_id, {p: 2 if p < 6 else 0 for p in range(12)})
    assert issue_assignment(project, worker).task_id == grid.task_id
    with project.transaction() as session:
        assert session.get(Worker, worker).status == "active"


def test_worker_who_fails_the_qualification_is_paused(qualifying_project):
    project, _ = qualifying_project
    worker = _worker(project)
    qualification = issue_assignment(project, worker)
    submit_answers(project, qualification.assignment_id, dict.fromkeys(range(12), 2))
    with pytest.raises(WorkerPausedError):
        issue_assignment(project, worker)
    with project.transaction() as session:
        assert session.get(Worker, worker).status_reason.startswith("failed qualification")
