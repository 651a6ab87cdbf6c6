"""Release a sampled test set: the ImageNetV2 folder layout plus what a user needs to trust it.

ImageNetV2's release taught three lessons: labels got scrambled by string-sorted folders, files
were renamed between uploads, and the selection frequencies were never published. A release here
is one folder (see :mod:`heldout.datasets._layout`): class folders named by class *index*
(``0``..``C-1``, never sorted as text), ``<image id>.jpeg`` files holding the 500-px rendition
workers saw, a manifest in the published format whose ``images`` records add each file's sha256
and size, its selection frequency and annotation count, and its source URL, license and owner;
then a datasheet, the raw answers (worker ids pseudonymised), the reviewed near-duplicate pairs,
a Croissant file, exports (tar.gz, WebDataset shards, Hugging Face ``datasets``) and
``SHA256SUMS``. Everything but the Hugging Face copy is byte-reproducible: no clock, no set order.

**File names** are the candidate ids the manifest lists. They are derived from content (sha1 of
the bytes for folder, URL and IDX sources) or from the source's stable photo id (sha1(photo id +
"flickr"), as ImageNetV2 did), never from a position, so an image keeps its name in every
revision; ``renames.json`` lists what changed since ``starting_from`` (kept, renamed, removed,
added), matching moved files by id and by the sha256 of their original bytes.

**Licenses.** An image is redistributed only when its license is in the allow-list; the others
are URL-only entries (``redistributed: false``, ``withheld_because``) whose URL, owner and
``original_sha256`` let a user fetch and check them. License keys are Flickr's license ids
(``FLICKR_LICENSES``) or ``"unknown"`` when the source recorded none (folders, URL lists). The
default allows only licenses that permit redistributing a resized copy for any purpose (CC BY,
CC BY-SA, no known restrictions, US government work, CC0, public domain mark); images that have
no stored bytes (metadata-only imports) are URL-only too.

Bad input (an unknown name, classes outside the class set, an output folder that is not empty)
raises before anything is written. The release is built in a hidden folder beside ``out``
(``.<out>.partial``) and renamed into place at the end, so ``out`` is complete or absent; a run
that fails midway (a store outage, a kill) leaves the hidden folder, and the next run resumes from
it: images already copied are kept (every file is written atomically), the rest is rewritten.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sqlalchemy import and_, select

from heldout import __version__
from heldout.atomic import write_atomic
from heldout.catalog import Candidate, Dataset, DatasetImage, Image, Question, Score
from heldout.datasets import _layout as files
from heldout.datasets._datasheet import datasheet
from heldout.datasets._registry import load_dataset, register_dataset
from heldout.datasets._release_catalog import answers_csv, duplicate_pairs, reference_frequencies
from heldout.datasets.croissant import croissant
from heldout.datasets.exports import Sample, write_hf, write_tarball, write_webdataset
from heldout.datasets.licenses import (
    DEFAULT_LICENSES,
    FLICKR_LICENSES,
    UNKNOWN_LICENSE,
    is_allowed,
    license_name,
)
from heldout.datasets.testset import TestSet
from heldout.errors import ConfigError, DatasetError, UnknownDatasetError
from heldout.project import Project

__all__ = [
    "DEFAULT_LICENSES",
    "FLICKR_LICENSES",
    "FORMATS",
    "LAYOUTS",
    "UNKNOWN_LICENSE",
    "Entries",
    "ReleaseLayout",
    "ReleaseReport",
    "class_folders",
    "gather_entries",
    "image_paths",
    "register_release",
    "release",
    "rename_map",
]

ReleaseLayout = Literal["index", "wnid", "name"]
LAYOUTS = ("index", "wnid", "name")
FORMATS = ("tar.gz", "webdataset", "hf")
RENDITION = "500"


Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ReleaseReport:
    """What a release wrote: where, how many images as files and as URL-only entries, which exports."""

    name: str
    root: Path
    images: int
    url_only: int
    classes: int
    formats: tuple[str, ...]
    manifest_sha256: str
    files: int
    withheld: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Entries:
    """The images of a dataset revision, in manifest order, as aligned arrays."""

    ids: np.ndarray
    class_keys: np.ndarray
    labels: np.ndarray
    paths: np.ndarray
    original_sha256: np.ndarray
    urls: np.ndarray
    licenses: np.ndarray
    owners: np.ndarray
    dates_taken: np.ndarray
    frequency: np.ndarray
    annotations: np.ndarray
    withheld: np.ndarray
    """'' when the file is released, else why not (``license``, ``no stored bytes``)."""

    @property
    def released(self) -> np.ndarray:
        return self.withheld == ""


@dataclass
class _Writer:
    """Writes files under a staging root and remembers each one's sha256 (for SHA256SUMS)."""

    root: Path
    digests: dict[str, str] = field(default_factory=dict)

    def write(self, relative: str, data: bytes) -> str:
        write_atomic(self.root / relative, data)  # a file is complete or absent: a rerun may keep it
        digest = hashlib.sha256(data).hexdigest()
        self.digests[relative] = digest
        return digest

    def record(self, relative: str) -> str:
        """Hash a file already there (an export, or an image an interrupted run wrote)."""
        with (self.root / relative).open("rb") as handle:
            self.digests[relative] = hashlib.file_digest(handle, "sha256").hexdigest()
        return self.digests[relative]


def release(
    project: Project,
    name: str,
    out: str | Path,
    *,
    formats: Sequence[str] = FORMATS,
    layout: ReleaseLayout = "index",
    licenses: Sequence[str] = DEFAULT_LICENSES,
    shard_size: int = 1000,
    progress: Progress | None = None,
) -> ReleaseReport:
    """Write dataset revision ``name`` of ``project`` as a release folder ``out`` (see the module doc)."""
    out = Path(out)
    _check_options(formats, layout, shard_size, out)
    dataset = _dataset(project, name)
    entries = gather_entries(project, dataset, layout=layout, licenses=licenses)
    staging = out.parent / f".{out.name}.partial"
    _prepare_staging(staging, entries)
    with project.run("release", _parameters(name, formats, layout, licenses, shard_size)) as run:
        writer = _Writer(staging)
        sizes = _write_images(project, entries, writer, progress)
        manifest_sha = _write_metadata(project, dataset, entries, sizes, writer, layout, licenses)
        core = dict(writer.digests)
        _write_exports(project, dataset.name, entries, writer, formats, shard_size, core)
        writer.write(files.CHECKSUMS, _checksums(writer.digests))
        run.counts.update(images=int(entries.released.sum()), url_only=int((~entries.released).sum()))
    if out.exists():
        out.rmdir()  # checked empty above
    staging.rename(out)
    reasons, counts = np.unique(entries.withheld[~entries.released], return_counts=True)
    return ReleaseReport(
        name=dataset.name,
        root=out,
        images=int(entries.released.sum()),
        url_only=int((~entries.released).sum()),
        classes=len(np.unique(entries.labels)),
        formats=tuple(formats),
        manifest_sha256=manifest_sha,
        files=len(writer.digests),
        withheld=dict(zip(reasons.tolist(), counts.tolist(), strict=True)),
    )


def register_release(path: str | Path, *, description: str = "") -> TestSet:
    """Register the release folder at ``path`` under its name, so ``load_dataset(name)`` finds it."""
    testset = load_dataset(path)
    register_dataset(testset.name, description=description or testset.description)(lambda: testset)
    return testset


def gather_entries(
    project: Project, dataset: Dataset, *, layout: ReleaseLayout, licenses: Sequence[str]
) -> Entries:
    """Read a revision's images with their blobs, search records and frequency scores (one query)."""
    query = (
        select(
            DatasetImage.image_id,
            DatasetImage.class_key,
            Image.sha256,
            Image.location,
            Candidate.url,
            Candidate.license,
            Candidate.owner,
            Candidate.date_taken,
            Score.value,
            Score.annotations,
        )
        .select_from(DatasetImage)
        .join(Image, Image.image_id == DatasetImage.image_id)
        .outerjoin(Candidate, Candidate.image_id == DatasetImage.image_id)
        .outerjoin(
            Question,
            and_(Question.image_id == DatasetImage.image_id, Question.class_key == DatasetImage.class_key),
        )
        .outerjoin(Score, and_(Score.question_id == Question.question_id, Score.method == "frequency"))
        .where(DatasetImage.dataset_id == dataset.dataset_id)
        .order_by(DatasetImage.position)
    )
    with project.transaction() as session:
        rows = session.execute(query).all()
    if not rows:
        raise DatasetError("the dataset has no images", where=dataset.name, fix="sample it again")
    columns = list(zip(*rows, strict=True))
    ids = np.array(columns[0], dtype=str)
    class_keys = np.array(columns[1], dtype=str)
    labels = _labels(project, class_keys, dataset.name)
    sha = np.array(columns[2], dtype=object)
    urls = np.array(
        [
            u or (loc if loc and loc.startswith(("http://", "https://")) else None)
            for loc, u in zip(columns[3], columns[4], strict=True)
        ],
        dtype=object,
    )
    license_keys = np.array([lic or UNKNOWN_LICENSE for lic in columns[5]], dtype=str)
    withheld = np.where(
        np.equal(sha, None), "no stored bytes", np.where(is_allowed(license_keys, licenses), "", "license")
    )
    return Entries(
        ids=ids,
        class_keys=class_keys,
        labels=labels,
        paths=image_paths(ids, labels, project, layout),
        original_sha256=sha,
        urls=urls,
        licenses=license_keys,
        owners=np.array(columns[6], dtype=object),
        dates_taken=np.array(columns[7], dtype=object),
        frequency=np.array([np.nan if v is None else v for v in columns[8]], dtype=np.float64),
        annotations=np.array([-1 if v is None else v for v in columns[9]], dtype=np.int64),
        withheld=withheld.astype(str),
    )


def image_paths(ids: np.ndarray, labels: np.ndarray, project: Project, layout: ReleaseLayout) -> np.ndarray:
    """``images/<class folder>/<id>.jpeg`` for each image under ``layout``."""
    folders = np.array(class_folders(project, layout), dtype=object)[labels]
    return np.array(
        [f"{files.IMAGES}/{f}/{i}{files.IMAGE_SUFFIX}" for f, i in zip(folders, ids.tolist(), strict=True)],
        dtype=str,
    )


def class_folders(project: Project, layout: ReleaseLayout) -> list[str]:
    """Folder name of every class: its index (ImageNetV2), its id, or ``<zero-padded index>-<name>``
    (which sorts as text in index order, so even ImageFolder reads it right)."""
    classes = project.classes
    if layout == "index":
        return [str(c.index) for c in classes]
    if layout == "wnid":
        return [c.id for c in classes]
    width = len(str(len(classes) - 1))
    return [f"{c.index:0{width}d}-{_slug(c.name) or _slug(c.id)}" for c in classes]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _check_options(formats: Sequence[str], layout: str, shard_size: int, out: Path) -> None:
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ConfigError(f"unknown export format(s) {unknown}", fix=f"use {', '.join(FORMATS)}")
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r}", fix=f"use {', '.join(LAYOUTS)}")
    if shard_size < 1:
        raise ConfigError("shard_size must be at least 1")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(
            "the output folder exists and is not empty",
            where=out,
            fix="choose a new folder (a release never overwrites one)",
        )


def _dataset(project: Project, name: str) -> Dataset:
    with project.transaction() as session:
        dataset = session.scalar(select(Dataset).where(Dataset.name == name))
        if dataset is None:
            names = list(session.scalars(select(Dataset.name).order_by(Dataset.name)))
    if dataset is None:
        close = difflib.get_close_matches(name, names, n=3)
        raise UnknownDatasetError(
            f"no sampled dataset named {name!r} in this project"
            + (f"; did you mean {', '.join(close)}?" if close else ""),
            where=project.root,
            fix="check the name (revisions are named <set>-<letter>-<revision>), or sample one with `heldout sample`",
        )
    return dataset


def _labels(project: Project, class_keys: np.ndarray, name: str) -> np.ndarray:
    known = project.classes.has_ids(class_keys)
    if not known.all():
        missing = sorted(set(class_keys[~known].tolist()))
        raise DatasetError(
            f"{len(missing)} class(es) of the dataset are not in the project's class set: {missing[:5]}",
            where=name,
            fix="release datasets sampled in this project, with its class set",
        )
    return project.classes.indices(class_keys, where=name)


def _parameters(
    name: str, formats: Sequence[str], layout: str, licenses: Sequence[str], shard_size: int
) -> dict:
    return {
        "name": name,
        "formats": list(formats),
        "layout": layout,
        "licenses": sorted(licenses),
        "shard_size": shard_size,
        "rendition": RENDITION,
    }


def _prepare_staging(staging: Path, entries: Entries) -> None:
    """Keep the images an interrupted release of the same files left in ``staging``; drop the rest
    (metadata and exports are always written again)."""
    staging.mkdir(parents=True, exist_ok=True)
    wanted = set(entries.paths[entries.released].tolist())
    for path in sorted(staging.rglob("*"), reverse=True):
        relative = path.relative_to(staging).as_posix()
        if path.is_dir() and not path.is_symlink():
            if not any(path.iterdir()):
                path.rmdir()
        elif relative not in wanted:
            path.unlink()


def _write_images(
    project: Project, entries: Entries, writer: _Writer, progress: Progress | None
) -> dict[int, tuple[str, int]]:
    """Copy the 500-px rendition of every released image; returns row -> (sha256, size)."""
    store = project.store
    rows = np.flatnonzero(entries.released)
    written: dict[int, tuple[str, int]] = {}
    for done, row in enumerate(rows.tolist(), start=1):
        relative = str(entries.paths[row])
        if (writer.root / relative).is_file():  # resumed: an interrupted run wrote it
            written[row] = (writer.record(relative), (writer.root / relative).stat().st_size)
        else:
            data = store.get(store.key(str(entries.original_sha256[row]), RENDITION))
            written[row] = (writer.write(relative, data), len(data))
        if progress:
            progress(done, len(rows))
    return written


def _write_metadata(
    project: Project,
    dataset: Dataset,
    entries: Entries,
    sizes: dict[int, tuple[str, int]],
    writer: _Writer,
    layout: ReleaseLayout,
    licenses: Sequence[str],
) -> str:
    manifest = _manifest(dataset, entries, sizes, layout, licenses)
    manifest_sha = writer.write(files.MANIFEST, manifest)
    writer.write(files.CLASSES, _classes_json(project))
    answers, answer_stats = answers_csv(project, dataset)
    writer.write(files.ANSWERS, answers)
    pairs = duplicate_pairs(project, dataset)
    writer.write(files.DUPLICATES, _json(pairs))
    renames = rename_map(project, dataset, entries, layout)
    if renames is not None:
        writer.write(files.RENAMES, _json(renames))
    reference = reference_frequencies(project, np.unique(entries.class_keys))
    writer.write(
        files.DATASHEET,
        datasheet(project, dataset, entries, reference, answer_stats, len(pairs), licenses),
    )
    writer.write(files.CROISSANT, _json(croissant(project, dataset, entries, writer.digests, layout)))
    return manifest_sha


def _manifest(
    dataset: Dataset,
    entries: Entries,
    sizes: dict[int, tuple[str, int]],
    layout: ReleaseLayout,
    licenses: Sequence[str],
) -> bytes:
    """The sampled manifest (published keys, in order) plus ``release`` and per-image ``images``."""
    pairs = [[i, k] for i, k in zip(entries.ids.tolist(), entries.class_keys.tolist(), strict=True)]
    document: dict[str, Any] = {k: v for k, v in dataset.manifest.items()}
    document["image_filenames"] = pairs
    document.setdefault("output_filename", f"{dataset.name}.json")
    document["release"] = {
        "heldout_version": __version__,
        "layout": layout,
        "rendition": f"longer side {RENDITION} px, JPEG quality 90",
        "redistributed_licenses": sorted(licenses),
        "file_names": "candidate id",
    }
    document["images"] = [_image_record(entries, row, sizes.get(row)) for row in range(len(entries.ids))]
    return (json.dumps(document, indent=2) + "\n").encode()


def _image_record(entries: Entries, row: int, written: tuple[str, int] | None) -> dict[str, Any]:
    frequency = float(entries.frequency[row])
    license_key = str(entries.licenses[row])
    return {
        "id": str(entries.ids[row]),
        "class_id": str(entries.class_keys[row]),
        "label": int(entries.labels[row]),
        "file": str(entries.paths[row]),
        "redistributed": written is not None,
        "withheld_because": str(entries.withheld[row]) or None,
        "sha256": written[0] if written else None,
        "size_bytes": written[1] if written else None,
        "original_sha256": entries.original_sha256[row],
        "selection_frequency": None if np.isnan(frequency) else frequency,
        "num_annotations": int(entries.annotations[row]) if entries.annotations[row] >= 0 else None,
        "url": entries.urls[row],
        "license": license_key,
        "license_name": license_name(license_key),
        "owner": entries.owners[row],
    }


def _classes_json(project: Project) -> bytes:
    classes = [
        {"id": c.id, "names": list(c.names), "description": c.description, "similar": list(c.similar)}
        for c in project.classes
    ]
    return _json({"name": project.classes.name, "classes": classes})


def rename_map(project: Project, dataset: Dataset, entries: Entries, layout: ReleaseLayout) -> dict | None:
    """Paths changed since the previous revision: kept, renamed (by id or by original bytes), removed, added."""
    if not dataset.starting_from:
        return None
    previous_name = dataset.starting_from.removesuffix(".json")
    with project.transaction() as session:
        previous = session.scalar(select(Dataset).where(Dataset.name == previous_name))
        rows = (
            session.execute(
                select(DatasetImage.image_id, DatasetImage.class_key, Image.sha256)
                .join(Image, Image.image_id == DatasetImage.image_id)
                .where(DatasetImage.dataset_id == previous.dataset_id)
                .order_by(DatasetImage.position)
            ).all()
            if previous is not None
            else []
        )
    document: dict[str, Any] = {"from": previous_name, "to": dataset.name, "layout": layout}
    if previous is None:
        return {**document, "previous_in_project": False}
    old_ids = np.array([r[0] for r in rows], dtype=str)
    old_paths = image_paths(
        old_ids, _labels(project, np.array([r[1] for r in rows], dtype=str), previous_name), project, layout
    )
    old_sha = [r[2] for r in rows]
    new_path = dict(zip(entries.ids.tolist(), entries.paths.tolist(), strict=True))
    renamed, removed = {}, []
    unmatched_new = set(entries.ids.tolist()) - set(old_ids.tolist())
    new_by_sha = {
        s: i
        for i, s in zip(entries.ids.tolist(), entries.original_sha256.tolist(), strict=True)
        if s and i in unmatched_new
    }
    kept = 0
    for image_id, path, sha in zip(old_ids.tolist(), old_paths.tolist(), old_sha, strict=True):
        target = new_path.get(image_id) or new_path.get(new_by_sha.get(sha, ""))
        if target is None:
            removed.append(path)
        elif target == path:
            kept += 1
        else:
            renamed[path] = target
            unmatched_new.discard(new_by_sha.get(sha, ""))
    added = sorted(new_path[i] for i in unmatched_new)
    return {
        **document,
        "previous_in_project": True,
        "kept": kept,
        "renamed": dict(sorted(renamed.items())),
        "removed": sorted(removed),
        "added": added,
    }


def _write_exports(
    project: Project,
    name: str,
    entries: Entries,
    writer: _Writer,
    formats: Sequence[str],
    shard_size: int,
    core: dict[str, str],
) -> None:
    released = np.flatnonzero(entries.released)
    if "tar.gz" in formats:
        relative = f"{files.EXPORTS}/{name}.tar.gz"
        extra = {files.CHECKSUMS: _checksums(core)}
        write_tarball(writer.root / relative, writer.root, sorted(core), prefix=name, extra=extra)
        writer.record(relative)
    samples = [
        Sample(
            key=str(entries.ids[r]),
            path=writer.root / str(entries.paths[r]),
            label=int(entries.labels[r]),
            metadata={
                "id": str(entries.ids[r]),
                "class_id": str(entries.class_keys[r]),
                "label": int(entries.labels[r]),
            },
        )
        for r in released.tolist()
    ]
    if "webdataset" in formats:
        for path in write_webdataset(
            writer.root / files.EXPORTS / "webdataset", name, samples, shard_size=shard_size
        ):
            writer.record(path.relative_to(writer.root).as_posix())
    if "hf" in formats:
        names = project.classes.ids.tolist()
        for path in write_hf(writer.root / files.EXPORTS / "hf", samples, class_names=names):
            writer.record(path.relative_to(writer.root).as_posix())


def _checksums(digests: dict[str, str]) -> bytes:
    """``sha256sum -c`` format, sorted by path."""
    return "".join(f"{digests[p]}  {p}\n" for p in sorted(digests)).encode()


def _json(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()
