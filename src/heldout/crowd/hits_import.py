"""Import ImageNetV2's published grid tasks (HIT records) and check the builder reproduces them.

A HIT record (``data/mturk/hit_data_live/*.json`` in the ImageNetV2 repository) names a class
(``wnid``), its candidates (``images_to_label``: 40-hex candidate ids), its positive and negative
controls (ImageNet val file names) and the display order (``images_all``). Each record becomes a
grid task over metadata-only images: candidates missing from the catalog are added as
metadata-only candidates of the HIT's class, controls as metadata-only ``val`` reference images
with their class from the packaged val manifest. Positions follow ``images_all``; roles follow the
three lists. The task keeps the record's uuid (so a second import adds nothing) and its MTurk
provenance (``hit_id``, ``hit_type_id``, ``user``, ``time``) in the payload; it is ``done``
(published tasks are not served again). HITs listed in a blacklist file (uuid → reason) are skipped.

The workers' answers to these HITs were never published; the tasks carry no answers.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import insert, select

from heldout.catalog import Image, Task
from heldout.crowd.tasks import TaskSpec, create_tasks, plan_grid_chunks
from heldout.datasets import load_dataset
from heldout.errors import ConfigError
from heldout.project import Project, utcnow

__all__ = [
    "HitImport",
    "HitShape",
    "ShapeReproduction",
    "import_published_hits",
    "load_hits",
    "reproduce_hit_shape",
]

_REQUIRED = ("wnid", "uuid", "images_to_label", "images_pos_control", "images_neg_control", "images_all")
_PROVENANCE = ("hit_id", "hit_type_id", "user", "time", "submitted")
_PUBLISHED_ASSIGNMENTS = 10  # MaxAssignments of every published HIT
_CHUNK = 900


@dataclass(frozen=True)
class HitImport:
    """What an import did, and how the published controls relate to the tasks' classes."""

    tasks: int
    """Grid tasks created."""
    skipped_blacklisted: int
    skipped_existing: int
    """Records whose uuid was already imported."""
    candidates_added: int
    references_added: int
    shapes: dict[str, int]
    """Imported tasks by shape ``images/candidates/positives/negatives``, e.g. ``48/42/3/3``."""
    positives_of_class: float
    """Share of positive controls whose val class is the task's class (nan when nothing was imported)."""
    negatives_of_similar: float
    """Share of negative controls whose val class is the task class's most similar class."""


@dataclass(frozen=True)
class HitShape:
    """One published HIT next to the task the builder makes from its class's candidates."""

    uuid: str
    wnid: str
    published: tuple[int, int, int, int]
    built: tuple[int, int, int, int] | None
    same_candidates: bool
    """Same new candidates in the same order, and as many padded ones, drawn from earlier tasks."""

    @property
    def matches(self) -> bool:
        return self.published == self.built and self.same_candidates


@dataclass(frozen=True)
class ShapeReproduction:
    hits: tuple[HitShape, ...]

    @property
    def matched(self) -> int:
        return sum(h.matches for h in self.hits)

    @property
    def shapes(self) -> dict[str, int]:
        """Published HITs by shape."""
        return dict(Counter(_shape_name(h.published) for h in self.hits).most_common())


def load_hits(path: str | Path) -> list[dict[str, Any]]:
    """Read and check a published HIT file (a JSON list of records)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("HIT file not found", where=path, fix="check the path")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid JSON: {exc}", where=path) from exc
    if not isinstance(records, list):
        raise ConfigError("a HIT file holds a JSON list of HIT records", where=path)
    for number, record in enumerate(records):
        _check_record(record, f"{path}[{number}]")
    return records


def import_published_hits(
    project: Project, path: str | Path, *, blacklist_path: str | Path | None = None
) -> HitImport:
    """Import the HIT records of ``path`` as grid tasks (see the module docstring)."""
    records = load_hits(path)
    blacklist = _load_blacklist(blacklist_path) if blacklist_path else {}
    kept = [r for r in records if r["uuid"] not in blacklist]
    unknown = sorted({r["wnid"] for r in kept} - set(project.classes.ids.tolist()))
    if unknown:
        raise ConfigError(
            f"{len(unknown)} HIT class(es) are not in the project's classes: {unknown[:5]}",
            where=path,
            fix="import published HITs into an imagenet-1k project",
        )
    val = load_dataset("imagenet-val", classes=project.classes)
    val_class = dict(zip(val.ids.tolist(), val.manifest.wnids.tolist(), strict=True))
    missing = sorted({c for r in kept for c in _controls(r)} - set(val_class))
    if missing:
        raise ConfigError(
            f"{len(missing)} control image(s) are not ImageNet val file names: {missing[:5]}",
            where=path,
        )
    parameters = {"path": str(path), "blacklist": str(blacklist_path) if blacklist_path else None}
    with project.run("import-hits", parameters) as run, project.transaction() as session:
        present = _present(session, Task.uuid, [r["uuid"] for r in kept])
        imported = [r for r in kept if r["uuid"] not in present]
        known = _present(session, Image.image_id, sorted({i for r in imported for i in r["images_all"]}))
        candidates = {c: r["wnid"] for r in imported for c in r["images_to_label"] if c not in known}
        references = {c: val_class[c] for r in imported for c in _controls(r) if c not in known}
        _add_images(session, candidates, "candidate", None)
        _add_images(session, references, "reference", "val")
        ids = create_tasks(project, [_spec(r, Path(path).name) for r in imported])
        run.counts.update(
            tasks=len(ids),
            skipped_blacklisted=len(records) - len(kept),
            skipped_existing=len(kept) - len(imported),
            candidates_added=len(candidates),
            references_added=len(references),
        )
    positives = [val_class[c] == r["wnid"] for r in imported for c in r["images_pos_control"]]
    negatives = [
        [val_class[c]] == project.classes.most_similar(r["wnid"], 1)
        for r in imported
        for c in r["images_neg_control"]
    ]
    return HitImport(
        tasks=len(ids),
        skipped_blacklisted=len(records) - len(kept),
        skipped_existing=len(kept) - len(imported),
        candidates_added=len(candidates),
        references_added=len(references),
        shapes=dict(Counter(_shape_name(_shape(r)) for r in imported).most_common()),
        positives_of_class=float(np.mean(positives)) if positives else float("nan"),
        negatives_of_similar=float(np.mean(negatives)) if negatives else float("nan"),
    )


def reproduce_hit_shape(
    hits: str | Path | Sequence[Mapping[str, Any]],
    *,
    seed: int = 0,
    images_per_task: int = 48,
    positive_controls: int = 3,
    negative_controls: int = 3,
) -> ShapeReproduction:
    """Run the grid builder's chunking on each class's published candidates and compare.

    Per class, the candidates of its HITs in order of first appearance are what the original
    builder was given; :func:`plan_grid_chunks` must cut them into as many tasks, each with the
    published shape (42/3/3, or a short class's 22/13/13), the same new candidates in the same
    order, and a padded last task repeating as many earlier candidates (which ones is random).
    """
    records = load_hits(hits) if isinstance(hits, str | Path) else list(hits)
    by_class: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        by_class[record["wnid"]].append(record)
    rows = []
    for wnid, group in by_class.items():
        ordered = list(dict.fromkeys(c for r in group for c in r["images_to_label"]))
        chunks = plan_grid_chunks(
            ordered,
            rng=np.random.default_rng(seed),
            images_per_task=images_per_task,
            positive_controls=positive_controls,
            negative_controls=negative_controls,
        )
        seen: set[str] = set()
        for number, record in enumerate(group):
            chunk = chunks[number] if number < len(chunks) else None
            published = list(record["images_to_label"])
            same = False
            if chunk is not None:
                fresh = len(chunk.candidates) - chunk.padded
                repeated = published[fresh:]
                same = (
                    published[:fresh] == list(chunk.candidates[:fresh])
                    and len(repeated) == chunk.padded
                    and set(repeated) <= seen
                )
            seen.update(published)
            rows.append(
                HitShape(
                    uuid=str(record["uuid"]),
                    wnid=wnid,
                    published=_shape(record),
                    built=chunk.shape if chunk else None,
                    same_candidates=same,
                )
            )
    return ShapeReproduction(tuple(rows))


def _check_record(record: Any, where: str) -> None:
    if not isinstance(record, dict):
        raise ConfigError("a HIT record is a JSON object", where=where)
    absent = [key for key in _REQUIRED if key not in record]
    if absent:
        raise ConfigError(f"HIT record lacks {absent}", where=where)
    roles = [record["images_to_label"], record["images_pos_control"], record["images_neg_control"]]
    shown = [i for part in roles for i in part]
    if len(set(shown)) != len(shown):
        raise ConfigError("a HIT record lists an image twice", where=where)
    if sorted(shown) != sorted(record["images_all"]):
        raise ConfigError(
            "images_all is not the union of images_to_label, images_pos_control and images_neg_control",
            where=where,
        )


def _load_blacklist(path: str | Path) -> dict[str, str]:
    """A HIT blacklist: ``{uuid: reason}`` (or a list of uuids)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("HIT blacklist file not found", where=path, fix="check the path")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid JSON: {exc}", where=path) from exc
    if isinstance(data, list):
        return dict.fromkeys(map(str, data), "blacklisted")
    if not isinstance(data, dict):
        raise ConfigError("a HIT blacklist is a JSON object {uuid: reason} or a list of uuids", where=path)
    return {str(k): str(v) for k, v in data.items()}


def _shape(record: Mapping[str, Any]) -> tuple[int, int, int, int]:
    return (
        len(record["images_all"]),
        len(record["images_to_label"]),
        len(record["images_pos_control"]),
        len(record["images_neg_control"]),
    )


def _shape_name(shape: tuple[int, ...] | None) -> str:
    return "/".join(map(str, shape)) if shape else "none"


def _spec(record: Mapping[str, Any], source: str) -> TaskSpec:
    roles = {
        **dict.fromkeys(record["images_to_label"], "candidate"),
        **dict.fromkeys(record["images_pos_control"], "positive"),
        **dict.fromkeys(record["images_neg_control"], "negative"),
    }
    wnid = record["wnid"]
    shape = _shape(record)
    return TaskSpec(
        uuid=str(record["uuid"]),
        kind="grid",
        questions=tuple((image, wnid, roles[image]) for image in record["images_all"]),
        class_key=wnid,
        max_assignments=_PUBLISHED_ASSIGNMENTS,
        status="done",
        payload={
            "variant": "published",
            "source": source,
            **{key: record.get(key) for key in _PROVENANCE},
            "counts": {"candidate": shape[1], "positive": shape[2], "negative": shape[3], "golden": 0},
        },
    )


def _controls(record: Mapping[str, Any]) -> list[str]:
    return [*record["images_pos_control"], *record["images_neg_control"]]


def _present(session, column, values: list[str]) -> set[str]:
    """The ``values`` found in ``column`` (in chunks: databases bound the parameters of one query)."""
    found: set[str] = set()
    for start in range(0, len(values), _CHUNK):
        part = values[start : start + _CHUNK]
        found.update(session.scalars(select(column).where(column.in_(part))))
    return found


def _add_images(session, class_of: Mapping[str, str], role: str, split: str | None) -> None:
    if not class_of:
        return
    now = utcnow()
    session.execute(
        insert(Image),
        [
            {
                "image_id": image_id,
                "role": role,
                "split": split,
                "class_key": class_of[image_id],
                "status": "metadata",
                "attempts": 0,
                "created_at": now,
                "updated_at": now,
            }
            for image_id in sorted(class_of)
        ],
    )
