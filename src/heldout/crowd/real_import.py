"""Import the ReaL release's raw answers (``raters.npz``, ``golden.npz``, ``raters_golden.npz``).

The images are the 24,889 rated ImageNet val images, added as metadata-only reference images;
each (image, proposed label) pair is a question (184,962), flagged when it is the image's
original label and when experts answered it (1,135 golden questions). The 85 raters and 5
experts become workers; each file becomes one imported task with one assignment per worker, so
the answers keep their provenance. ``scores.npz``, when present, is kept per question as the
published score. Everything is one transaction with bulk inserts: all of it lands, or nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select

from heldout.answers import answers_from_onehot
from heldout.catalog import Assignment, Image, Question, Task, Worker
from heldout.catalog.bulk import analyze, bulk_insert
from heldout.datasets import load_dataset
from heldout.errors import AggregationError
from heldout.project import Project, utcnow

__all__ = ["RealImport", "import_real"]

# file -> (worker kind, task kind): the raters' answers are aggregated; experts' answers and the
# raters' second answers to golden questions only measure workers.
_FILES = {
    "raters": ("crowd", "imported"),
    "golden": ("expert", "expert"),
    "raters_golden": ("crowd", "golden"),
}


@dataclass(frozen=True)
class RealImport:
    images: int
    questions: int
    workers: int
    answers: dict[str, int]


def import_real(
    project: Project, folder: str | Path, *, progress: Callable[[int, int | None], None] | None = None
) -> RealImport:
    """Import the ReaL answer files from ``folder`` into ``project`` (ImageNet-1k classes)."""
    folder = Path(folder)
    arrays = {name: _load(folder / f"{name}.npz") for name in _FILES}
    info = arrays["raters"]["info"]
    files, labels = info[:, 0], _labels(info[:, 1], folder / "raters.npz")
    val = load_dataset("imagenet-val")
    original = _original(val, files)
    class_keys = project.classes.ids[labels]
    golden_keys = {tuple(row) for row in arrays["golden"]["info"].tolist()}
    is_golden = np.fromiter((tuple(row) in golden_keys for row in info.tolist()), dtype=bool, count=len(info))
    scores = _scores(folder / "scores.npz", info)
    with project.run("import-real", {"folder": str(folder)}) as run, project.transaction() as session:
        images = _add_images(project, session, files, val)
        now = utcnow()
        bulk_insert(
            session,
            "question",
            ("image_id", "class_key", "is_golden", "is_original_label", "published_score"),
            zip(
                files.tolist(),
                class_keys.tolist(),
                is_golden.tolist(),
                (labels == original).tolist(),
                scores.tolist() if scores is not None else [None] * len(files),
                strict=True,
            ),
        )
        question_of = {
            (image_id, key): qid
            for qid, image_id, key in session.execute(
                select(Question.question_id, Question.image_id, Question.class_key)
            )
        }
        counts = {}
        for step, (name, (worker_kind, task_kind)) in enumerate(_FILES.items(), start=1):
            counts[name] = _add_answers(
                session, name, worker_kind, task_kind, arrays[name], project, question_of, now
            )
            if progress:
                progress(step, len(_FILES))
        analyze(session, "image", "question", "worker", "task", "assignment", "answer")
        workers = session.scalar(select(Worker.worker_id).order_by(Worker.worker_id.desc()).limit(1)) or 0
        run.counts.update(images=images, questions=len(info), **counts)
    return RealImport(images, len(info), int(workers), counts)


def _load(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise AggregationError(
            "ReaL answer file not found", where=path, fix="point at the reassessed-imagenet folder"
        )
    with np.load(path, allow_pickle=False) as data:
        missing = {"tensor", "info", "ids"} - set(data.files)
        if missing:
            raise AggregationError(f"missing arrays {sorted(missing)}", where=path)
        return {key: data[key] for key in ("tensor", "info", "ids")}


def _labels(text: np.ndarray, where: Path) -> np.ndarray:
    try:
        labels = text.astype(np.int64)
    except ValueError as exc:
        raise AggregationError(f"labels in info must be integers: {exc}", where=where) from exc
    if labels.min() < 0 or labels.max() >= 1000:
        raise AggregationError("labels in info must be ImageNet class indices 0..999", where=where)
    return labels


def _original(val, files: np.ndarray) -> np.ndarray:
    sorter = np.argsort(val.ids)
    rows = sorter[np.searchsorted(val.ids, files, sorter=sorter)]
    if not (val.ids[rows] == files).all():
        raise AggregationError("info names images that are not ImageNet val images")
    return val.labels[rows]


def _scores(path: Path, info: np.ndarray) -> np.ndarray | None:
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        if not (data["info"] == info).all():
            raise AggregationError("scores.npz info differs from raters.npz info", where=path)
        return data["tensor"].astype(np.float64)


def _add_images(project: Project, session, files: np.ndarray, val) -> int:
    unique = np.unique(files)
    known = set(session.scalars(select(Image.image_id).where(Image.role == "reference")).all())
    new = [f for f in unique.tolist() if f not in known]
    if new:
        wnids = dict(zip(val.ids.tolist(), val.manifest.wnids.tolist(), strict=True))
        now = utcnow()
        session.execute(
            insert(Image),
            [
                {
                    "image_id": f,
                    "role": "reference",
                    "split": "val",
                    "class_key": wnids[f],
                    "status": "metadata",
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for f in new
            ],
        )
    return len(new)


def _add_answers(
    session, name: str, kind: str, task_kind: str, data: dict, project: Project, question_of: dict, now
) -> int:
    prefix = "real-expert" if kind == "expert" else "real"
    worker_names = np.array([f"{prefix}:{i}" for i in data["ids"].tolist()])
    answers = answers_from_onehot(
        data["tensor"],
        question_ids=np.arange(len(data["info"])),
        worker_ids=worker_names,
        source=f"{name}.npz",
    )
    try:
        questions = np.array([question_of[(f, k)] for f, k in _keys(data["info"], project)], dtype=np.int64)
    except KeyError as exc:
        raise AggregationError(
            f"{name}.npz asks a question not in raters.npz: {exc}", where=f"{name}.npz"
        ) from exc
    worker_ids = _workers(session, worker_names.tolist(), kind, now)
    task = Task(
        uuid=f"real:{name}:{uuid.uuid5(uuid.NAMESPACE_URL, name)}",
        kind=task_kind,
        status="done",
        payload={"file": f"{name}.npz"},
        created_at=now,
    )
    session.add(task)
    session.flush()
    assignment_of = {}
    for worker in np.unique(answers.worker).tolist():
        assignment = Assignment(
            task_id=task.task_id, worker_id=worker_ids[worker], status="approved", submitted_at=now
        )
        session.add(assignment)
        session.flush()
        assignment_of[worker] = assignment.assignment_id
    lookup = np.zeros(len(worker_ids), dtype=np.int64)
    for worker, assignment_id in assignment_of.items():
        lookup[worker] = assignment_id
    rows = zip(
        lookup[answers.worker].tolist(),
        questions[answers.question].tolist(),
        np.asarray(worker_ids)[answers.worker].tolist(),
        answers.value.astype(int).tolist(),
        strict=True,
    )
    return bulk_insert(session, "answer", ("assignment_id", "question_id", "worker_id", "value"), rows)


def _keys(info: np.ndarray, project: Project):
    labels = info[:, 1].astype(np.int64)
    return zip(info[:, 0].tolist(), project.classes.ids[labels].tolist(), strict=True)


def _workers(session, names: list[str], kind: str, now) -> list[int]:
    existing = dict(
        session.execute(
            select(Worker.external_id, Worker.worker_id).where(Worker.external_id.in_(names))
        ).all()
    )
    for name in names:
        if name not in existing:
            worker = Worker(external_id=name, kind=kind, created_at=now)
            session.add(worker)
            session.flush()
            existing[name] = worker.worker_id
    return [existing[name] for name in names]
