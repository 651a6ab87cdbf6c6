"""Benchmark: worker submissions per second of the web app, against a bare endpoint.

* Project: a fresh project of real photos (crops of skimage.data photos, ``--classes`` classes of
  48 crops each, collected from a folder and ingested), ``--tasks`` open 48-image grids (one class
  each) and ``--workers`` workers with an assignment of every task, rows inserted directly as the
  web tests do. Every submission goes to its own assignment.
* Ours: the app (``heldout.web.app:create_app_from_env``) under uvicorn, one worker process, in a
  subprocess on 127.0.0.1. One *submission* is what a worker's browser does: fetch the task page
  (``GET /work/a/<token>``, the grid with its 48 image tokens), then submit the ticked positions
  (``POST /work/a/<token>``, JSON) and get the receipt, sent after the commit.
* Bare: a minimal Starlette app under the same uvicorn, in another subprocess: the GET returns a
  fixed small page, the POST parses the same JSON body and inserts the same 48 answer rows (same
  columns, unique key and indexes as the catalog's ``answer`` table) into a SQLite database with
  the catalog's pragmas (WAL, synchronous=NORMAL), one transaction per submission, committed before
  the response. It is the floor: no tokens, no checks, no ORM, no templates.
* Load: a minimal asyncio HTTP/1.1 client (raw streams, keep-alive, ``--connections`` concurrent
  connections) in this process, bounded by ``--submissions`` and ``--seconds``; the first
  ``--warmup`` submissions are not timed. Latency is per request (fetch, submit) and per
  submission (fetch + submit), p50 and p99.

Afterwards the catalog must hold exactly 48 rows per acknowledged submission (and the bare database
too). Prints both throughputs, the latencies and ``ratio = ours / bare``. Goal (issue 5): ours
>= 0.5x bare, >= 1,000 submissions/s and submit p99 < 50 ms on SQLite. The machine's load average is
printed: on a shared 2-core machine the numbers move with what else runs.

    python benchmarks/serve.py [--submissions 6000] [--connections 32] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

POSITIONS = 48
SECRET = "benchmark-secret-0123456789abcdef"
CLASSES = ("n02123045", "n07920052", "n03888257")  # tabby cat, espresso, parachute


# --- the project ------------------------------------------------------------------------------------


def _crops(folder: Path, classes: int) -> None:
    import skimage.data
    from PIL import Image as PILImage

    names = (
        "astronaut",
        "coffee",
        "chelsea",
        "rocket",
        "immunohistochemistry",
        "camera",
        "cat",
        "hubble_deep_field",
    )
    photos = [getattr(skimage.data, name)() for name in names]
    for c in range(classes):
        target = folder / CLASSES[c]
        target.mkdir(parents=True)
        for i in range(POSITIONS):
            array = photos[(i + c) % len(photos)]
            height, width = array.shape[:2]
            side = min(height, width) // 2 + (i % 7) * 5
            top, left = (i * 7 + c * 11) % (height - side), (i * 13 + c * 5) % (width - side)
            crop = PILImage.fromarray(array[top : top + side, left : left + side]).convert("RGB")
            buffer = io.BytesIO()
            crop.save(buffer, "JPEG", quality=90)
            (target / f"crop{c}-{i:02d}.jpg").write_bytes(buffer.getvalue())


def build_project(root: Path, *, classes: int, tasks: int, workers: int) -> list[dict]:
    """The project at ``root``; returns one job per assignment: its token and ticked positions."""
    import numpy as np
    from sqlalchemy import insert, select

    from heldout.catalog import Assignment, Image, Question, Task, TaskQuestion, Worker
    from heldout.collect import FolderSource, collect
    from heldout.crowd.tokens import TokenSigner
    from heldout.ingest import ingest
    from heldout.project import Project, utcnow

    _crops(root.parent / "crops", classes)
    project = Project.create(root)
    collect(project, FolderSource(root.parent / "crops"), classes=list(CLASSES[:classes]))
    report = ingest(project)
    assert report.stored == classes * POSITIONS, report
    now, rng = utcnow(), np.random.default_rng(7)
    with project.transaction() as session:
        stored = session.execute(
            select(Image.image_id, Image.class_key).where(Image.status == "stored").order_by(Image.image_id)
        ).all()
        by_class: dict[str, list[str]] = {}
        for image_id, class_key in stored:
            by_class.setdefault(class_key, []).append(image_id)
        session.execute(
            insert(Question),
            [{"image_id": i, "class_key": key} for key, ids in by_class.items() for i in ids],
        )
        questions: dict[str, list[int]] = {}
        for question_id, class_key in session.execute(
            select(Question.question_id, Question.class_key).order_by(Question.question_id)
        ):
            questions.setdefault(class_key, []).append(question_id)
        keys = sorted(questions)
        session.execute(
            insert(Task),
            [
                {
                    "uuid": str(uuid.uuid4()),
                    "kind": "grid",
                    "class_key": keys[t % len(keys)],
                    "status": "open",
                    "max_assignments": workers,
                    "payload": {"links": ["https://en.wikipedia.org/wiki/Cat"]},
                    "created_at": now,
                }
                for t in range(tasks)
            ],
        )
        task_rows = session.execute(select(Task.task_id, Task.class_key).order_by(Task.task_id)).all()
        roles = ["positive"] * 3 + ["negative"] * 3 + ["candidate"] * (POSITIONS - 6)
        session.execute(
            insert(TaskQuestion),
            [
                {"task_id": t, "position": p, "question_id": questions[key][p], "role": roles[p]}
                for t, key in task_rows
                for p in range(POSITIONS)
            ],
        )
        session.execute(
            insert(Worker),
            [
                {"external_id": f"bench-{w}", "kind": "crowd", "status": "active", "created_at": now}
                for w in range(workers)
            ],
        )
        worker_ids = list(session.scalars(select(Worker.worker_id).order_by(Worker.worker_id)))
        session.execute(
            insert(Assignment),
            [
                {"task_id": t, "worker_id": w, "status": "assigned", "started_at": now}
                for w in worker_ids
                for t, _ in task_rows
            ],
        )
        assignments = session.execute(
            select(Assignment.assignment_id, Assignment.worker_id).order_by(Assignment.assignment_id)
        ).all()
    project.close()
    signer = TokenSigner(SECRET)
    jobs = []
    for assignment_id, worker_id in assignments:
        selected = sorted(rng.choice(POSITIONS, size=int(rng.integers(0, 12)), replace=False).tolist())
        token = signer.assignment(assignment_id, worker_id, expires_at=None)
        jobs.append({"path": f"/work/a/{token}", "selected": selected, "assignment": assignment_id})
    return jobs


def catalog_answers(root: Path) -> int:
    connection = sqlite3.connect(root / "catalog.sqlite")
    try:
        return connection.execute("SELECT count(*) FROM answer").fetchone()[0]
    finally:
        connection.close()


# --- the bare endpoint ------------------------------------------------------------------------------

_BARE_SCHEMA = """
CREATE TABLE IF NOT EXISTS answer (
    answer_id INTEGER PRIMARY KEY,
    assignment_id INTEGER NOT NULL,
    question_id INTEGER NOT NULL,
    worker_id INTEGER NOT NULL,
    value SMALLINT NOT NULL,
    answered_at DATETIME,
    UNIQUE (assignment_id, question_id)
);
CREATE INDEX IF NOT EXISTS ix_answer_question_id ON answer (question_id);
CREATE INDEX IF NOT EXISTS ix_answer_worker_id ON answer (worker_id);
"""


def bare_app(database: str):
    """Starlette: GET returns a fixed page; POST inserts 48 answer rows and commits."""
    from datetime import UTC, datetime

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
    from starlette.routing import Route

    connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(_BARE_SCHEMA)
    page = "<!doctype html><title>task</title>" + "<img src=x>" * POSITIONS
    counter = iter(range(1, 1 << 62))

    async def home(request: Request):
        return PlainTextResponse("ok")

    async def fetch(request: Request):
        return HTMLResponse(page)

    async def submit(request: Request):
        body = json.loads(await request.body())
        ticked = set(body["selected"])
        assignment, now = next(counter), datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
        rows = [(assignment, p + 1, 1, 2 if p in ticked else 0, now) for p in range(POSITIONS)]
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO answer (assignment_id, question_id, worker_id, value, answered_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        connection.execute("COMMIT")
        return JSONResponse({"status": "submitted", "answers": POSITIONS, "repeat": False})

    routes = [
        Route("/", home),
        Route("/work/a/{token}", fetch),
        Route("/work/a/{token}", submit, methods=["POST"]),
    ]
    return Starlette(routes=routes)


# --- the load generator -----------------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _drive(port: int, jobs: list[dict], connections: int, seconds: float, warmup: int) -> dict:
    queue = list(reversed(jobs))
    fetch_ms: list[float] = []
    submit_ms: list[float] = []
    pair_ms: list[float] = []
    acknowledged: list[int] = []
    errors = {"status": 0}
    deadline = time.monotonic() + seconds
    timing = {"start": None, "timed": 0}

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue and time.monotonic() < deadline:
                job = queue.pop()
                body = json.dumps({"selected": job["selected"]}).encode()
                get = f"GET {job['path']} HTTP/1.1\r\nHost: bench\r\nAccept: text/html\r\n\r\n".encode()
                post = (
                    f"POST {job['path']} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode() + body
                t0 = time.perf_counter()
                writer.write(get)
                status, page = await _read_response(reader)
                t1 = time.perf_counter()
                if status != 200:
                    errors["status"] += 1
                    continue
                writer.write(post)
                status, receipt = await _read_response(reader)
                t2 = time.perf_counter()
                if status != 200 or json.loads(receipt)["repeat"]:
                    errors["status"] += 1
                    continue
                acknowledged.append(job["assignment"])
                if len(acknowledged) == warmup:
                    timing["start"] = time.perf_counter()
                elif len(acknowledged) > warmup:
                    timing["timed"] += 1
                    fetch_ms.append((t1 - t0) * 1000)
                    submit_ms.append((t2 - t1) * 1000)
                    pair_ms.append((t2 - t0) * 1000)
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    elapsed = time.perf_counter() - (timing["start"] or time.perf_counter())
    return {
        "acknowledged": len(acknowledged),
        "timed": timing["timed"],
        "seconds": elapsed,
        "rate": timing["timed"] / elapsed if elapsed else 0.0,
        "fetch": _percentiles(fetch_ms),
        "submit": _percentiles(submit_ms),
        "pair": _percentiles(pair_ms),
        "errors": errors["status"],
    }


def _percentiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (float("nan"), float("nan"))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


# --- servers ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode(errors="replace")[-3000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not come up")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _uvicorn(target: str, port: int, *, factory: bool) -> list[str]:
    command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    return command + ["--log-level", "warning", "--no-access-log"] + (["--factory"] if factory else [])


def _line(name: str, result: dict) -> str:
    return (
        f"{name:5s} {result['rate']:7.0f} submissions/s  ({result['timed']} timed of {result['acknowledged']} "
        f"acknowledged in {result['seconds']:.2f} s; errors {result['errors']})\n"
        f"      server CPU {result['cpu_ms']:.2f} ms per submission (all acknowledged, warm-up included)\n"
        f"      fetch  p50 {result['fetch'][0]:6.1f} ms  p99 {result['fetch'][1]:6.1f} ms\n"
        f"      submit p50 {result['submit'][0]:6.1f} ms  p99 {result['submit'][1]:6.1f} ms\n"
        f"      both   p50 {result['pair'][0]:6.1f} ms  p99 {result['pair'][1]:6.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=6000, help="at most this many per server")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0, help="at most this long per server")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--only", choices=("ours", "bare"), default=None)
    args = parser.parse_args()

    workers = 20
    tasks = -(-(args.submissions) // workers)
    with tempfile.TemporaryDirectory(prefix="heldout-bench-serve-") as tmp:
        tmp_path = Path(tmp)
        started = time.monotonic()
        jobs = build_project(tmp_path / "project", classes=args.classes, tasks=tasks, workers=workers)
        jobs = jobs[: args.submissions]
        print(
            f"project: {args.classes} classes x {POSITIONS} photos, {tasks} grids x {workers} workers "
            f"({len(jobs)} jobs) built in {time.monotonic() - started:.1f} s"
        )
        env = {**os.environ, "HELDOUT_SECRET": SECRET, "HELDOUT_PROJECT": str(tmp_path / "project")}
        env["HELDOUT_BENCH_BARE_DB"] = str(tmp_path / "bare.sqlite")
        results = {}
        for name in ("ours", "bare"):
            if args.only and name != args.only:
                continue
            port = _free_port()
            if name == "ours":
                command = _uvicorn("heldout.web.app:create_app_from_env", port, factory=True)
            else:
                command = _uvicorn("serve:_bare_from_env", port, factory=True)
            paths = [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")]
            bench_env = {**env, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
            process = _start(command, bench_env, port)
            try:
                load, cpu = os.getloadavg(), _cpu_seconds(process.pid)
                results[name] = asyncio.run(_drive(port, jobs, args.connections, args.seconds, args.warmup))
                results[name]["load"] = load
                results[name]["cpu_ms"] = (
                    (_cpu_seconds(process.pid) - cpu) * 1000 / results[name]["acknowledged"]
                )
            finally:
                _stop(process)
        print(f"connections {args.connections}; load average before: ", end="")
        print(
            ", ".join(f"{name} {r['load'][0]:.2f}" for name, r in results.items()),
            f"(cores {os.cpu_count()})",
        )
        failed = False
        if "ours" in results:
            rows, acked = catalog_answers(tmp_path / "project"), results["ours"]["acknowledged"]
            print(_line("ours", results["ours"]))
            print(f"      catalog: {rows} answers = 48 x {acked} acknowledged: {rows == POSITIONS * acked}")
            failed |= rows != POSITIONS * acked or results["ours"]["errors"] > 0
        if "bare" in results:
            connection = sqlite3.connect(tmp_path / "bare.sqlite")
            rows = connection.execute("SELECT count(*) FROM answer").fetchone()[0]
            connection.close()
            acked = results["bare"]["acknowledged"]
            print(_line("bare", results["bare"]))
            print(f"      database: {rows} answers = 48 x {acked} acknowledged: {rows == POSITIONS * acked}")
            failed |= rows != POSITIONS * acked
        if len(results) == 2:
            ours, bare = results["ours"], results["bare"]
            ratio = ours["rate"] / bare["rate"] if bare["rate"] else float("nan")
            print(f"ratio = ours / bare = {ratio:.1f}x ({ratio:.2f})")
            print(f"server CPU per submission, bare / ours = {bare['cpu_ms'] / ours['cpu_ms']:.2f}")
            goal = ratio >= 0.5 and ours["rate"] >= 1000 and ours["submit"][1] < 50
            print(f"goal (>= 0.5x bare, >= 1,000/s, submit p99 < 50 ms): {'met' if goal else 'NOT met'}")
    return 1 if failed else 0


def _bare_from_env():
    return bare_app(os.environ["HELDOUT_BENCH_BARE_DB"])


if __name__ == "__main__":
    sys.exit(main())
