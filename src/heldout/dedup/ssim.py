"""DSSIM = (1 − SSIM) / 2 with a 35-pixel window, batched, equal to scikit-image's.

ImageNetV2 called ``skimage.measure.compare_ssim(multichannel=True, win_size=35)`` once per pair
of 256 x 256 x 3 renditions. That recomputes both images' local means and variances for every pair
although only the cross term E[xy] depends on the pair. Here each image's moments are computed
once per block of images and every pair costs one box sum of x·y.

The result is scikit-image's ``structural_similarity(a, b, win_size=35, channel_axis=-1,
data_range=255)`` with its defaults (uniform window, sample covariance, K1 = 0.01, K2 = 0.03, the
SSIM map averaged after cropping ``(win - 1) // 2`` pixels from every side). Because of that crop
only windows lying wholly inside the image count, so the box sums need no border handling: they
are differences of integral images, computed in integers and therefore exact.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import repeat

import numpy as np

from heldout.dedup.knn import merge_topk
from heldout.errors import DedupError

__all__ = ["WINDOW_PX", "dssim_pairs", "dssim_topk"]

WINDOW_PX = 35
"""SSIM window side, as ImageNetV2 used."""
_K1, _K2, _DATA_RANGE = 0.01, 0.03, 255.0
_C1, _C2 = (_K1 * _DATA_RANGE) ** 2, (_K2 * _DATA_RANGE) ** 2
_BLOCK_IMAGES = 32
"""Images whose moments are held at once per side (each costs ~2.4 MB at 256 x 256 x 3)."""
_PAIR_BATCH = 16
"""Pairs whose cross term is computed in one vectorised step."""

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class _Block:
    """Images prepared once: pixels as int64 (n, channels, width, height) and, per full window,
    the mean, mean² + C1/2 and sample variance + C2/2 (float64, (n, channels, rows, cols)).

    The transposed layout puts every running sum on the last, contiguous axis, where numpy's
    cumulative sum is fast; the halved constants let a pair's denominators be one addition.
    """

    pixels: np.ndarray
    mean: np.ndarray
    mean_sq: np.ndarray
    var: np.ndarray


def dssim_pairs(
    images_a: np.ndarray,
    images_b: np.ndarray,
    pairs: np.ndarray,
    *,
    window_px: int = WINDOW_PX,
    threads: int | None = None,
    progress: Progress | None = None,
) -> np.ndarray:
    """DSSIM of ``images_a[i]`` and ``images_b[j]`` for each row ``(i, j)`` of ``pairs`` (float64).

    Images are uint8 arrays (n, height, width, channels). Pairs are grouped by block of a, then
    by block of b: an image of a is prepared once, an image of b once per block of a it meets,
    and memory stays bounded however many images there are. Pairs run on ``threads`` threads
    (default: one per CPU); numpy releases
    the GIL, and the values do not depend on the thread count.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    out = np.empty(len(pairs))
    block_a, block_b = pairs[:, 0] // _BLOCK_IMAGES, pairs[:, 1] // _BLOCK_IMAGES
    order = np.lexsort((pairs[:, 1], pairs[:, 0], block_b, block_a))
    tile = block_a[order] * (block_b.max(initial=0) + 1) + block_b[order]
    done = 0
    work = _Workspaces(_check_images(images_a, window_px).shape, window_px)
    with ThreadPoolExecutor(threads or os.cpu_count()) as pool:
        for at in _runs(block_a[order]):
            rows_a, local_a = np.unique(pairs[order[at], 0], return_inverse=True)
            a = _prepare(images_a[rows_a], work, pool)  # once per block of a, whatever it meets
            for within in _runs(tile[at]):
                members = order[at[within]]
                rows_b, local_b = np.unique(pairs[members, 1], return_inverse=True)
                b = _prepare(images_b[rows_b], work, pool)
                out[members] = list(pool.map(work.pair, repeat(a), local_a[within], repeat(b), local_b))
            done += len(at)
            if progress:
                progress(done, len(pairs))
    return out


def _runs(values: np.ndarray) -> list[np.ndarray]:
    """Positions of each run of equal values in a sorted array."""
    return np.split(np.arange(len(values)), np.flatnonzero(np.diff(values)) + 1) if len(values) else []


def dssim_topk(
    queries: np.ndarray,
    references: np.ndarray,
    *,
    k: int = 30,
    window_px: int = WINDOW_PX,
    threads: int | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each query image's ``k`` references of smallest DSSIM: (indices int64, DSSIM float64).

    Meant for a shortlist (a class and its most similar classes), as ImageNetV2 did: every query
    meets every reference. Ties go to the smaller reference index; missing entries (fewer than
    ``k`` references) are -1 / inf.
    """
    n_queries, n_refs = len(queries), len(references)
    best_d = np.full((n_queries, 0), np.inf)
    best_i = np.full((n_queries, 0), -1, dtype=np.int64)
    work = _Workspaces(_check_images(references, window_px).shape, window_px)
    with ThreadPoolExecutor(threads or os.cpu_count()) as pool:
        query_blocks = [
            _prepare(queries[start : start + _BLOCK_IMAGES], work, pool)
            for start in range(0, n_queries, _BLOCK_IMAGES)
        ]
        for ref_start in range(0, n_refs, _BLOCK_IMAGES):
            refs = _prepare(references[ref_start : ref_start + _BLOCK_IMAGES], work, pool)
            pairs = [
                (block, i, j)
                for block in query_blocks
                for i in range(len(block.pixels))
                for j in range(len(refs.pixels))
            ]
            blocks, rows, columns = zip(*pairs, strict=True)
            values = pool.map(work.pair, blocks, rows, repeat(refs), columns)
            dist = np.fromiter(values, dtype=np.float64, count=len(pairs)).reshape(n_queries, -1)
            idx = np.broadcast_to(np.arange(ref_start, ref_start + dist.shape[1]), dist.shape)
            best_d, best_i = merge_topk([best_d, dist], [best_i, idx], k)
            if progress:
                progress(ref_start + dist.shape[1], n_refs)
    pad = k - best_d.shape[1]
    return (
        np.pad(best_i, ((0, 0), (0, pad)), constant_values=-1),
        np.pad(best_d, ((0, 0), (0, pad)), constant_values=np.inf),
    )


class _Workspace:
    """Arrays one thread reuses for every pair: allocating ~1 MB arrays per pair costs page faults
    that, on a busy machine, took longer than the arithmetic."""

    def __init__(self, shape: tuple[int, ...], window_px: int):
        height, width, channels = shape[-3:]
        rows, cols = height - window_px + 1, width - window_px + 1
        self.dtype = _sum_dtype(shape, window_px)
        self.window_px = window_px
        self.product = np.empty((channels, width, height), self.dtype)
        self.sums_h = np.zeros((channels, width, height + 1), self.dtype)
        self.strips = np.empty((channels, width, rows), self.dtype)
        self.strips_t = np.empty((channels, rows, width), self.dtype)
        self.sums_w = np.zeros((channels, rows, width + 1), self.dtype)
        self.box = np.empty((channels, rows, cols), self.dtype)
        self.numerator, self.scratch, self.denominator = (np.empty((channels, rows, cols)) for _ in range(3))

    def box_sums(self, values: np.ndarray) -> np.ndarray:
        """Sums over every full window of (channels, width, height) integers, as (channels, rows, cols).

        Running sums along height, differences, a transpose, the same along width: integer
        arithmetic, so exact. The result is overwritten by the next call.
        """
        w = self.window_px
        np.cumsum(values, axis=-1, dtype=self.dtype, out=self.sums_h[..., 1:])
        np.subtract(self.sums_h[..., w:], self.sums_h[..., :-w], out=self.strips)
        self.strips_t[...] = self.strips.swapaxes(-1, -2)
        np.cumsum(self.strips_t, axis=-1, dtype=self.dtype, out=self.sums_w[..., 1:])
        np.subtract(self.sums_w[..., w:], self.sums_w[..., :-w], out=self.box)
        return self.box


class _Workspaces:
    """One :class:`_Workspace` per thread, made on its first use, for pairs and preparation alike."""

    def __init__(self, shape: tuple[int, ...], window_px: int):
        self.shape, self.window_px = shape, window_px
        self._local = threading.local()

    def get(self) -> _Workspace:
        if not hasattr(self._local, "workspace"):
            self._local.workspace = _Workspace(self.shape, self.window_px)
        return self._local.workspace

    def pair(self, a: _Block, i: int, b: _Block, j: int) -> float:
        return _dssim(a, i, b, j, self.get())


def _dssim(a: _Block, i: int, b: _Block, j: int, work: _Workspace) -> float:
    """SSIM's formula per window with both images' moments looked up; only E[xy] is new here.

    One pair at a time, in place: its arrays (~1.2 MB each) then stay in cache between the steps.
    """
    area = work.window_px**2
    cov_scale = 2 / (area - 1)  # 2 * sample covariance = cov_scale * (Σxy - area * μaμb)
    numerator, means, scratch = work.numerator, work.scratch, work.denominator
    np.multiply(a.pixels[i], b.pixels[j], out=work.product)
    np.multiply(work.box_sums(work.product), cov_scale, out=numerator)
    np.multiply(a.mean[i], b.mean[j], out=means)
    np.multiply(means, cov_scale * area, out=scratch)
    numerator -= scratch
    numerator += _C2
    means *= 2
    means += _C1
    numerator *= means
    np.add(a.mean_sq[i], b.mean_sq[j], out=scratch)
    np.add(a.var[i], b.var[j], out=means)
    scratch *= means
    numerator /= scratch
    return (1.0 - float(numerator.mean())) / 2.0


def _prepare(images: np.ndarray, work: _Workspaces, pool: ThreadPoolExecutor) -> _Block:
    """Pixels in the transposed integer layout and each window's moments, from exact box sums;
    one image per task on the pool (each stays in its thread's cache)."""
    images = _check_images(images, work.window_px)
    dtype = _sum_dtype(images.shape, work.window_px)
    pixels = np.ascontiguousarray(images.transpose(0, 3, 2, 1), dtype=dtype)
    height, width, channels = images.shape[1:]
    windows = (len(images), channels, height - work.window_px + 1, width - work.window_px + 1)
    mean, mean_sq, var = (np.empty(windows) for _ in range(3))
    area = work.window_px**2

    def moments(n: int) -> None:
        space = work.get()
        np.divide(space.box_sums(pixels[n]), area, out=mean[n])
        np.multiply(mean[n], mean[n], out=mean_sq[n])
        np.multiply(pixels[n], pixels[n], out=space.product)
        np.divide(space.box_sums(space.product), area, out=var[n])
        var[n] -= mean_sq[n]
        var[n] *= area / (area - 1)
        mean_sq[n] += _C1 / 2
        var[n] += _C2 / 2

    list(pool.map(moments, range(len(images))))
    return _Block(pixels=pixels, mean=mean, mean_sq=mean_sq, var=var)


def _sum_dtype(shape: tuple[int, ...], window_px: int) -> type[np.signedinteger]:
    """int32 (twice as fast as int64) when no running sum of 255² products can overflow it."""
    largest = max(shape[1], shape[2]) * window_px * 255 * 255
    return np.int32 if largest < np.iinfo(np.int32).max else np.int64


def _check_images(images: np.ndarray, window_px: int) -> np.ndarray:
    if images.dtype != np.uint8 or images.ndim != 4:
        raise DedupError(
            f"expected uint8 images (n, height, width, channels), got {images.dtype} {images.shape}",
            fix="pass decoded 256 x 256 renditions, e.g. pixel features reshaped to (-1, 256, 256, 3)",
        )
    if min(images.shape[1:3]) < window_px or window_px % 2 == 0:
        raise DedupError(
            f"the SSIM window ({window_px} px) must be odd and fit in images of {images.shape[1:3]}",
            fix="use the 256 x 256 renditions and an odd window such as 35",
        )
    return images
