"""The neighbour stage: each candidate's ``k`` nearest images under one metric, stored in the catalog.

Metrics: ``l2`` (squared L2 over the 256 x 256 RGB pixels, as published), any CNN extractor of
:mod:`heldout.dedup.features` by name (squared L2 between embeddings, e.g. ``efficientnet-lite0``),
and ``dssim`` ((1 - SSIM) / 2, window 35) which, being costly, runs on a shortlist: as ImageNetV2
did, the images of the candidate's class and of its five most similar classes; or, where that is
most of the pool (ten classes: six of them), the candidate's first neighbours under cheaper
metrics already searched (``shortlist=("l2", "efficientnet-lite0")``), re-measured with DSSIM.

Candidates are compared with the reference set (``against="reference"``), with the other
candidates of the pool (``"candidates"``, never with themselves), or both, and keep the ``k``
closest of all. The pool is every stored, non-blacklisted candidate. The stage is resumable: it
takes only candidates that have no neighbours for the metric yet, sorted by class then id, in
rounds of ``round_size``, each round's rows replacing that round's candidates' rows in one
transaction; ``recompute=True`` starts over.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from sqlalchemy import delete, select

from heldout.catalog import Blacklist, Image, Neighbour
from heldout.catalog.bulk import bulk_insert
from heldout.dedup.features import FeatureExtractor, create_extractor, extract_features, list_extractors
from heldout.dedup.knn import DEFAULT_K, CachedRows, knn, merge_topk
from heldout.dedup.ssim import dssim_pairs, dssim_topk
from heldout.errors import ConfigError
from heldout.lookup import lookup
from heldout.parallel import ChunkRunner, DaskTarget
from heldout.project import Project

__all__ = [
    "AGAINST",
    "SHORTLIST_DEPTH",
    "SIMILAR_CLASSES",
    "NeighbourReport",
    "compute_features",
    "extractor_for",
    "find_neighbours",
    "metric_names",
]

AGAINST = ("reference", "candidates", "both")
SIMILAR_CLASSES = 5
"""DSSIM compares a candidate with its own class and this many most similar classes (6 in all)."""
SHORTLIST_DEPTH = 10
"""With a shortlist of metrics, DSSIM re-measures this many first neighbours under each."""
_IN_CHUNK = 5000
"""Ids per ``IN (...)`` clause: databases bound the parameters of one query."""
_QUERY_BLOCK = 32
"""Candidates whose shortlisted pairs are measured in one task (their images are held at once)."""
_PIXEL_METRICS = ("l2", "dssim")
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class NeighbourReport:
    metric: str
    candidates: int
    """Candidates whose neighbours this call computed."""
    remaining: int
    """Candidates still without neighbours for the metric (0 unless ``limit`` stopped early)."""
    rows: int
    run_id: int | None = None
    provenance: dict = field(default_factory=dict)


def metric_names() -> list[str]:
    """``l2``, ``dssim`` and every CNN extractor's name."""
    return [*_PIXEL_METRICS, *(name for name in list_extractors() if name != "pixels")]


@dataclass(frozen=True)
class _Images:
    ids: np.ndarray
    class_keys: np.ndarray


def _stored(project: Project, role: str) -> _Images:
    """Stored images of ``role`` (candidates without blacklisted ones), sorted by class then id."""
    with project.transaction() as session:
        blacklisted = set(session.scalars(select(Blacklist.image_id)))
        rows = session.execute(
            select(Image.image_id, Image.class_key).where(Image.role == role, Image.status == "stored")
        ).all()
    rows = sorted((key or "", image_id) for image_id, key in rows if image_id not in blacklisted)
    return _Images(
        ids=np.asarray([r[1] for r in rows], dtype=str),
        class_keys=np.asarray([r[0] for r in rows], dtype=str),
    )


def _done(project: Project, metric: str) -> np.ndarray:
    with project.transaction() as session:
        ids = session.scalars(select(Neighbour.image_id).where(Neighbour.metric == metric).distinct()).all()
    return np.asarray(ids, dtype=str)


def extractor_for(metric: str) -> str:
    """The feature extractor a metric reads: pixels for l2 and dssim, else the CNN of that name."""
    if metric in _PIXEL_METRICS:
        return "pixels"
    if metric == "pixels" or metric not in list_extractors():
        raise ConfigError(f"unknown metric {metric!r}", fix=f"use one of {', '.join(metric_names())}")
    return metric


def compute_features(
    project: Project, extractor: str = "efficientnet-lite0", *, progress: Progress | None = None
) -> int:
    """Extract (and cache, for CNN extractors) the features of every stored candidate and reference
    image, so later neighbour runs only read them; returns how many images have features."""
    ids = np.concatenate([_stored(project, "candidate").ids, _stored(project, "reference").ids])
    with project.run("dedup-features", {"extractor": extractor, "images": int(len(ids))}) as run:
        extract_features(project, ids.tolist(), extractor=extractor, progress=progress)
        run.counts.update(images=int(len(ids)))
    return int(len(ids))


def find_neighbours(
    project: Project,
    metric: str,
    *,
    k: int = DEFAULT_K,
    against: str = "both",
    dask: DaskTarget = None,
    round_size: int = 1000,
    limit: int | None = None,
    recompute: bool = False,
    shortlist: Sequence[str] = (),
    shortlist_depth: int = SHORTLIST_DEPTH,
    progress: Progress | None = None,
) -> NeighbourReport:
    """Find and store the ``k`` nearest neighbours of every candidate that lacks them for ``metric``.

    ``shortlist`` (DSSIM only) names metrics whose neighbours were found before: each candidate
    is then compared with its first ``shortlist_depth`` neighbours under each of them, not with
    its similar classes.
    """
    if against not in AGAINST:
        raise ConfigError(f"unknown neighbour set {against!r}", fix=f"use one of {', '.join(AGAINST)}")
    if k < 1 or round_size < 1 or shortlist_depth < 1:
        raise ConfigError(
            f"k, the round size and the shortlist depth must be at least 1, not {k}, {round_size} "
            f"and {shortlist_depth}",
            fix="--k 30",
        )
    extractor = create_extractor(extractor_for(metric))
    pool = _stored(project, "candidate")
    searched = _concat(pool, _stored(project, "reference"))
    allowed = {"reference": (len(pool.ids), len(searched.ids)), "candidates": (0, len(pool.ids))}.get(
        against, (0, len(searched.ids))
    )
    missing = ~np.isin(pool.ids, np.asarray([], dtype=str) if recompute else _done(project, metric))
    todo = np.flatnonzero(missing)[:limit]
    parameters = {
        "metric": metric,
        "k": k,
        "against": against,
        **extractor.describe(),
        "round_size": round_size,
    }
    search = _knn_search
    if metric == "dssim":
        search = _dssim_search
        if shortlist:
            _check_shortlist(project, shortlist, pool.ids[todo])
            search = partial(_dssim_among_neighbours, metrics=tuple(shortlist), depth=shortlist_depth)
            parameters.update(shortlist=list(shortlist), shortlist_depth=shortlist_depth)
    elif shortlist:
        raise ConfigError(
            f"a shortlist of neighbours only applies to dssim, not {metric}", fix="drop --shortlist"
        )
    with project.run("dedup-neighbours", parameters) as run:
        rows = 0
        features = _FeatureRows(project, searched.ids, extractor)
        for start in range(0, len(todo), round_size):
            chosen = todo[start : start + round_size]
            indices, distances = search(project, features, searched, chosen, allowed, k, dask)
            rows += _store(project, metric, pool.ids[chosen], searched.ids, indices, distances, run.run_id)
            if progress:
                progress(min(start + round_size, len(todo)), len(todo))
        run.counts.update(candidates=int(len(todo)), rows=rows)
    remaining = int(missing.sum()) - len(todo)
    return NeighbourReport(metric, int(len(todo)), remaining, rows, run.run_id, parameters)


class _FeatureRows(CachedRows):
    """The searched images' feature rows, read when sliced (knn's ``Rows``): the search holds one
    chunk of rows at a time, never the whole reference set, so memory stays bounded by the chunk
    size however many images there are (cached CNN rows are read, pixel rows decoded). Rows read
    once are kept up to ``cache_bytes`` (default: a quarter of the memory, at most 4 GiB)."""

    def __init__(
        self, project: Project, ids: np.ndarray, extractor: FeatureExtractor, cache_bytes: int | None = None
    ):
        def read(positions: np.ndarray) -> np.ndarray:
            return extract_features(project, ids[positions].tolist(), extractor=extractor)

        cache = _row_cache_bytes() if cache_bytes is None else cache_bytes
        super().__init__(read, (len(ids), extractor.dim), extractor.dtype, cache)
        self.extractor = extractor


def _row_cache_bytes() -> int:
    """A quarter of the machine's memory, at most 4 GiB (1 GiB where it cannot be read)."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return 1 << 30
    return min(4 << 30, memory // 4)


class _Slice:
    """Rows ``lo:hi`` of another ``Rows``, still read lazily."""

    def __init__(self, rows, lo: int, hi: int):
        self._rows, self._lo = rows, lo
        self.shape = (hi - lo, rows.shape[1])

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, _ = key.indices(self.shape[0])
            return self._rows[self._lo + start : self._lo + stop]
        return self._rows[np.asarray(key) + self._lo]

    def mapped(self, transform):
        """The same slice of the parent's mapped rows (shared by every round)."""
        return _Slice(self._rows.mapped(transform), self._lo, self._lo + self.shape[0])


def _concat(*parts: _Images) -> _Images:
    return _Images(
        ids=np.concatenate([p.ids for p in parts]), class_keys=np.concatenate([p.class_keys for p in parts])
    )


def _knn_search(project, features, searched, chosen, allowed, k, dask):
    """Exact squared-L2 top-k of the chosen rows among the allowed rows, never themselves."""
    lo, hi = allowed
    found = knn(
        features[chosen],
        _Slice(features, lo, hi),
        k=k,
        query_ids=searched.ids[chosen],
        reference_ids=searched.ids[lo:hi],
        dask=dask,
        lower_bound=features.extractor.lower_bound,
    )
    return np.where(found.indices >= 0, found.indices + lo, -1), found.distances


def _dssim_search(project, features, searched, chosen, allowed, k, dask):
    """DSSIM top-k of the chosen rows among the allowed rows of their class and its most similar
    classes, one task per query class (locally or on Dask)."""
    tasks = _dssim_tasks(project, features, searched, chosen, allowed, k)
    indices = np.full((len(chosen), k), -1, dtype=np.int64)
    distances = np.full((len(chosen), k), np.inf)
    where = {row: i for i, row in enumerate(chosen.tolist())}
    with ChunkRunner(dask) as runner:
        for queries, idx, dist in runner.map(_dssim_task, tasks):
            at = [where[q] for q in queries.tolist()]
            indices[at], distances[at] = idx, dist
    return indices, distances


def _dssim_tasks(project, features, searched, chosen, allowed, k):
    """One task per query class, made as the runner asks for it: only the classes in flight hold
    their images."""
    lo, hi = allowed
    for class_key in np.unique(searched.class_keys[chosen]).tolist():
        in_shortlist = np.isin(searched.class_keys[lo:hi], _shortlist_classes(project, class_key))
        shortlist = lo + np.flatnonzero(in_shortlist)
        queries = chosen[searched.class_keys[chosen] == class_key]
        yield (
            queries,
            shortlist,
            _images(features, queries),
            _images(features, shortlist),
            searched.ids[queries],
            searched.ids[shortlist],
            k,
        )


def _images(features: _FeatureRows, rows: np.ndarray) -> np.ndarray:
    """Pixel rows as (n, 256, 256, 3) images for DSSIM."""
    return features[rows].reshape(len(rows), 256, 256, 3)


def _dssim_task(task):
    queries, shortlist, query_images, shortlist_images, query_ids, shortlist_ids, k = task
    if not len(shortlist):
        return queries, np.full((len(queries), k), -1, dtype=np.int64), np.full((len(queries), k), np.inf)
    idx, dist = dssim_topk(query_images, shortlist_images, k=min(k + 1, max(len(shortlist), 1)))
    same = (idx >= 0) & (shortlist_ids[np.maximum(idx, 0)] == query_ids[:, None])
    dist = np.where(same | (idx < 0), np.inf, dist)
    idx = np.where(np.isinf(dist), -1, shortlist[np.maximum(idx, 0)])
    dist, idx = merge_topk([dist], [idx], k)
    pad = k - dist.shape[1]
    return (
        queries,
        np.pad(idx, ((0, 0), (0, pad)), constant_values=-1),
        np.pad(dist, ((0, 0), (0, pad)), constant_values=np.inf),
    )


def _check_shortlist(project: Project, metrics: Sequence[str], image_ids: np.ndarray) -> None:
    """Every shortlist metric must be a cheaper one whose neighbours these candidates already have."""
    for metric in metrics:
        if metric == "dssim":
            raise ConfigError("dssim cannot shortlist for itself", fix="--shortlist l2,efficientnet-lite0")
        extractor_for(metric)  # a known metric
        lacking = np.setdiff1d(image_ids, _done(project, metric))
        if len(lacking):
            raise ConfigError(
                f"{len(lacking)} candidate(s) have no {metric} neighbours to shortlist from "
                f"(first: {lacking[0]})",
                fix=f"run `heldout dedup neighbours {metric}` first",
            )


def _dssim_among_neighbours(project, features, searched, chosen, allowed, k, dask, *, metrics, depth):
    """DSSIM top-k of the chosen rows among their first ``depth`` neighbours under ``metrics``
    that lie in the allowed rows, one task per block of candidates (locally or on Dask)."""
    queries, rows = _shortlisted_pairs(project, searched, chosen, allowed, metrics, depth)
    distances = np.empty(len(queries))
    with ChunkRunner(dask) as runner:
        tasks = _pair_tasks(features, chosen, queries, rows)
        for at, values in runner.map(_pair_task, tasks):
            distances[at] = values
    order = np.lexsort((rows, distances, queries))  # by candidate, then distance, then row
    queries, rows, distances = queries[order], rows[order], distances[order]
    rank = np.arange(len(queries)) - np.searchsorted(queries, queries)
    keep = rank < k
    indices = np.full((len(chosen), k), -1, dtype=np.int64)
    best = np.full((len(chosen), k), np.inf)
    indices[queries[keep], rank[keep]] = rows[keep]
    best[queries[keep], rank[keep]] = distances[keep]
    return indices, best


def _shortlisted_pairs(project, searched, chosen, allowed, metrics, depth) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (position in ``chosen``, searched row) pairs from the stored neighbours."""
    lo, hi = allowed
    ids = searched.ids[chosen].tolist()
    found: list = []
    with project.transaction() as session:
        for start in range(0, len(ids), _IN_CHUNK):
            found += session.execute(
                select(Neighbour.image_id, Neighbour.neighbour_id).where(
                    Neighbour.metric.in_(metrics),
                    Neighbour.rank < depth,
                    Neighbour.image_id.in_(ids[start : start + _IN_CHUNK]),
                )
            ).all()
    found = np.asarray(found, dtype=str).reshape(-1, 2)
    pairs = np.column_stack(
        [_positions(searched.ids[chosen], found[:, 0]), _positions(searched.ids, found[:, 1])]
    )
    inside = (pairs[:, 1] >= lo) & (pairs[:, 1] < hi) & (pairs[:, 1] != chosen[pairs[:, 0]])
    pairs = np.unique(pairs[inside], axis=0)
    return pairs[:, 0], pairs[:, 1]


def _positions(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row of each of ``wanted`` in ``ids``, -1 where absent (e.g. a blacklisted neighbour)."""
    found, index = lookup(ids, wanted)
    return np.where(found, index, -1)


def _pair_tasks(features, chosen, queries, rows):
    """Per block of candidates: the positions of its pairs, its images, its neighbours' images and
    the pairs in local numbering; made as the runner asks, so one block's images are held."""
    for start in range(0, len(chosen), _QUERY_BLOCK):
        at = np.flatnonzero((queries >= start) & (queries < start + _QUERY_BLOCK))
        if not len(at):
            continue
        needed, local = np.unique(rows[at], return_inverse=True)
        block = chosen[start : start + _QUERY_BLOCK]
        yield (
            at,
            _images(features, block),
            _images(features, needed),
            np.column_stack([queries[at] - start, local]),
        )


def _pair_task(task):
    at, query_images, neighbour_images, pairs = task
    return at, dssim_pairs(query_images, neighbour_images, pairs)


def _shortlist_classes(project: Project, class_key: str) -> list[str]:
    if class_key in project.classes:
        return [class_key, *project.classes.most_similar(class_key, SIMILAR_CLASSES)]
    return [class_key]


def _store(project, metric, image_ids, searched_ids, indices, distances, run_id) -> int:
    """Replace the neighbours of ``image_ids`` under ``metric`` with the found ones, ranked from 0."""
    query, rank = np.nonzero(indices >= 0)
    rows = zip(
        image_ids[query].tolist(),
        [metric] * len(query),
        rank.tolist(),
        searched_ids[indices[query, rank]].tolist(),
        distances[query, rank].astype(float).tolist(),
        [run_id] * len(query),
        strict=True,
    )
    with project.transaction() as session:
        ids = image_ids.tolist()
        for start in range(0, len(ids), _IN_CHUNK):
            session.execute(
                delete(Neighbour).where(
                    Neighbour.metric == metric, Neighbour.image_id.in_(ids[start : start + _IN_CHUNK])
                )
            )
        return bulk_insert(
            session, "neighbour", ("image_id", "metric", "rank", "neighbour_id", "distance", "run_id"), rows
        )
