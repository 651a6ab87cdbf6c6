"""The datasheet of a release (markdown): how it was built, counts, histograms, dates, licenses.

It is written from the catalog only (no clock): releasing the same revision twice gives the same
bytes. The runs listed are the project's stage runs, without the release runs themselves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select

from heldout.catalog import Dataset, Run
from heldout.datasets import _layout as files
from heldout.datasets._release_catalog import AnswerStats
from heldout.datasets.licenses import license_name

if TYPE_CHECKING:
    from heldout.datasets.release import Entries
    from heldout.project import Project

__all__ = ["BIN_EDGES", "datasheet", "frequency_histogram"]

BIN_EDGES = (0.2, 0.4, 0.6, 0.8)
"""ImageNetV2's five frequency bins: [0,.2) [.2,.4) [.4,.6) [.6,.8) [.8,1]."""
_BIN_LABELS = ("[0.0, 0.2)", "[0.2, 0.4)", "[0.4, 0.6)", "[0.6, 0.8)", "[0.8, 1.0]")


def frequency_histogram(frequency: np.ndarray) -> np.ndarray:
    """Counts per bin of the known (non-NaN) frequencies."""
    known = frequency[~np.isnan(frequency)]
    return np.bincount(np.digitize(known, BIN_EDGES), minlength=len(_BIN_LABELS))


def datasheet(
    project: Project,
    dataset: Dataset,
    entries: Entries,
    reference: np.ndarray,
    answers: AnswerStats,
    duplicate_keys: int,
    licenses: Sequence[str],
) -> bytes:
    sections = [
        f"# {dataset.name}\n",
        _summary(project, dataset, entries),
        _how_built(project, dataset),
        _counts(entries, answers, duplicate_keys),
        _histograms(entries, reference),
        _dates(dataset, entries, answers),
        _licenses(entries, licenses),
        _files(),
    ]
    return "\n".join(sections).encode()


def _summary(project: Project, dataset: Dataset, entries: Entries) -> str:
    return (
        f"A test set of {len(entries.ids)} images in {len(np.unique(entries.labels))} classes of the class "
        f"set `{project.classes.name}` (project `{project.config.name}`), revision {dataset.revision} of "
        f"variant `{dataset.variant}`{f', starting from `{dataset.starting_from}`' if dataset.starting_from else ''}. "
        f"Valid: {'yes' if dataset.is_valid else 'no (some class could not be filled)'}.\n"
    )


def _how_built(project: Project, dataset: Dataset) -> str:
    lines = ["## How it was built\n", "Sampling parameters (from the manifest):\n"]
    lines += [
        f"- `{key}`: `{json.dumps(value, sort_keys=True)}`"
        for key, value in dataset.manifest.items()
        if key not in ("image_filenames", "images")
    ]
    with project.transaction() as session:
        runs = session.scalars(select(Run).where(Run.stage != "release").order_by(Run.run_id)).all()
    lines += ["", "Stage runs of the project (the catalog's run records):\n"]
    lines += [
        "| run | stage | heldout | seed | status | started | finished | parameters |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.run_id} | {r.stage} | {r.package_version} | {'' if r.seed is None else r.seed} | {r.status} | "
        f"{_stamp(r.started_at)} | {_stamp(r.finished_at)} | `{json.dumps(r.parameters, sort_keys=True)}` |"
        for r in runs
    ]
    return "\n".join(lines) + "\n"


def _counts(entries: Entries, answers: AnswerStats, duplicate_keys: int) -> str:
    per_class = np.bincount(entries.labels)[np.unique(entries.labels)]
    released = int(entries.released.sum())
    return "\n".join(
        [
            "## Counts\n",
            f"- images: {len(entries.ids)} ({released} as files, {len(entries.ids) - released} URL-only)",
            f"- classes: {len(per_class)}; images per class: min {per_class.min()}, max {per_class.max()}",
            f"- images with a selection frequency: {int((~np.isnan(entries.frequency)).sum())}",
            f"- answers released: {answers.answers} from {answers.workers} workers",
            f"- images with reviewed near-duplicate pairs: {duplicate_keys}",
            "",
        ]
    )


def _histograms(entries: Entries, reference: np.ndarray) -> str:
    ours, theirs = frequency_histogram(entries.frequency), frequency_histogram(reference)
    lines = [
        "## Selection frequency\n",
        "Share of valid assignments that selected the image for its class, in ImageNetV2's five bins. "
        "Reference: the reference-dataset images of the same classes with at least 10 annotations.\n",
        "| bin | this set | reference |",
        "|---|---|---|",
    ]
    lines += [f"| {label} | {a} | {b} |" for label, a, b in zip(_BIN_LABELS, ours, theirs, strict=True)]
    return "\n".join(lines) + "\n"


def _dates(dataset: Dataset, entries: Entries, answers: AnswerStats) -> str:
    taken = sorted(str(d)[:10] for d in entries.dates_taken.tolist() if d)
    return "\n".join(
        [
            "## Dates\n",
            f"- sampled: {dataset.created_at.date().isoformat()}",
            f"- photos taken: {f'{taken[0]} .. {taken[-1]}' if taken else 'unknown'}",
            f"- answers collected: {f'{answers.first} .. {answers.last}' if answers.first else 'unknown'}",
            "",
        ]
    )


def _licenses(entries: Entries, licenses: Sequence[str]) -> str:
    keys, counts = np.unique(entries.licenses, return_counts=True)
    lines = [
        "## Licenses\n",
        f"Redistributed as files: images whose license is one of {', '.join(f'`{k}`' for k in sorted(licenses))}; "
        "the others are URL-only entries in the manifest (with owner and original sha256).\n",
        "| license | name | images | released as |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {k} | {license_name(k)} | {n} | {'files' if k in licenses else 'URL only'} |"
        for k, n in zip(keys.tolist(), counts.tolist(), strict=True)
    ]
    return "\n".join(lines) + "\n"


def _files() -> str:
    return "\n".join(
        [
            "## Files\n",
            f"- `{files.IMAGES}/<class>/<image id>.jpeg`: the images (longer side 500 px); `<class>` is the class "
            "index (parse it as an integer; never sort folder names as text)",
            f"- `{files.MANIFEST}`: the published manifest format; `images` adds sha256, size, frequency, "
            "annotations, URL, license and owner per image",
            f"- `{files.CLASSES}`: the class set (row = class index)",
            f"- `{files.ANSWERS}`: raw answers; `worker` is sha256(worker id + a project secret that is not released)",
            f"- `{files.DUPLICATES}`: reviewed near-duplicate pairs touching released images",
            f"- `{files.RENAMES}`: paths changed since the previous revision (revisions only)",
            f"- `{files.CROISSANT}`: Croissant metadata; `{files.CHECKSUMS}`: sha256 of every file",
            f"- `{files.EXPORTS}/`: the tar.gz, WebDataset shards and a Hugging Face `datasets` copy",
            "",
        ]
    )


def _stamp(moment) -> str:
    return "" if moment is None else moment.replace(microsecond=0).isoformat(sep=" ")
