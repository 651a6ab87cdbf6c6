"""Review of close neighbours: thresholds, the review queue, decisions, and "sufficiently reviewed".

ImageNetV2's rule (notes §2.d): a candidate's *review threshold* under a metric is the distance of
its first neighbour among the top 30 that is not itself, not yet reviewed and not the same source
photo (``1e100`` when all are reviewed, ``0.0`` when the metric has no results for it). A candidate
is *sufficiently reviewed* when, for every metric with a threshold, that value is strictly greater
than the threshold: nothing closer than the threshold is left unseen. The queue is exactly the
pairs that keep a candidate from that state, so working through it always ends in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import numpy as np
from sqlalchemy import Select, and_, delete, func, select
from sqlalchemy.orm import aliased

from heldout.catalog import Blacklist, Candidate, DuplicatePair, Neighbour, NeighbourReview, Threshold
from heldout.errors import ConfigError
from heldout.lookup import lookup
from heldout.project import Project, utcnow

__all__ = [
    "ALL_REVIEWED",
    "PUBLISHED_THRESHOLDS",
    "REVIEW_DEPTH",
    "QueueItem",
    "record_review",
    "review_queue",
    "review_thresholds",
    "set_threshold",
    "sufficiently_reviewed",
    "thresholds",
]

REVIEW_DEPTH = 30
"""Only the first 30 neighbours of a candidate are ever reviewed (the published review depth)."""

ALL_REVIEWED = 1e100
"""The review threshold of a candidate whose top neighbours are all reviewed."""

PUBLISHED_THRESHOLDS: Mapping[str, float] = {"l2": 1.2e8, "dssim": 0.2205}
"""ImageNetV2's targets for its pixel and SSIM features, which ours equal. Its fc7 target (1.32e4)
belongs to VGG-16 features and does not carry over: CNN thresholds come from calibration."""


@dataclass(frozen=True)
class QueueItem:
    """One candidate's unreviewed close neighbours under one metric, closest first."""

    image_id: str
    metric: str
    threshold: float
    neighbour_ids: tuple[str, ...]
    distances: tuple[float, ...]


def set_threshold(
    project: Project,
    metric: str,
    value: float,
    *,
    origin: str = "configured",
    details: Mapping[str, Any] | None = None,
    run_id: int | None = None,
) -> None:
    """Store (or replace) the review threshold of ``metric``."""
    if not np.isfinite(value) or value < 0:
        raise ConfigError(f"a threshold must be a finite distance >= 0, not {value}", where=metric)
    with project.transaction() as session:
        row = session.get(Threshold, metric) or Threshold(metric=metric)
        row.value, row.origin, row.details, row.run_id = float(value), origin, dict(details or {}), run_id
        session.add(row)


def thresholds(project: Project) -> dict[str, float]:
    """The review threshold of every metric a candidate must be reviewed in: the published l2 and
    dssim ones unless stored otherwise, plus every stored (e.g. calibrated CNN) one."""
    with project.transaction() as session:
        stored = dict(tuple(r) for r in session.execute(select(Threshold.metric, Threshold.value)))
    merged = {**PUBLISHED_THRESHOLDS, **stored}
    return {metric: float(value) for metric, value in sorted(merged.items())}


def _open_query(metric: str) -> Select:
    """(image id, rank, neighbour id, distance) of the first ``REVIEW_DEPTH`` neighbours still open
    for review: not the image itself, not reviewed, not the same source photo."""
    reviewed = aliased(NeighbourReview)
    own, other = aliased(Candidate), aliased(Candidate)
    return (
        select(Neighbour.image_id, Neighbour.rank, Neighbour.neighbour_id, Neighbour.distance)
        .outerjoin(
            reviewed,
            and_(
                reviewed.image_id == Neighbour.image_id,
                reviewed.metric == Neighbour.metric,
                reviewed.neighbour_id == Neighbour.neighbour_id,
            ),
        )
        .outerjoin(own, own.image_id == Neighbour.image_id)
        .outerjoin(other, other.image_id == Neighbour.neighbour_id)
        .where(
            Neighbour.metric == metric,
            Neighbour.rank < REVIEW_DEPTH,
            Neighbour.neighbour_id != Neighbour.image_id,
            reviewed.image_id.is_(None),
            (own.id_search_engine.is_(None))
            | (other.id_search_engine.is_(None))
            | (own.id_search_engine != other.id_search_engine),
        )
    )


def _images_with_results(project: Project, metric: str) -> np.ndarray:
    with project.transaction() as session:
        ids = session.scalars(select(Neighbour.image_id).where(Neighbour.metric == metric).distinct()).all()
    return np.asarray(ids, dtype=str)


def review_thresholds(project: Project, image_ids: Sequence[str], metric: str) -> np.ndarray:
    """Each image's review threshold under ``metric`` (float64, aligned with ``image_ids``).

    The database finds each image's first open rank (one row per image comes back, not 30)."""
    wanted = np.asarray(list(image_ids), dtype=str)
    out = np.zeros(len(wanted), dtype=np.float64)
    out[np.isin(wanted, _images_with_results(project, metric))] = ALL_REVIEWED
    open_rows = _open_query(metric).subquery()
    first = (
        select(open_rows.c.image_id, func.min(open_rows.c.rank).label("rank"))
        .group_by(open_rows.c.image_id)
        .subquery()
    )
    query = select(Neighbour.image_id, Neighbour.distance).join(
        first,
        and_(
            Neighbour.image_id == first.c.image_id, Neighbour.rank == first.c.rank, Neighbour.metric == metric
        ),
    )
    with project.transaction() as session:
        rows = session.execute(query).all()
    if rows:
        ids = np.asarray([r[0] for r in rows], dtype=str)
        found, position = lookup(ids, wanted)
        out[found] = np.asarray([r[1] for r in rows], dtype=np.float64)[position[found]]
    return out


def sufficiently_reviewed(project: Project, image_ids: Sequence[str]) -> np.ndarray:
    """Whether each image has nothing closer than a threshold left to review, in every metric
    with a threshold (bool, aligned with ``image_ids``)."""
    ok = np.ones(len(image_ids), dtype=bool)
    for metric, threshold in thresholds(project).items():
        ok &= review_thresholds(project, image_ids, metric) > threshold
    return ok


def review_queue(
    project: Project,
    *,
    metrics: Sequence[str] | None = None,
    image_ids: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[QueueItem]:
    """The (candidate, metric) groups that need review: open neighbours at or under the threshold,
    closest first, ordered by candidate then metric. Blacklisted candidates need no review."""
    limits = thresholds(project)
    with project.transaction() as session:
        blacklisted = set(session.scalars(select(Blacklist.image_id)))
    wanted = set(image_ids) if image_ids is not None else None
    items = []
    for metric in [m for m in (metrics or limits) if m in limits]:
        query = _open_query(metric).where(Neighbour.distance <= limits[metric])
        with project.transaction() as session:
            rows = session.execute(query.order_by(Neighbour.image_id, Neighbour.rank)).all()
        for image_id, group in groupby(rows, key=lambda row: row[0]):
            if image_id in blacklisted or (wanted is not None and image_id not in wanted):
                continue
            pairs = [(row[2], float(row[3])) for row in group]
            items.append(
                QueueItem(image_id, metric, limits[metric], *(tuple(c) for c in zip(*pairs, strict=True)))
            )
    items.sort(key=lambda item: (item.image_id, item.metric))
    return items[:limit] if limit is not None else items


def record_review(
    project: Project,
    image_id: str,
    metric: str,
    shown_ids: Sequence[str],
    duplicate_ids: Sequence[str],
    reviewer: str,
) -> None:
    """Store one review row: ticked neighbours become duplicate pairs (shown but unticked ones stop
    being pairs, as the published notebook did) and every shown neighbour counts as reviewed under
    ``metric``; all in one transaction, with the reviewer and the time."""
    shown, ticked = list(dict.fromkeys(shown_ids)), list(dict.fromkeys(duplicate_ids))
    if not reviewer.strip():
        raise ConfigError("a review needs a reviewer name", fix="pass --reviewer NAME or sign in")
    if set(ticked) - set(shown):
        raise ConfigError(
            "duplicates must be among the neighbours shown",
            where=image_id,
            fix="tick only neighbours that were on the page",
        )
    now = utcnow()
    with project.transaction() as session:
        session.execute(
            delete(DuplicatePair).where(DuplicatePair.image_id == image_id, DuplicatePair.other_id.in_(shown))
        )
        session.execute(
            delete(NeighbourReview).where(
                NeighbourReview.image_id == image_id,
                NeighbourReview.metric == metric,
                NeighbourReview.neighbour_id.in_(shown),
            )
        )
        session.add_all(
            DuplicatePair(image_id=image_id, other_id=o, origin="review", reviewer=reviewer, created_at=now)
            for o in ticked
        )
        session.add_all(
            NeighbourReview(
                image_id=image_id, metric=metric, neighbour_id=n, reviewer=reviewer, reviewed_at=now
            )
            for n in shown
        )
