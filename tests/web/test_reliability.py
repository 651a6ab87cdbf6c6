"""Durability under kill -9: 2,000 grid submissions from a second process while ``heldout serve``
(a real uvicorn process serving the app factory on a SQLite catalog) is killed with SIGKILL and restarted. Every
acknowledged answer must be in the catalog afterwards, none twice (rows = 48 x acknowledged), and
each exactly as sent. Bounded: at most 4 kills, 150 s of submitting."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert, select
from webtools import SECRET

from heldout.catalog import Answer, Assignment, Image, Question, Task, TaskQuestion, Worker
from heldout.crowd.tokens import TokenSigner
from heldout.project import Project, utcnow

SUBMISSIONS = 2000
TASKS, WORKERS, POSITIONS = 200, 10, 48
MAX_KILLS = 4
CLIENT = Path(__file__).with_name("reliability_client.py")


def _prepare(root: Path) -> tuple[list[dict], dict[int, list[int]]]:
    """A project with 200 open grids x 10 assignments (metadata-only images); the jobs to submit."""
    project = Project.create(root)
    now, rng = utcnow(), np.random.default_rng(3)
    with project.transaction() as session:
        session.execute(
            insert(Image),
            [
                {
                    "image_id": f"img{i:02d}",
                    "role": "candidate",
                    "class_key": "n02123045",
                    "status": "metadata",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(POSITIONS)
            ],
        )
        session.execute(
            insert(Question),
            [{"image_id": f"img{i:02d}", "class_key": "n02123045"} for i in range(POSITIONS)],
        )
        questions = list(session.scalars(select(Question.question_id).order_by(Question.question_id)))
        session.execute(
            insert(Task),
            [
                {
                    "uuid": str(uuid.uuid4()),
                    "kind": "grid",
                    "class_key": "n02123045",
                    "status": "open",
                    "max_assignments": WORKERS,
                    "payload": {},
                    "created_at": now,
                }
                for _ in range(TASKS)
            ],
        )
        tasks = list(session.scalars(select(Task.task_id).order_by(Task.task_id)))
        session.execute(
            insert(TaskQuestion),
            [
                {"task_id": t, "position": p, "question_id": questions[p], "role": "candidate"}
                for t in tasks
                for p in range(POSITIONS)
            ],
        )
        session.execute(
            insert(Worker),
            [
                {"external_id": f"reliability-{w}", "kind": "crowd", "status": "active", "created_at": now}
                for w in range(WORKERS)
            ],
        )
        workers = list(session.scalars(select(Worker.worker_id).order_by(Worker.worker_id)))
        session.execute(
            insert(Assignment),
            [
                {"task_id": t, "worker_id": w, "status": "assigned", "started_at": now}
                for t in tasks
                for w in workers
            ],
        )
        assignments = session.execute(
            select(Assignment.assignment_id, Assignment.worker_id).order_by(Assignment.assignment_id)
        ).all()
    project.close()
    signer = TokenSigner(SECRET)
    jobs, sent = [], {}
    for assignment_id, worker_id in assignments[:SUBMISSIONS]:
        selected = sorted(rng.choice(POSITIONS, size=int(rng.integers(0, 12)), replace=False).tolist())
        jobs.append(
            {
                "url": f"/work/a/{signer.assignment(assignment_id, worker_id, expires_at=None)}",
                "selected": selected,
            }
        )
        sent[assignment_id] = selected
    return jobs, sent


def test_every_acknowledged_answer_survives_kill_9_and_none_is_stored_twice(tmp_path, live_server_factory):
    root = tmp_path / "project"
    jobs, sent = _prepare(root)
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    server = live_server_factory(root, cli=False)
    client = subprocess.Popen(
        [
            sys.executable,
            str(CLIENT),
            server.url,
            str(tmp_path / "jobs.json"),
            str(tmp_path / "acks.txt"),
            "150",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    chance, kills, started = random.Random(5), 0, time.monotonic()
    while client.poll() is None and kills < MAX_KILLS:
        time.sleep(chance.uniform(0.8, 1.6))
        if client.poll() is not None:
            break
        server.kill()  # SIGKILL: no shutdown, no flush
        kills += 1
        server.start()
    out, err = client.communicate(timeout=200)
    elapsed = time.monotonic() - started
    assert client.returncode == 0, err
    summary = json.loads(out)
    print(f"reliability: {summary} kills={kills} in {elapsed:.1f} s")

    acknowledged = [int(line.split()[0]) for line in (tmp_path / "acks.txt").read_text().split("\n") if line]
    assert kills >= 3
    assert summary["gave_up"] == 0 and len(set(acknowledged)) == SUBMISSIONS
    with Project.open(root) as project, project.transaction() as session:
        rows = session.scalar(select(func.count()).select_from(Answer))
        doubled = session.scalar(
            select(func.count()).select_from(
                select(Answer.assignment_id, Answer.question_id)
                .group_by(Answer.assignment_id, Answer.question_id)
                .having(func.count() > 1)
                .subquery()
            )
        )
        ticked = session.execute(
            select(Answer.assignment_id, TaskQuestion.position)
            .join(Assignment, Assignment.assignment_id == Answer.assignment_id)
            .join(
                TaskQuestion,
                (TaskQuestion.task_id == Assignment.task_id)
                & (TaskQuestion.question_id == Answer.question_id),
            )
            .where(Answer.value == 2)
        ).all()
        submitted = session.scalar(
            select(func.count()).select_from(Assignment).where(Assignment.status == "submitted")
        )
    assert rows == POSITIONS * len(set(acknowledged))
    assert doubled == 0
    assert submitted == SUBMISSIONS
    stored: dict[int, list[int]] = {a: [] for a in sent}
    for assignment_id, position in ticked:
        stored[assignment_id].append(position)
    assert {a: sorted(p) for a, p in stored.items()} == sent
