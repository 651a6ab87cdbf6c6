"""Group commit (web/writer.py, crowd.assignments.submit_many): submissions queued at the same
moment share one transaction; each is checked on its own, a refused one fails alone, and every one
is stored exactly once."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager

import pytest
from sqlalchemy import func, insert, select
from webtools import close_open_tasks, make_grid

from heldout.catalog import Answer, Assignment, Worker
from heldout.crowd.assignments import Submission, submit_many
from heldout.errors import InvalidAnswersError, TaskNotAssignedError
from heldout.project import utcnow
from heldout.web.writer import Writer

GOOD = 12


def _assignments(project, task_id: int, n: int) -> list[tuple[int, int]]:
    now = utcnow()
    with project.transaction() as session:
        label = f"group-{task_id}"
        session.execute(
            insert(Worker),
            [
                {"external_id": f"{label}-{i}", "kind": "crowd", "status": "active", "created_at": now}
                for i in range(n)
            ],
        )
        workers = list(
            session.scalars(
                select(Worker.worker_id)
                .where(Worker.external_id.like(f"{label}-%"))
                .order_by(Worker.worker_id)
            )
        )
        session.execute(
            insert(Assignment),
            [{"task_id": task_id, "worker_id": w, "status": "assigned", "started_at": now} for w in workers],
        )
        return session.execute(
            select(Assignment.assignment_id, Assignment.worker_id)
            .where(Assignment.task_id == task_id)
            .order_by(Assignment.assignment_id)
        ).all()


def _submit(writer: Writer, project, assignment_id: int, selected: list[int], worker_id: int):
    return writer.run_batched(
        submit_many, project, item=Submission(assignment_id, selected=selected, worker_id=worker_id)
    )


def _stored(project, assignment_ids) -> dict[int, int]:
    with project.transaction() as session:
        rows = session.execute(
            select(Answer.assignment_id, func.count())
            .where(Answer.assignment_id.in_(assignment_ids))
            .group_by(Answer.assignment_id)
        ).all()
    return dict(rows)


def test_concurrent_submissions_share_a_commit_and_a_refused_one_fails_alone(sqlite_project):
    project = sqlite_project
    close_open_tasks(project)
    task = make_grid(project, max_assignments=GOOD + 3)
    rows = _assignments(project, task.task_id, GOOD + 2)
    good, (unknown_image, wrong_worker) = rows[:GOOD], rows[GOOD:]
    writer = Writer(project)

    async def scenario():
        calls = [_submit(writer, project, a, [i % 48], w) for i, (a, w) in enumerate(good[: GOOD // 2])]
        calls.append(_submit(writer, project, unknown_image[0], [400], unknown_image[1]))
        calls += [_submit(writer, project, a, [i % 48, 47], w) for i, (a, w) in enumerate(good[GOOD // 2 :])]
        calls.append(_submit(writer, project, wrong_worker[0], [], good[0][1]))
        results = await asyncio.gather(*calls, return_exceptions=True)  # all handed in in one turn
        # the same answers again: a repeat, nothing stored twice
        again = await asyncio.gather(
            *(_submit(writer, project, a, [i % 48], w) for i, (a, w) in enumerate(good[: GOOD // 2]))
        )
        return results, again

    try:
        results, again = asyncio.run(scenario())
    finally:
        writer.close()
    assert writer.largest_group == GOOD + 2
    refused = [results[GOOD // 2], results[-1]]
    receipts = results[: GOOD // 2] + results[GOOD // 2 + 1 : -1]
    assert isinstance(refused[0], InvalidAnswersError)
    assert isinstance(refused[1], TaskNotAssignedError)
    assert all(not isinstance(r, BaseException) and not r.is_repeat and r.answers == 48 for r in receipts)
    assert all(r.is_repeat for r in again)
    stored = _stored(project, [a for a, _ in rows])
    assert stored == {a: 48 for a, _ in good}
    with project.transaction() as session:
        statuses = dict(
            session.execute(
                select(Assignment.assignment_id, Assignment.status).where(Assignment.task_id == task.task_id)
            ).all()
        )
    assert {statuses[a] for a, _ in good} == {"submitted"}
    assert statuses[unknown_image[0]] == statuses[wrong_worker[0]] == "assigned"


def test_a_failed_shared_commit_acknowledges_nothing(sqlite_project, monkeypatch):
    project = sqlite_project
    close_open_tasks(project)
    task = make_grid(project, max_assignments=5)
    rows = _assignments(project, task.task_id, 4)
    writer = Writer(project)
    real = project.transaction

    @contextmanager
    def failing_commit():
        outermost = project._active.get() is None  # the batch's shared transaction, not a savepoint
        with real() as session:
            yield session
            if outermost:
                raise RuntimeError("disk full")

    async def scenario():
        monkeypatch.setattr(project, "transaction", failing_commit)
        return await asyncio.gather(
            *(_submit(writer, project, a, [1], w) for a, w in rows), return_exceptions=True
        )

    try:
        results = asyncio.run(scenario())
    finally:
        writer.close()
    monkeypatch.setattr(project, "transaction", real)
    assert writer.largest_group == 0  # the batch never committed
    assert all(isinstance(r, RuntimeError) and str(r) == "disk full" for r in results)
    assert _stored(project, [a for a, _ in rows]) == {}


@pytest.mark.parametrize("batched", [False, True])
def test_a_closed_writer_refuses_new_writes(sqlite_project, batched):
    writer = Writer(sqlite_project)
    writer.close()
    with pytest.raises(RuntimeError):
        asyncio.run(writer.run_batched(list, item=1) if batched else writer.run(len, []))
