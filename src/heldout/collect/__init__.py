"""Collecting candidates: sources (Flickr, folders, URL lists) and adding what they find.

>>> from heldout.project import Project
>>> from heldout.collect import FolderSource, collect
>>> report = collect(Project.open("my-testset"), FolderSource("photos/"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select

from heldout.catalog import Candidate, Image
from heldout.collect.candidates import add_candidates, source_row
from heldout.collect.flickr import FlickrSource, read_search_results, write_search_results
from heldout.collect.folder import FolderSource
from heldout.collect.idx import IdxSource, read_idx
from heldout.collect.records import CandidateRecord, Source, content_id, flickr_id
from heldout.collect.urls import UrlListSource
from heldout.errors import ConfigError
from heldout.project import Project

__all__ = [
    "CandidateRecord",
    "CollectReport",
    "FlickrSource",
    "FolderSource",
    "IdxSource",
    "Source",
    "UrlListSource",
    "add_candidates",
    "collect",
    "content_id",
    "flickr_id",
    "read_idx",
    "read_search_results",
    "write_search_results",
]

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class CollectReport:
    """What one collect run found: new candidates, ones already known, failures (with reasons)."""

    source: str
    added: int
    known: int
    failed: int


def collect(
    project: Project,
    source: Source,
    *,
    classes: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> CollectReport:
    """Run ``source`` for ``classes`` (default: all of the project's) and add what it finds.

    Batches commit one by one, so an interrupted run keeps what it found and a rerun continues.
    """
    class_keys = list(classes) if classes else project.classes.ids.tolist()
    unknown = [k for k in class_keys if k not in project.classes]
    if unknown:
        raise ConfigError(
            f"{len(unknown)} class(es) not in this project: {unknown[:5]}",
            fix="use class ids of the project's class set (`heldout classes show`)",
        )
    parameters = {"kind": source.kind, "uri": source.uri, **source.parameters(), "classes": len(class_keys)}
    with project.run("collect", parameters) as run:
        with project.transaction() as session:
            source_id = source_row(session, source.kind, source.uri, source.parameters())
        added = known = 0
        for batch in source.search(project, source_id, class_keys):
            new, old = add_candidates(project, source_id, batch)
            added, known = added + new, known + old
            if progress:
                progress(added + known, None)
        with project.transaction() as session:
            failed = session.scalar(
                select(func.count())
                .select_from(Image)
                .join(Candidate, Candidate.image_id == Image.image_id)
                .where(Candidate.source_id == source_id, Image.status == "failed")
            )
        run.counts.update(added=added, known=known, failed=failed)
    return CollectReport(source=f"{source.kind}:{source.uri}", added=added, known=known, failed=failed or 0)
