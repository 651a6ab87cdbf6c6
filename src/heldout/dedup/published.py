"""ImageNetV2's published dedup files, imported into a project and exported from one, and what
their duplicate components say about the released test sets.

Formats (``json.dump(..., indent=2)``, as released in ``metadata/``):

- ``near_duplicates.json``: ``{candidate id: [other ids]}`` -> ``DuplicatePair`` rows;
- ``nearest_neighbor_reviews_v2.json``: ``{candidate: {metric: {reviewer, date, references}}}``
  -> ``NeighbourReview`` rows (one per reference, with that reviewer and date);
- ``near_duplicate_resolution_override.json``: ``[kept ids]`` -> ``DuplicateOverride``;
- ``candidate_blacklist.json``: ``{candidate id: reason}`` -> ``Blacklist``;
- ``nearest_neighbor_results*.json``: ``{candidate: {metric: [[name, distance], ...]}}`` -> ``Neighbour``.

Ids the catalog does not know become metadata-only images: 40-hex ids are candidates, ImageNet
file names are reference images of their split (train names carry their class). Export is
canonical: keys and lists sorted, reviews grouped per (candidate, metric) under the latest reviewer
and date, in the order they were first reviewed. The published files are not all canonical (one
duplicate list and about half the review lists are unsorted, and 858 reviews carry an extra
``threshold`` key the schema does not keep), so a round trip is equal as data, not byte for byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from heldout.atomic import write_atomic
from heldout.catalog import (
    Blacklist,
    DuplicateOverride,
    DuplicatePair,
    Image,
    Neighbour,
    NeighbourReview,
)
from heldout.catalog.bulk import bulk_insert
from heldout.datasets import load_dataset
from heldout.dedup.components import Components, DuplicateGraph, build_components, resolve_components
from heldout.errors import ConfigError
from heldout.project import Project, utcnow

__all__ = [
    "PUBLISHED_FILES",
    "RELEASED_SETS",
    "SetReport",
    "export_published",
    "import_neighbour_results",
    "import_published",
    "published_components",
    "report_released_sets",
    "report_sets",
]

PUBLISHED_FILES = {
    "duplicates": "near_duplicates.json",
    "reviews": "nearest_neighbor_reviews_v2.json",
    "overrides": "near_duplicate_resolution_override.json",
    "blacklist": "candidate_blacklist.json",
}
RELEASED_SETS = ("imagenetv2-a-44", "imagenetv2-b-33", "imagenetv2-c-12")
"""The final revisions released as ImageNetV2 Threshold0.7, MatchedFrequency and TopImages."""
_CANDIDATE = re.compile(r"^[0-9a-f]{40}$")
_TRAIN = re.compile(r"^(n\d{8})_\d+\.JPEG$")
_CHUNK = 5000


@dataclass(frozen=True)
class SetReport:
    """What the duplicate components say about one released test set."""

    name: str
    size: int
    shared_components: int
    """Components holding two or more of the set's images (the rule keeps one per component)."""
    touching_reference: dict[str, tuple[str, ...]]
    """Set images whose component holds reference images, with those images."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(
            "file not found", where=path, fix="pass the folder of the published metadata"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON: {exc}", where=path) from exc


def _reference_split(image_id: str) -> tuple[str, str | None] | None:
    """(split, class) of an ImageNet file name, or None for a candidate id."""
    if _CANDIDATE.match(image_id):
        return None
    train = _TRAIN.match(image_id)
    if train:
        return "train", train.group(1)
    for split in ("val", "test"):
        if image_id.startswith(f"ILSVRC2012_{split}_"):
            return split, None
    raise ConfigError(
        f"neither a candidate id nor an ImageNet file name: {image_id!r}",
        fix="published files name candidates by 40-hex ids and references by ImageNet file names",
    )


def _ensure_images(session, ids: Iterable[str]) -> int:
    """Add metadata-only images for ids the catalog lacks; returns how many were added."""
    wanted = sorted(set(ids))
    known: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        part = wanted[start : start + _CHUNK]
        known.update(session.scalars(select(Image.image_id).where(Image.image_id.in_(part))))
    now = utcnow()
    rows = []
    for image_id in wanted:
        if image_id in known:
            continue
        reference = _reference_split(image_id)
        split, class_key = reference or (None, None)
        role = "reference" if reference else "candidate"
        rows.append((image_id, role, split, class_key, "metadata", 0, now, now))
    columns = ("image_id", "role", "split", "class_key", "status", "attempts", "created_at", "updated_at")
    return bulk_insert(session, "image", columns, rows)


def _existing(session, columns, keys: set[tuple]) -> set[tuple]:
    return {tuple(r) for r in session.execute(select(*columns))} & keys


def import_published(project: Project, folder: str | Path) -> dict[str, int]:
    """Import whichever of the four published files ``folder`` holds; rows already present are
    kept, so importing twice adds nothing. Returns the rows added per kind."""
    folder = Path(folder)
    present = {kind: folder / name for kind, name in PUBLISHED_FILES.items() if (folder / name).is_file()}
    if not present:
        raise ConfigError(
            "none of the published dedup files is here",
            where=folder,
            fix=f"expected {', '.join(PUBLISHED_FILES.values())}",
        )
    data = {kind: _read_json(path) for kind, path in present.items()}
    counts: dict[str, int] = {}
    with project.run("dedup-import", {"folder": str(folder), "files": sorted(present)}) as run:
        with project.transaction() as session:
            counts["images"] = _ensure_images(session, _named_ids(data))
            if "duplicates" in data:
                counts["duplicates"] = _import_pairs(session, data["duplicates"])
            if "reviews" in data:
                counts["reviews"] = _import_reviews(session, data["reviews"])
            if "overrides" in data:
                counts["overrides"] = _import_overrides(session, data["overrides"])
            if "blacklist" in data:
                counts["blacklist"] = _import_blacklist(session, data["blacklist"])
        run.counts.update(counts)
    return counts


def _named_ids(data: Mapping[str, Any]) -> Iterable[str]:
    """Every image id the files name (the blacklist is not keyed to images, so it is left out)."""
    for key, others in data.get("duplicates", {}).items():
        yield key
        yield from others
    for key, metrics in data.get("reviews", {}).items():
        yield key
        for review in metrics.values():
            yield from review["references"]
    yield from data.get("overrides", [])


def _import_pairs(session, duplicates: Mapping[str, Sequence[str]]) -> int:
    keys = {(k, o) for k, others in duplicates.items() for o in others}
    new = sorted(keys - _existing(session, (DuplicatePair.image_id, DuplicatePair.other_id), keys))
    now = utcnow()
    columns = ("image_id", "other_id", "origin", "reviewer", "created_at")
    return bulk_insert(session, "duplicate_pair", columns, ((k, o, "published", None, now) for k, o in new))


def _import_reviews(session, reviews: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> int:
    rows = {
        (image_id, metric, reference): (review["reviewer"], datetime.fromisoformat(review["date"]))
        for image_id, metrics in reviews.items()
        for metric, review in metrics.items()
        for reference in review["references"]
    }
    columns = (NeighbourReview.image_id, NeighbourReview.metric, NeighbourReview.neighbour_id)
    new = sorted(set(rows) - _existing(session, columns, set(rows)))
    return bulk_insert(
        session,
        "neighbour_review",
        ("image_id", "metric", "neighbour_id", "reviewer", "reviewed_at"),
        ((*key, *rows[key]) for key in new),
    )


def _import_overrides(session, overrides: Sequence[str]) -> int:
    new = sorted(set(overrides) - set(session.scalars(select(DuplicateOverride.image_id))))
    now = utcnow()
    session.add_all(DuplicateOverride(image_id=i, reviewer=None, created_at=now) for i in new)
    return len(new)


def _import_blacklist(session, blacklist: Mapping[str, str]) -> int:
    new = sorted(set(blacklist) - set(session.scalars(select(Blacklist.image_id))))
    now = utcnow()
    return bulk_insert(
        session, "blacklist", ("image_id", "reason", "created_at"), ((i, blacklist[i], now) for i in new)
    )


def import_neighbour_results(project: Project, path: str | Path) -> int:
    """Import published nearest-neighbour results ``{candidate: {metric: [[name, distance], ...]}}``,
    replacing the stored neighbours of those (candidate, metric) pairs; returns the rows written."""
    path = Path(path)
    results = _read_json(path)
    rows = [
        (image_id, metric, rank, name, float(distance))
        for image_id, metrics in sorted(results.items())
        for metric, pairs in sorted(metrics.items())
        for rank, (name, distance) in enumerate(pairs)
    ]
    with project.run("dedup-import-neighbours", {"path": str(path)}) as run:
        with project.transaction() as session:
            _ensure_images(session, [r[0] for r in rows] + [r[3] for r in rows])
            for image_id, metrics in results.items():
                session.query(Neighbour).filter(
                    Neighbour.image_id == image_id, Neighbour.metric.in_(list(metrics))
                ).delete(synchronize_session=False)
            written = bulk_insert(
                session,
                "neighbour",
                ("image_id", "metric", "rank", "neighbour_id", "distance", "run_id"),
                (r + (run.run_id,) for r in rows),
            )
        run.counts.update(neighbours=written)
    return written


def export_published(project: Project, folder: str | Path) -> dict[str, Path]:
    """Write the four published files from the catalog into ``folder`` (atomically, canonical order)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with project.transaction() as session:
        pairs = session.execute(select(DuplicatePair.image_id, DuplicatePair.other_id)).all()
        reviews = session.execute(
            select(
                NeighbourReview.image_id,
                NeighbourReview.metric,
                NeighbourReview.neighbour_id,
                NeighbourReview.reviewer,
                NeighbourReview.reviewed_at,
            )
        ).all()
        overrides = session.scalars(select(DuplicateOverride.image_id)).all()
        blacklist = session.execute(select(Blacklist.image_id, Blacklist.reason)).all()
    duplicates: dict[str, list[str]] = {}
    for key, other in sorted(pairs):
        duplicates.setdefault(key, []).append(other)
    contents = {
        "duplicates": _dumps(duplicates),
        "reviews": _dumps(_review_document(reviews)),
        "overrides": _dumps(sorted(overrides)) + "\n",
        "blacklist": _dumps(dict(sorted(blacklist))),
    }
    written = {}
    for kind, text in contents.items():
        written[kind] = folder / PUBLISHED_FILES[kind]
        write_atomic(written[kind], text.encode())
    return written


def _dumps(document: Any) -> str:
    return json.dumps(document, indent=2)


def _review_document(rows) -> dict[str, dict[str, dict[str, Any]]]:
    """Group review rows per (candidate, metric): the latest reviewer and date, sorted references;
    candidates and metrics in the order they were first reviewed (the published files' order)."""
    groups: dict[tuple[str, str], list] = {}
    for row in sorted(rows, key=lambda r: (r[4], r[0], r[1], r[2])):
        groups.setdefault((row[0], row[1]), []).append(row)
    document: dict[str, dict[str, dict[str, Any]]] = {}
    for (image_id, metric), members in groups.items():
        latest = members[-1]
        document.setdefault(image_id, {})[metric] = {
            "reviewer": latest[3],
            "date": str(latest[4]),
            "references": sorted(r[2] for r in members),
        }
    return document


def published_components(
    duplicates: Mapping[str, Sequence[str]], *, overrides: Sequence[str] = ()
) -> Components:
    """The components of the published ``near_duplicates.json`` alone (no frequencies, no source
    photo ids: those were never published), with references recognised by their ImageNet names."""
    edges = [(k, o) for k, others in duplicates.items() for o in others]
    ids = np.unique(np.asarray(edges, dtype=str).reshape(-1))
    is_reference = np.asarray([_reference_split(i) is not None for i in ids.tolist()], dtype=bool)
    graph = DuplicateGraph(
        ids=ids,
        edges=np.searchsorted(ids, np.asarray(edges, dtype=str).reshape(-1, 2)).astype(np.int64),
        is_reference=is_reference,
        class_keys=np.full(len(ids), "", dtype=str),
        frequency=np.zeros(len(ids)),
        overridden=np.isin(ids, list(overrides)),
        good_per_class={},
    )
    return build_components(graph)


def report_sets(components: Components, sets: Mapping[str, Sequence[str]]) -> list[SetReport]:
    """Per test set: how many components hold several of its images, and which of its images sit in
    a component with reference images (and with which)."""
    n = int(components.component.max()) + 1 if len(components.ids) else 0
    is_reference = components.status == ""
    reports = []
    for name, image_ids in sets.items():
        inside = np.isin(components.ids, np.asarray(list(image_ids), dtype=str))
        shared = int((np.bincount(components.component[inside], minlength=n) >= 2).sum())
        touching = {
            image_id: tuple(sorted(components.ids[(components.component == comp) & is_reference].tolist()))
            for image_id, comp in zip(
                components.ids[inside & (components.status == "reference")].tolist(),
                components.component[inside & (components.status == "reference")].tolist(),
                strict=True,
            )
        }
        reports.append(SetReport(name, len(image_ids), shared, touching))
    return reports


def report_released_sets(project: Project, names: Sequence[str] = RELEASED_SETS) -> list[SetReport]:
    """:func:`report_sets` over the project's current duplicate graph and registered test sets."""
    components = resolve_components(project)
    return report_sets(components, {name: load_dataset(name).ids.tolist() for name in names})
