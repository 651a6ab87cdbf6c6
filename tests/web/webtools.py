"""Helpers of the web tests (fixtures are in conftest.py): tasks made row by row, independent of
the task builder; worker flows through the app; a live ``heldout serve`` process."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from heldout.catalog import Image, Question, Task, TaskQuestion
from heldout.crowd.tokens import TokenSigner
from heldout.project import Project, utcnow

SECRET = "test-secret-0123456789abcdef"
CLASSES = ("n02123045", "n07920052")  # tabby cat, espresso


def close_open_tasks(project: Project) -> None:
    """Tests share a project: each starts with no open task but its own."""
    with project.transaction() as session:
        session.execute(update(Task).where(Task.status == "open").values(status="closed"))


def stored_images(project: Project, class_key: str | None = None) -> list[str]:
    with project.transaction() as session:
        query = select(Image.image_id).where(Image.status == "stored").order_by(Image.image_id)
        if class_key:
            query = query.where(Image.class_key == class_key)
        return list(session.scalars(query))


def make_task(
    project: Project,
    image_ids: Sequence[str],
    *,
    kind: str = "grid",
    class_key: str | None = CLASSES[0],
    class_keys: Sequence[str] | None = None,
    roles: Sequence[str] | None = None,
    max_assignments: int = 10,
    golden: Sequence[bool] | None = None,
) -> Task:
    """A task row by row: one question (image, class) per position, made if missing."""
    class_keys = list(class_keys or [class_key] * len(image_ids))
    roles = list(roles or ["candidate"] * len(image_ids))
    golden = list(golden or [False] * len(image_ids))
    with project.transaction() as session:
        task = Task(
            uuid=str(uuid.uuid4()),
            kind=kind,
            class_key=class_key,
            status="open",
            max_assignments=max_assignments,
            payload={"links": ["https://en.wikipedia.org/wiki/Tabby_cat"]},
            created_at=utcnow(),
        )
        session.add(task)
        session.flush()
        for position, (image_id, key, role, is_golden) in enumerate(
            zip(image_ids, class_keys, roles, golden, strict=True)
        ):
            question = session.execute(
                select(Question).where(Question.image_id == image_id, Question.class_key == key)
            ).scalar_one_or_none()
            if question is None:
                question = Question(image_id=image_id, class_key=key, is_golden=is_golden)
                session.add(question)
                session.flush()
            session.add(
                TaskQuestion(
                    task_id=task.task_id, position=position, question_id=question.question_id, role=role
                )
            )
    return task


def grid_roles(n: int = 48) -> list[str]:
    """ImageNetV2's shape: 3 positive and 3 negative controls among the candidates."""
    return ["positive"] * 3 + ["negative"] * 3 + ["candidate"] * (n - 6)


def make_grid(project: Project, **options) -> Task:
    """A 48-image grid of stored photos (positions 0-2 positive, 3-5 negative controls)."""
    images = stored_images(project)[:48]
    return make_task(project, images, roles=grid_roles(), **options)


def make_verify(project: Project, n_labels: int = 3, **options) -> Task:
    """A verify task: one stored photo and ``n_labels`` candidate classes."""
    image = stored_images(project)[options.pop("image_index", 0)]
    keys = ["n02123045", "n02123159", "n07920052", "n02124075"][:n_labels]
    return make_task(project, [image] * n_labels, kind="verify", class_key=None, class_keys=keys, **options)


def new_label() -> str:
    return "w" + uuid.uuid4().hex[:12]


def invite_url(signer: TokenSigner, label: str | None = None) -> str:
    return f"/work/invite/{signer.invite(label or new_label())}"


def start_worker(client: TestClient, signer: TokenSigner, label: str | None = None) -> str:
    """Follow an invite link; returns the worker's "next task" URL."""
    page = client.get(invite_url(signer, label))
    assert page.status_code == 200, page.text
    return re.search(r'action="(/work/w/[^"]+/next)"', page.text).group(1)


def take_task(client: TestClient, next_url: str) -> str:
    """Ask for a task; returns the assignment page URL."""
    response = client.post(next_url)
    assert response.status_code == 303, response.text
    return response.headers["location"]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    command: list[str]
    env: dict[str, str]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wait_until_up(self.url, self.process)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode(errors='replace')[-2000:]}")
        try:
            if httpx.get(url + "/", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not come up")


def uvicorn_command(port: int) -> list[str]:
    """uvicorn on the app factory (``HELDOUT_PROJECT`` names the project): what ``heldout serve``
    runs, without the CLI's imports, so a restart takes a second less."""
    return [
        sys.executable, "-m", "uvicorn", "--factory", "heldout.web.app:create_app_from_env",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip


def serve_command(root: Path, port: int) -> list[str]:
    """``heldout serve`` (the command function, run through Typer) for the project at ``root``."""
    code = "import typer; from heldout.cli.serve import serve; typer.run(serve)"
    return [sys.executable, "-c", code, "--project", str(root), "--host", "127.0.0.1", "--port", str(port)]
