"""Exact k nearest neighbours under squared L2, in bounded memory, here or on Dask.

ImageNetV2 compared every candidate with every ImageNet image (1.28 M train images) in blocks of
‖x‖² + ‖y‖² − 2x·y and kept a top-k per candidate. :func:`knn` does the same with faiss's
BLAS-backed brute force (``faiss.knn``), one (query block x reference chunk) task at a time, so
memory holds one reference chunk and the running top-k whatever the pool size; the tasks go
through :class:`heldout.parallel.ChunkRunner`, so they run locally or on a Dask cluster alike.

Exactness. In float32, ‖x‖² + ‖y‖² − 2x·y loses digits to cancellation when distances are small
next to the norms, which is exactly the near-duplicate case (196,608 pixel values of up to 255
give norms of ~10¹⁰). Two things keep the answer exact:

* rows are centred on the first references' mean before the float32 product (distances do
  not change under a shift; the norms, and with them the rounding, shrink), and
* faiss shortlists ``k + margin`` neighbours per query, whose distances are then recomputed in
  float64 (exact for integer pixels) and re-ranked.

Neighbour sets then equal a float64 brute force except where distances tie within float32
rounding. Ties are broken by reference index, so results are deterministic.

Filter and refine. Given a ``lower_bound`` map (shorter rows whose squared distances never exceed
the full rows', e.g. :func:`block_sums` of images: by Cauchy-Schwarz a block's summed difference
squared, over the block's size, is at most the sum of its squared differences), the product runs
on the short rows; each query's first ``k + margin`` there get exact distances, and the result is
*proven* when the smallest lower bound left unmeasured exceeds the k-th exact distance: nothing
outside can come closer. Queries it does not prove go round again with four times as many
measured. On 256 px renditions of small images the 4 x 4 bound keeps ~98 % of each distance, so
the product is 16 times smaller and nearly every query is proven.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import faiss
import numpy as np

from heldout.errors import DedupError
from heldout.parallel import ChunkRunner, DaskTarget

__all__ = ["DEFAULT_K", "CachedRows", "Neighbours", "Rows", "block_sums", "knn", "merge_topk"]

DEFAULT_K = 30
"""The review depth ImageNetV2 used: a pair needs review if it is among a candidate's first 30."""
_CHUNK_BYTES = 256 * 2**20
"""float32 bytes of one query block or reference chunk (the unit of peak memory)."""
_REFINE_BYTES = 8 * 2**20
"""float64 bytes of the (query, candidate, dimension) differences recomputed at once: small
enough to stay in cache, where the re-ranking costs a few per cent of the product."""
_MAPPED_BYTES = 2 * 2**30
"""Lower-bound rows kept for the re-ranking (2 GiB: 40,000 rows of 4 x 4 sums of 256 px images)."""
_BOUND_MARGIN = 20
"""Extra neighbours measured exactly after the lower-bound search. On the default demo's pixel
rows 8 extra proved 64 % of the queries, 20 proved 97.5 % and 40 all; 20 measures the fewest
pairs in all (the unproven go round again with four times as many)."""
_SEGMENT = 256
"""8-bit values whose float32 products sum exactly (256 x 255² < 2**24)."""
_CENTER_ROWS = 4096
"""Reference rows whose mean becomes the shift (any shift is exact; a typical one helps most)."""

Progress = Callable[[int, int], None]


class Rows(Protocol):
    """A 2-d array of feature rows: an ndarray, a memmap, or anything sliced like one.

    ``rows[start:stop]`` and ``rows[int_array]`` must return ndarrays; references are only
    ever read a chunk at a time, so they need not fit in memory.
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, key: Any) -> np.ndarray: ...


@dataclass(frozen=True)
class Neighbours:
    """Each query's ``k`` nearest references, nearest first.

    ``indices`` (int64) are reference row numbers, -1 where there are fewer than ``k``
    references; ``distances`` (float64, squared L2) are ``inf`` there.
    """

    indices: np.ndarray
    distances: np.ndarray


def knn(
    queries: Rows,
    references: Rows,
    *,
    k: int = DEFAULT_K,
    query_ids: Sequence[Any] | np.ndarray | None = None,
    reference_ids: Sequence[Any] | np.ndarray | None = None,
    margin: int | None = None,
    query_chunk: int | None = None,
    reference_chunk: int | None = None,
    dask: DaskTarget = None,
    lower_bound: Callable[[np.ndarray], np.ndarray] | None = None,
    progress: Progress | None = None,
) -> Neighbours:
    """The exact ``k`` nearest ``references`` of every row of ``queries`` under squared L2.

    With ``query_ids`` and ``reference_ids`` (one id per row), a reference whose id equals the
    query's is skipped: pass the same pool twice with its ids to search among the pool itself.
    ``margin`` extra neighbours (default ``max(8, k // 4)``) are shortlisted in float32 and re-ranked in
    float64. Chunk sizes default to 256 MiB of float32 rows each; memory holds the queries as
    float32 plus one reference chunk, however many references there are (pass very many queries
    in rounds, as ImageNetV2 did). ``dask`` is a scheduler address or ``distributed.Client``; the
    result is the same as a local run. ``lower_bound`` filters first (see the module notes); the
    result is the same as without it.
    """
    if lower_bound is not None:
        chunks = {"query_chunk": query_chunk, "reference_chunk": reference_chunk, "dask": dask}
        return _filter_and_refine(
            queries, references, lower_bound, k, query_ids, reference_ids, margin, chunks, progress
        )
    n_queries, dim = queries.shape
    n_refs = references.shape[0]
    if references.shape[1] != dim:
        raise DedupError(
            f"queries have {dim} columns, references {references.shape[1]}",
            fix="compute both with the same feature extractor",
        )
    excluding = query_ids is not None and reference_ids is not None
    shortlist = min(n_refs, k + (max(8, k // 4) if margin is None else margin) + int(excluding))
    query_chunk = query_chunk or _rows_per_chunk(dim)
    reference_chunk = reference_chunk or _rows_per_chunk(dim)
    center = _center(references)

    best_d = np.full((n_queries, shortlist), np.inf, dtype=np.float32)
    best_i = np.full((n_queries, shortlist), -1, dtype=np.int64)
    query_starts = range(0, n_queries, query_chunk)
    total = len(query_starts) * len(range(0, n_refs, reference_chunk))
    with ChunkRunner(dask) as runner:
        tasks = _tasks(runner, queries, references, center, shortlist, query_chunk, reference_chunk)
        for done, (start, dist, idx) in enumerate(runner.map(_block_topk, tasks), 1):
            stop = start + len(dist)
            best_d[start:stop], best_i[start:stop] = merge_topk(
                (best_d[start:stop], dist), (best_i[start:stop], idx), shortlist
            )
            if progress:
                progress(done, total)
    return _refine(queries, references, best_i, k, query_ids, reference_ids)


def block_sums(shape: tuple[int, int, int], block: int = 4) -> Callable[[np.ndarray], np.ndarray]:
    """A lower-bound map for flattened (height, width, channels) 8-bit images: each ``block`` x
    ``block`` square's sum over ``block`` (float32, exact), ``block``² times shorter rows whose
    squared distances never exceed the images' own.

    ``block`` is a power of two up to 16: the sums then fit 16 bits and dividing them is exact,
    so rounding can never lift a bound above the true distance."""
    height, width, channels = shape
    if block not in (1, 2, 4, 8, 16) or height % block or width % block:
        raise DedupError(
            f"{block} px blocks do not tile {height} x {width} images exactly",
            fix="use a power of two up to 16 that divides both sides",
        )

    def sums(rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows)
        out = np.empty((len(rows), height * width * channels // block**2), np.float32)
        for start in range(0, len(rows), 64):  # 64 images at a time stay in the CPU's cache
            part = rows[start : start + 64]
            tiles = part.reshape(-1, height // block, block, width // block, block, channels)
            across = tiles[:, :, 0].astype(np.uint16)  # in-place adds of slices: 5x faster than sum()
            for i in range(1, block):
                across += tiles[:, :, i]
            total = across[:, :, :, 0].copy()
            for i in range(1, block):
                total += across[:, :, :, i]
            np.multiply(total.reshape(len(part), -1), np.float32(1 / block), out=out[start : start + 64])
        return out

    return sums


class CachedRows:
    """Rows got from ``read(positions)`` and kept, least recently used out first, up to
    ``cache_bytes``: the re-ranking asks again for rows the product read, and reading them again
    (decoding an image, mapping a row) cost more than the search. Safe for several threads."""

    def __init__(
        self, read: Callable[[np.ndarray], np.ndarray], shape: tuple[int, int], dtype: Any, cache_bytes: int
    ):
        self._read, self.shape, self._dtype = read, shape, np.dtype(dtype)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._room = cache_bytes // max(1, shape[1] * self._dtype.itemsize)
        self._maps: dict[Callable, CachedRows] = {}

    def __getitem__(self, key: Any) -> np.ndarray:
        positions = np.arange(*key.indices(self.shape[0])) if isinstance(key, slice) else np.asarray(key)
        if not len(positions):
            return np.empty((0, self.shape[1]), dtype=self._dtype)
        wanted = positions.tolist()
        unique = list(dict.fromkeys(wanted))
        with self._lock:  # an eviction by one thread must not race another's read
            rows = {p: self._cache[p] for p in unique if p in self._cache}
        missing = [p for p in unique if p not in rows]
        fresh = self._read(np.asarray(missing)) if missing else None
        if missing:
            rows.update(zip(missing, fresh, strict=True))
        with self._lock:
            for p in unique:
                self._cache[p] = rows[p]
                self._cache.move_to_end(p)
            while len(self._cache) > self._room:
                self._cache.popitem(last=False)
        if len(missing) == len(wanted):  # all read just now, in order: no copy
            return fresh
        return np.stack([rows[p] for p in wanted])

    def mapped(self, transform: Callable[[np.ndarray], np.ndarray]) -> CachedRows:
        """These rows through ``transform``, made once per transform and kept with these rows."""
        if transform not in self._maps:
            self._maps[transform] = _map_rows(self, transform)
        return self._maps[transform]


def _mapped(rows: Rows, transform: Callable[[np.ndarray], np.ndarray]) -> Rows:
    """``rows`` through ``transform``, read lazily and kept (the short rows are cheap to hold);
    rows offering ``mapped(transform)`` (the stage's feature rows) share one map between the
    rounds of a search."""
    return rows.mapped(transform) if hasattr(rows, "mapped") else _map_rows(rows, transform)


def _map_rows(rows: Rows, transform: Callable[[np.ndarray], np.ndarray]) -> CachedRows:
    width = transform(np.asarray(rows[0:1])).shape[1]
    return CachedRows(
        lambda at: transform(np.asarray(rows[at])), (rows.shape[0], width), np.float32, _MAPPED_BYTES
    )


def _filter_and_refine(
    queries: Rows,
    references: Rows,
    lower_bound: Callable[[np.ndarray], np.ndarray],
    k: int,
    query_ids: Sequence[Any] | np.ndarray | None,
    reference_ids: Sequence[Any] | np.ndarray | None,
    margin: int | None,
    chunks: dict[str, Any],
    progress: Progress | None,
) -> Neighbours:
    """The lower-bound search and exact distances for its first ``k + margin``; the queries whose
    result the next lower bound does not prove go round again measuring four times as many, until
    every one is proven (at worst, once all references are measured)."""
    n_queries, n_refs = queries.shape[0], references.shape[0]
    indices = np.full((n_queries, k), -1, dtype=np.int64)
    distances = np.full((n_queries, k), np.inf)
    measured = min(n_refs, k + (_BOUND_MARGIN if margin is None else margin))
    short_references = _mapped(references, lower_bound)
    todo = np.arange(n_queries)
    while len(todo):
        rows = np.asarray(queries[todo])
        ids = None if query_ids is None else np.asarray(query_ids)[todo]
        bounds = knn(
            _mapped(rows, lower_bound), short_references, k=measured + 1, query_ids=ids,
            reference_ids=reference_ids, margin=margin, progress=progress, **chunks,
        )  # fmt: skip
        found = _refine(rows, references, bounds.indices[:, :measured], k, ids, reference_ids)
        proven = (bounds.indices[:, measured] < 0) | (
            bounds.distances[:, measured] > found.distances[:, k - 1]
        )
        indices[todo[proven]], distances[todo[proven]] = found.indices[proven], found.distances[proven]
        todo, measured, progress = todo[~proven], min(n_refs, 4 * measured), None
    return Neighbours(indices=indices, distances=distances)


def merge_topk(
    distances: Sequence[np.ndarray], indices: Sequence[np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise the ``k`` smallest distances of several (rows, m) lists, ties by smaller index.

    Missing entries (index -1, distance inf) sort last.
    """
    dist = np.concatenate(distances, axis=1)
    idx = np.concatenate(indices, axis=1)
    by_index = np.argsort(np.where(idx < 0, np.iinfo(np.int64).max, idx), axis=1, kind="stable")
    dist, idx = np.take_along_axis(dist, by_index, 1), np.take_along_axis(idx, by_index, 1)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)


def _rows_per_chunk(dim: int) -> int:
    return max(1, _CHUNK_BYTES // (4 * dim))


def _center(references: Rows) -> np.ndarray:
    """The first reference rows' column means: a shift that shrinks norms and float32 rounding."""
    first = np.asarray(references[0:_CENTER_ROWS])
    return first.mean(axis=0, dtype=np.float64).astype(np.float32)


def _tasks(
    runner: ChunkRunner,
    queries: Rows,
    references: Rows,
    center: np.ndarray,
    shortlist: int,
    query_chunk: int,
    reference_chunk: int,
) -> Iterator[tuple]:
    """(query start, query block, reference chunk, reference start, ...) per pair of chunks.

    References are the outer loop, so each reference chunk is read (and shipped to Dask) once;
    query blocks are centred and made float32 once (they are held, as float32, throughout).
    """
    n_queries, n_refs = queries.shape[0], references.shape[0]
    blocks = [
        (start, runner.share(_centred(queries[start : start + query_chunk], center)))
        for start in range(0, n_queries, query_chunk)
    ]
    shared_center = runner.share(center)
    for ref_start in range(0, n_refs, reference_chunk):
        chunk = runner.share(np.asarray(references[ref_start : ref_start + reference_chunk]))
        for start, block in blocks:
            yield (start, block, chunk, ref_start, shared_center, shortlist)


def _centred(rows: np.ndarray, center: np.ndarray) -> np.ndarray:
    return np.subtract(np.asarray(rows), center, dtype=np.float32)


def _block_topk(task: tuple) -> tuple[int, np.ndarray, np.ndarray]:
    """float32 top-``shortlist`` of one query block among one reference chunk (global indices)."""
    start, block, chunk, ref_start, center, shortlist = task
    dist, idx = faiss.knn(block, _centred(chunk, center), min(shortlist, len(chunk)))
    found = idx >= 0
    idx = np.where(found, idx + ref_start, -1)
    dist = np.where(found, dist, np.float32(np.inf))
    pad = shortlist - dist.shape[1]
    if pad:
        dist = np.pad(dist, ((0, 0), (0, pad)), constant_values=np.inf)
        idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
    return start, dist, idx


def _refine(
    queries: Rows,
    references: Rows,
    shortlist: np.ndarray,
    k: int,
    query_ids: Sequence[Any] | np.ndarray | None,
    reference_ids: Sequence[Any] | np.ndarray | None,
) -> Neighbours:
    """Exact float64 distances for the shortlisted pairs, same-id pairs dropped, best ``k`` kept.

    Blocks of queries run on a thread per CPU (numpy releases the GIL), as the product did.
    """
    n_queries, width = shortlist.shape
    block = max(1, _REFINE_BYTES // (8 * queries.shape[1] * max(width, 1)))
    starts = range(0, n_queries, block)
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        parts = pool.map(
            lambda start: _exact_distances(
                np.asarray(queries[start : start + block]), references, shortlist[start : start + block]
            ),
            starts,
        )
        distances = np.concatenate(list(parts)) if n_queries else np.empty(shortlist.shape)
    if query_ids is not None and reference_ids is not None:
        same = np.asarray(reference_ids)[np.maximum(shortlist, 0)] == np.asarray(query_ids)[:, None]
        distances[same & (shortlist >= 0)] = np.inf
    shortlist = np.where(np.isinf(distances), -1, shortlist)
    dist, idx = merge_topk([distances], [shortlist], k)
    if dist.shape[1] < k:
        dist = np.pad(dist, ((0, 0), (0, k - dist.shape[1])), constant_values=np.inf)
        idx = np.pad(idx, ((0, 0), (0, k - idx.shape[1])), constant_values=-1)
    return Neighbours(indices=idx, distances=dist)


def _exact_distances(block: np.ndarray, references: Rows, idx: np.ndarray) -> np.ndarray:
    """‖x‖² + ‖y‖² − 2x·y in float64 for each query row and its candidates (inf for -1).

    Products of float32 (or 8-bit) values are exact in float64 and the sums lose ~1e-16 of the
    norms, so the cancellation that hurts float32 is harmless here; for integer pixels every term
    is an integer below 2**53 and the result is exact.
    """
    rows = np.asarray(references[np.maximum(idx, 0).ravel()]).reshape(*idx.shape, -1)
    if rows.dtype == np.uint8 and block.dtype == np.uint8:
        norms, cross, squares = _uint8_terms(block, rows)
    else:
        norms = np.einsum("ij,ij->i", block, block, dtype=np.float64)
        cross = np.einsum("ijk,ik->ij", rows, block, dtype=np.float64)
        squares = np.einsum("ijk,ijk->ij", rows, rows, dtype=np.float64)
    distances = np.maximum(norms[:, None] + squares - 2 * cross, 0.0)
    return np.where(idx >= 0, distances, np.inf)


def _uint8_terms(block: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three terms for 8-bit rows, exact and ~3 times faster than float64: float32 products
    summed over segments of 256 values, where every partial sum is an integer below 2**24
    (256 x 255² < 2**24) and so exact in any order (BLAS included); then the segments in float64."""
    n, m, dim = rows.shape
    width = dim + -dim % _SEGMENT  # zeros pad the last segment without changing a sum
    x = np.zeros((n, width), np.float32)
    y = np.zeros((n, m, width), np.float32)
    x[:, :dim], y[..., :dim] = block, rows
    x, y = x.reshape(n, -1, _SEGMENT), y.reshape(n, m, -1, _SEGMENT)
    cross = np.matmul(y.transpose(0, 2, 1, 3), x[..., None])[..., 0]  # (n, segments, m)
    squares = np.einsum("nmsd,nmsd->nms", y, y)
    norms = np.einsum("nsd,nsd->ns", x, x)
    return (
        norms.sum(axis=1, dtype=np.float64),
        cross.sum(axis=1, dtype=np.float64),
        squares.sum(axis=2, dtype=np.float64),
    )
