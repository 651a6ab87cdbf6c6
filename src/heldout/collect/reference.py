"""Reference images: the original dataset's images, by split (train/val/test).

Crowd tasks use them as positive and negative controls, dedup compares candidates against them,
and MatchedFrequency takes its target histograms from them. They come either with bytes (a folder
in the ``<class id>/<file>`` layout; ingest makes their renditions) or as metadata only (the
image names of a registered test set, e.g. the 50,000 ImageNet val file names), so that published
tasks, answers and duplicates can be imported faithfully without the images.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import insert, select

from heldout.catalog import Image
from heldout.datasets import load_dataset
from heldout.errors import ConfigError
from heldout.project import Project, utcnow

__all__ = ["add_reference"]

SPLITS = ("train", "val", "test")
_BATCH = 5000


def add_reference(
    project: Project, *, split: str, folder: str | Path | None = None, dataset: str | None = None
) -> int:
    """Add reference images from ``folder`` (with bytes) or ``dataset`` (metadata only); returns how many are new."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}", fix=f"use one of {', '.join(SPLITS)}")
    if (folder is None) == (dataset is None):
        raise ConfigError("give exactly one of folder or dataset", fix="--folder DIR or --dataset NAME")
    if dataset is not None:
        testset = load_dataset(dataset, classes=project.classes)
        rows = [
            (i, w, None) for i, w in zip(testset.ids.tolist(), testset.manifest.wnids.tolist(), strict=True)
        ]
    else:
        rows = list(_folder_rows(project, Path(folder)))
    with project.run("add-reference", {"split": split, "folder": str(folder), "dataset": dataset}) as run:
        added = 0
        for start in range(0, len(rows), _BATCH):
            added += _insert(project, rows[start : start + _BATCH], split)
        run.counts.update(added=added, given=len(rows))
    return added


def _folder_rows(project: Project, root: Path):
    if not root.is_dir():
        raise ConfigError("reference folder not found", where=root, fix="check the path")
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        project.classes.indices([folder.name], where=folder)  # every folder must be a class id
        for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
            yield path.name, folder.name, str(path.resolve())


def _insert(project: Project, rows: list[tuple[str, str, str | None]], split: str) -> int:
    now = utcnow()
    with project.transaction() as session:
        ids = [r[0] for r in rows]
        known = set(session.scalars(select(Image.image_id).where(Image.image_id.in_(ids))).all())
        new = [
            {
                "image_id": image_id,
                "role": "reference",
                "split": split,
                "class_key": class_key,
                "status": "pending" if location else "metadata",
                "location": location,
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for image_id, class_key, location in rows
            if image_id not in known
        ]
        if new:
            session.execute(insert(Image), new)
    return len(new)
