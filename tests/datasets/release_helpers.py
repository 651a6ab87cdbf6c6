"""Builders for a project holding a sampled dataset over real ingested photos (see conftest.py).

The sampling stage is not needed: Dataset/DatasetImage rows are inserted directly over the
candidates ``collect`` + ``ingest`` made of the ``photo_folder`` photos, with licenses, search
records, answers, frequency scores and a reviewed duplicate pair, as the earlier stages leave them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update

from heldout.catalog import (
    Answer,
    Assignment,
    Candidate,
    Dataset,
    DatasetImage,
    DuplicatePair,
    Image,
    Question,
    Score,
    Task,
    Worker,
)
from heldout.collect import FolderSource, collect
from heldout.ingest import ingest

SET_NAME = "photos-a-0"
WHEN = datetime(2026, 1, 2, 3, 4, 5)
# photo -> (license, frequency, annotations); "0" = all rights reserved: a URL-only entry
PHOTOS = {
    "chelsea": ("4", 0.9, 10),
    "camera": ("9", 0.5, 12),
    "coins": ("0", 0.7, 10),
    "coffee": ("5", 0.1, 11),
}
LICENSES = ("4", "5", "9")


def image_ids(project) -> dict[str, str]:
    """Photo name -> candidate id (from the file each candidate came from; coffee-copy is coffee)."""
    with project.transaction() as session:
        rows = session.execute(select(Image.image_id, Image.location).where(Image.role == "candidate")).all()
    return {Path(location).stem.removesuffix("-copy"): image_id for image_id, location in rows if location}


def build_sampled_project(project, folder: Path) -> dict[str, str]:
    """Collect and ingest ``folder``, then add what crowd, aggregate, dedup and sampling would."""
    images = project.config.images.model_copy(update={"workers": 1})  # a thread: no process start-up
    project.config = project.config.model_copy(update={"images": images})
    collect(project, FolderSource(folder))
    ingest(project)
    ids = image_ids(project)
    with project.transaction() as session:
        for photo, (license_, _, _) in PHOTOS.items():
            session.execute(
                update(Candidate)
                .where(Candidate.image_id == ids[photo])
                .values(
                    license=license_,
                    owner=f"owner of {photo}",
                    url=f"https://example.org/{photo}.jpg",
                    date_taken="2025-06-01 10:00:00",
                )
            )
        keys = dict(session.execute(select(Image.image_id, Image.class_key)).all())
        worker = Worker(external_id="platform-worker-hash-1", created_at=WHEN)
        task = Task(uuid="task-1", kind="grid", class_key="n02123045", payload={}, created_at=WHEN)
        session.add_all([worker, task])
        session.flush()
        assignment = Assignment(
            task_id=task.task_id, worker_id=worker.worker_id, status="submitted", submitted_at=WHEN
        )
        session.add(assignment)
        session.flush()
        for photo, (_, frequency, annotations) in PHOTOS.items():
            question = Question(image_id=ids[photo], class_key=keys[ids[photo]])
            session.add(question)
            session.flush()
            session.add(
                Score(
                    question_id=question.question_id,
                    method="frequency",
                    value=frequency,
                    annotations=annotations,
                )
            )
            session.add(
                Answer(
                    assignment_id=assignment.assignment_id,
                    question_id=question.question_id,
                    worker_id=worker.worker_id,
                    value=2,
                    answered_at=WHEN,
                )
            )
        session.add(
            Image(
                image_id="ref-cat",
                role="reference",
                split="val",
                class_key="n02123045",
                status="metadata",
                created_at=WHEN,
                updated_at=WHEN,
            )
        )
        session.flush()
        session.add(
            DuplicatePair(image_id=ids["chelsea"], other_id="ref-cat", origin="review", created_at=WHEN)
        )
        add_dataset(
            session, SET_NAME, [(ids[p], keys[ids[p]]) for p in ("coffee", "chelsea", "camera", "coins")]
        )
    return ids


def add_dataset(
    session, name: str, pairs: list[tuple[str, str]], *, starting_from: str | None = None
) -> None:
    """A Dataset row with its manifest (published keys) and its DatasetImage rows, as sampling writes them."""
    manifest = {
        "sampling_function": "sample_above_threshold",
        "target_size": len(pairs),
        "seed": 7,
        "image_filenames": [list(p) for p in pairs],
        "is_valid": True,
        "starting_from": f"{starting_from}.json" if starting_from else None,
        "output_filename": f"{name}.json",
    }
    dataset = Dataset(
        name=name,
        variant=name.rsplit("-", 2)[1],
        revision=int(name.rsplit("-", 1)[1]),
        starting_from=starting_from,
        seed=7,
        is_valid=True,
        manifest=manifest,
        created_at=WHEN,
    )
    session.add(dataset)
    session.flush()
    session.add_all(
        DatasetImage(dataset_id=dataset.dataset_id, position=i, image_id=image_id, class_key=key)
        for i, (image_id, key) in enumerate(pairs)
    )
