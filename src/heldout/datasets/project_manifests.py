"""Published manifests in a project: import them as dataset revisions, export them byte-identical.

Importing ``imagenetv2-a-44``, ``-b-33`` and ``-c-12`` adds their candidates as metadata-only
images (no bytes: the catalog can name them, sampling can start from them, a release lists them
as URL-only) and one ``Dataset`` row each with its full manifest; exporting rebuilds the published
JSON (keys in their order, two-space indent, no trailing newline) from the catalog, byte for byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from heldout.atomic import write_atomic
from heldout.catalog import Dataset, DatasetImage, Image
from heldout.catalog.bulk import bulk_insert
from heldout.datasets._registry import load_dataset
from heldout.datasets.manifest import Manifest
from heldout.errors import DatasetError, UnknownDatasetError
from heldout.project import Project, utcnow
from heldout.sampling import MatchedFrequency, Threshold, TopImages

__all__ = ["PUBLISHED_MANIFESTS", "ManifestImport", "export_manifest", "import_manifests", "manifest_bytes"]

PUBLISHED_MANIFESTS = ("imagenetv2-a-44", "imagenetv2-b-33", "imagenetv2-c-12")
_VARIANTS = {rule.sampling_function: rule.variant for rule in (Threshold, MatchedFrequency, TopImages)}
_NAME = re.compile(r"^(?P<set>.+)-(?P<variant>[a-z])-(?P<revision>\d+)$")
_CHUNK = 5000
_IMAGES_KEY = "image_filenames"


@dataclass(frozen=True)
class ManifestImport:
    """Which datasets were added (or already there), and how many images were new to the catalog."""

    added: tuple[str, ...]
    already_present: tuple[str, ...]
    images_added: int


def import_manifests(project: Project, names: Sequence[str | Path] = PUBLISHED_MANIFESTS) -> ManifestImport:
    """Add each manifest (a registered name or a manifest file named ``<set>-<letter>-<n>.json``)
    as a dataset revision with metadata-only images; a rerun adds nothing."""
    manifests = [_load(project, name) for name in names]  # every check before any write
    added, present, images = [], [], 0
    with (
        project.run("import-manifests", {"names": [str(n) for n in names]}) as run,
        project.transaction() as session,
    ):
        for manifest in manifests:
            if session.scalar(select(Dataset.dataset_id).where(Dataset.name == manifest.name)) is not None:
                present.append(manifest.name)
                continue
            images += _add_images(session, manifest)
            _add_dataset(session, manifest, run.run_id)
            added.append(manifest.name)
        run.counts.update(datasets=len(added), images=images)
    return ManifestImport(tuple(added), tuple(present), images)


def manifest_bytes(project: Project, name: str) -> bytes:
    """The published JSON of dataset ``name``: its stored keys in order, the image list from the catalog."""
    with project.transaction() as session:
        dataset = session.scalar(select(Dataset).where(Dataset.name == name))
        if dataset is None:
            raise UnknownDatasetError(f"no dataset named {name!r} in this project", where=project.root)
        pairs = session.execute(
            select(DatasetImage.image_id, DatasetImage.class_key)
            .where(DatasetImage.dataset_id == dataset.dataset_id)
            .order_by(DatasetImage.position)
        ).all()
    document: dict[str, Any] = dict(dataset.manifest)
    document[_IMAGES_KEY] = [[image_id, key] for image_id, key in pairs]
    return json.dumps(document, indent=2).encode()


def export_manifest(project: Project, name: str, path: str | Path) -> Path:
    """Write dataset ``name``'s manifest to ``path`` atomically (byte-identical to what was imported)."""
    return write_atomic(path, manifest_bytes(project, name))


def _load(project: Project, name: str | Path) -> Manifest:
    testset = load_dataset(name, classes=project.classes)
    manifest = testset.manifest
    if _NAME.match(manifest.name) is None:
        raise DatasetError(
            f"a dataset revision is named <set>-<letter>-<revision>, not {manifest.name!r}",
            where=name,
            fix="set output_filename in the manifest (e.g. myset-a-0.json)",
        )
    manifest.labels(project.classes)  # classes outside the project's class set fail here
    return manifest


def _add_images(session, manifest: Manifest) -> int:
    ids = manifest.ids.tolist()
    known: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        known.update(
            session.scalars(select(Image.image_id).where(Image.image_id.in_(ids[start : start + _CHUNK])))
        )
    now = _stamp(utcnow())
    rows = [
        (image_id, "candidate", key, "metadata", 0, now, now)
        for image_id, key in sorted(zip(ids, manifest.wnids.tolist(), strict=True))
        if image_id not in known
    ]
    columns = ("image_id", "role", "class_key", "status", "attempts", "created_at", "updated_at")
    return bulk_insert(session, "image", columns, rows)


def _add_dataset(session, manifest: Manifest, run_id: int) -> None:
    match = _NAME.match(manifest.name)
    metadata = manifest.metadata
    pairs = [[i, k] for i, k in zip(manifest.ids.tolist(), manifest.wnids.tolist(), strict=True)]
    document = {k: pairs if k == _IMAGES_KEY else metadata[k] for k in manifest.key_order}
    starting_from = metadata.get("starting_from")
    dataset = Dataset(
        name=manifest.name,
        variant=_VARIANTS.get(metadata.get("sampling_function"), match["variant"]),
        revision=int(match["revision"]),
        starting_from=starting_from.removesuffix(".json") if isinstance(starting_from, str) else None,
        seed=metadata.get("seed") if isinstance(metadata.get("seed"), int) else None,
        is_valid=bool(metadata.get("is_valid", True)),
        manifest=document,
        run_id=run_id,
        created_at=utcnow(),
    )
    session.add(dataset)
    session.flush()
    rows = (
        (dataset.dataset_id, position, image_id, key)
        for position, (image_id, key) in enumerate(
            zip(manifest.ids.tolist(), manifest.wnids.tolist(), strict=True)
        )
    )
    bulk_insert(session, "dataset_image", ("dataset_id", "position", "image_id", "class_key"), rows)


def _stamp(moment: datetime) -> str:
    """A timestamp as text both databases parse (formatted once, not once per row: 20k rows)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
