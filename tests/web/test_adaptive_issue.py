"""Adaptive assignment (``[crowd] adaptive``) on a real catalog: a task whose candidates are
settled stops being issued before its ``max_assignments``; a contested task keeps being issued;
an assignment already issued is kept; with adaptive off nothing changes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from webtools import CLASSES, SECRET, make_task, new_label, stored_images

from heldout.aggregate.adaptive import AdaptivePolicy
from heldout.catalog import Assignment, Image, Task
from heldout.config import CrowdConfig
from heldout.crowd.adaptive_issue import close_settled_tasks, policy_from_config
from heldout.crowd.assignments import issue_assignment, submit_answers
from heldout.crowd.workers import register_worker
from heldout.errors import NoTaskAvailableError
from heldout.project import Project, utcnow

SLOTS = 6
ROLES = ["positive"] * 3 + ["negative"] * 3 + ["candidate"] * 6
UNANIMOUS = (2, 2, 2, 0, 0, 0)


def _project(root, sqlite_project, adaptive: bool) -> Project:
    root.mkdir()
    settings = f"adaptive = {str(adaptive).lower()}\nadaptive_max_answers = {SLOTS + 2}\nadaptive_refit_submissions = 1\n"
    (root / "heldout.toml").write_text("[crowd]\n" + settings)
    project = Project.open(root)
    with project.transaction() as session:
        for image_id in stored_images(sqlite_project)[:24]:
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
    return project


@pytest.fixture(params=[True, False], ids=["adaptive", "fixed"])
def tasks(request, tmp_path, sqlite_project):
    """(project, settled-to-be task, contested task), 8 slots each, in a project of their own."""
    project = _project(tmp_path / "adaptive", sqlite_project, request.param)
    images = stored_images(sqlite_project)[:24]
    unanimous = make_task(project, images[:12], roles=ROLES, max_assignments=SLOTS)
    contested = make_task(project, images[12:], roles=ROLES, max_assignments=SLOTS)
    yield project, unanimous, contested
    project.close()


def _worker(project) -> int:
    return register_worker(project, SECRET, platform_id=new_label(), via="invite").worker_id


def _answers(task_id: int, unanimous_id: int, turn: int) -> dict[int, int]:
    """Every worker misses one control (no one looks perfect); candidates are unanimous on one
    task and, on the other, all yes or all no by turns (``turn``: earlier submissions), so split."""
    candidates = UNANIMOUS if task_id == unanimous_id else (2 if turn % 2 else 0,) * 6
    controls = [2, 2, 2, 0, 0, 0]
    controls[turn % 6] = 2 - controls[turn % 6]
    return dict(enumerate((*controls, *candidates)))


def _issued(project, task_id: int) -> int:
    with project.transaction() as session:
        return session.scalar(
            select(func.count()).select_from(Assignment).where(Assignment.task_id == task_id)
        )


def _status(project, task_id: int) -> str:
    with project.transaction() as session:
        return session.get(Task, task_id).status


def test_settled_task_stops_being_issued_only_when_adaptive(tasks):
    project, unanimous, contested = tasks
    adaptive = project.config.crowd.adaptive
    holder = holding = None
    for round_ in range(SLOTS + 2):
        worker = _worker(project)
        for _ in range(2):
            try:
                assignment = issue_assignment(project, worker)
            except NoTaskAvailableError:
                break
            if round_ == 1 and assignment.task_id == unanimous.task_id and holder is None:
                holder, holding = worker, assignment  # takes the task and answers it later
                break
            answers = _answers(assignment.task_id, unanimous.task_id, _issued(project, assignment.task_id))
            submit_answers(project, assignment.assignment_id, answers)
    if adaptive:
        assert _status(project, unanimous.task_id) == "settled"
        assert _issued(project, unanimous.task_id) < SLOTS
        assert _status(project, contested.task_id) == "open"
    else:
        assert _status(project, unanimous.task_id) == "open"
        assert _issued(project, unanimous.task_id) == SLOTS
    assert _issued(project, contested.task_id) == SLOTS
    # the assignment issued before the task settled is still the holder's, and takes answers
    again = issue_assignment(project, holder)
    assert (again.assignment_id, again.is_new) == (holding.assignment_id, False)
    receipt = submit_answers(
        project, holding.assignment_id, _answers(unanimous.task_id, unanimous.task_id, 0)
    )
    assert receipt.answers == 12 and not receipt.is_repeat


def test_controls_and_golden_questions_do_not_settle_a_task(tasks, sqlite_project):
    project, unanimous, contested = tasks
    assert close_settled_tasks(project) == 0  # no answers yet
    images = stored_images(sqlite_project)[:12]
    golden = [False] * 6 + [True] * 6
    checks = make_task(
        project, images, class_key=CLASSES[1], roles=ROLES, golden=golden, max_assignments=SLOTS
    )
    for _ in range(5):
        assignment = issue_assignment(project, _worker(project), task_uuid=checks.uuid)
        submit_answers(project, assignment.assignment_id, dict(enumerate((2, 2, 2, 0, 0, 0) + UNANIMOUS)))
    # unanimous answers, but to controls and golden questions only: nothing is settled
    assert close_settled_tasks(project, AdaptivePolicy(max_answers=SLOTS + 2)) == 0
    assert {_status(project, t.task_id) for t in (checks, unanimous, contested)} == {"open"}


def test_config_defaults_are_the_policy_defaults():
    crowd = CrowdConfig()
    assert crowd.adaptive is False
    assert policy_from_config(crowd) == AdaptivePolicy()
