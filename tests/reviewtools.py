"""Helpers of the final-review tests: catalog rows made directly (images, frequencies, sampled
datasets), independent of the sampler."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import select

from heldout.catalog import Dataset, DatasetImage, Image, Question, Score
from heldout.project import Project, utcnow

TABBY, ESPRESSO = "n02123045", "n07920052"


def add_images(project: Project, image_ids: Sequence[str], *, role: str, class_key: str) -> None:
    """Metadata-only images (no bytes), as a published import makes them."""
    now = utcnow()
    with project.transaction() as session:
        session.add_all(
            Image(
                image_id=i,
                role=role,
                split="val" if role == "reference" else None,
                class_key=class_key,
                status="metadata",
                created_at=now,
                updated_at=now,
            )
            for i in image_ids
        )


def set_frequencies(project: Project, class_key: str, frequencies: Mapping[str, tuple[float, int]]) -> None:
    """A ``frequency`` score (value, annotations) per image for ``class_key``."""
    with project.transaction() as session:
        for image_id, (value, annotations) in frequencies.items():
            question = session.scalar(
                select(Question).where(Question.image_id == image_id, Question.class_key == class_key)
            )
            if question is None:
                question = Question(image_id=image_id, class_key=class_key)
                session.add(question)
                session.flush()
            session.add(
                Score(
                    question_id=question.question_id, method="frequency", value=value, annotations=annotations
                )
            )


def make_dataset(
    project: Project,
    name: str,
    images: Sequence[tuple[str, str]],
    *,
    starting_from: str | None = None,
    per_class: int | None = None,
    fields: Mapping[str, object] | None = None,
) -> None:
    """A sampled revision with ``images`` as (image id, class key) in manifest order; ``fields``
    are further manifest fields (e.g. ``min_num_annotations``)."""
    manifest = {"image_filenames": [list(pair) for pair in images], **(fields or {})}
    if per_class is not None:
        manifest["per_class"] = per_class
    with project.transaction() as session:
        row = Dataset(
            name=name,
            variant="b",
            revision=int(name.rsplit("-", 1)[1]),
            starting_from=starting_from,
            seed=1,
            is_valid=True,
            manifest=manifest,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
        session.add_all(
            DatasetImage(dataset_id=row.dataset_id, position=n, image_id=i, class_key=k)
            for n, (i, k) in enumerate(images)
        )
