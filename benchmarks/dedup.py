"""Benchmark: near-duplicate search against its limits, each measured in the same run.

Sections (each runs in its own subprocess, so its peak RSS is its own):

* ``knn``: exact top-30 of 10,000 queries among 100,000 references at d = 3,072 (synthetic
  float32 rows, 1,000 clusters so neighbours are meaningful) against the floor: one float32
  matrix product of the same shapes, ``queries @ chunk.T`` over the same reference chunks
  (numpy's sgemm). Goal: ratio ours / sgemm <= 1.15.
* ``pixels``: 500 real-derived pixel queries among 5,000 references at d = 196,608
  (Fashion-MNIST scaled to 256 x 256 x 3 uint8, queries noisy copies), where ours also converts
  uint8 to float32 and re-ranks exactly; then the same search filtered by 4 x 4 block sums (a
  lower bound), which must give the same neighbours: ratio = unfiltered / filtered.
* ``dssim``: DSSIM on 1,000 pairs (40 near copies of real photos x 25 references) batched against
  ``skimage.metrics.structural_similarity`` per pair; goal >= 10x, max |Δ| <= 1e-6.
* ``cnn``: EfficientNet-Lite0 pooled features of one batch of 32 real-photo crops with
  onnxruntime (``heldout.models``) against eager torch (the wheel's module); ratio = torch / ours.
* ``scale``: 10,000 queries against 1.28 M synthetic references at d = 1,280 (ImageNet train's
  size, CNN feature width), generated chunk by chunk and never held at once: time and peak RSS,
  which stays near one reference chunk (256 MiB) plus the queries.

Ratios print as ``ratio = baseline / ours`` (so > 1 is better) next to absolute times, in wall
clock and in CPU seconds summed over threads (the fairer figure when other jobs share the cores);
one run each (the large products take tens of seconds). The machine is 2 cores; faiss and
numpy use both. Default run: ``scale`` with 4,000 queries (its time is linear in that);
``--full`` runs the 10,000; ``--quick`` shrinks everything for a smoke test (~1 min).

Run: ``.venv/bin/python benchmarks/dedup.py [--quick | --full] [--section knn|pixels|dssim|cnn|scale]``.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SECTIONS = ("knn", "pixels", "dssim", "cnn", "scale")
FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
GOAL_KNN = 1.15
GOAL_DSSIM = 10.0


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    """Wall and CPU seconds (CPU summed over threads: robust when other jobs share the cores)."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu

    def __str__(self) -> str:
        return f"{self.wall:.2f} s wall / {self.cpu:.2f} s CPU"


def timed(fn) -> tuple[Clock, object]:
    with Clock() as clock:
        result = fn()
    return clock, result


def ratios(baseline: Clock, ours: Clock) -> str:
    return f"wall {baseline.wall / ours.wall:.3f}, CPU {baseline.cpu / ours.cpu:.3f}"


def sgemm_clock(queries: np.ndarray, references, chunk: int) -> Clock:
    """One float32 product queries @ references.T, over the same reference chunks (inputs ready)."""
    clock = Clock()
    for start in range(0, references.shape[0], chunk):
        block = np.ascontiguousarray(references[start : start + chunk], dtype=np.float32)
        with clock:
            queries @ block.T
    return clock


def clustered(rng: np.random.Generator, n: int, dim: int, centers: np.ndarray) -> np.ndarray:
    labels = rng.integers(0, len(centers), n)
    return centers[labels] + rng.standard_normal((n, dim), dtype=np.float32)


def section_knn(quick: bool) -> None:
    from heldout.dedup.knn import knn

    n_queries, n_refs, dim = (1_000, 20_000, 3_072) if quick else (10_000, 100_000, 3_072)
    rng = np.random.default_rng(0)
    centers = 3 * rng.standard_normal((1_000, dim), dtype=np.float32)
    queries, references = clustered(rng, n_queries, dim, centers), clustered(rng, n_refs, dim, centers)
    chunk = 256 * 2**20 // (4 * dim)
    base = peak_rss_mib()
    floor = sgemm_clock(queries, references, chunk)
    ours, found = timed(lambda: knn(queries, references, k=30))
    print(f"knn d={dim:,}: {n_queries:,} x {n_refs:,} top-30: ours {ours}, sgemm {floor}")
    print(
        f"  ours / sgemm = {ours.wall / floor.wall:.3f} wall, {ours.cpu / floor.cpu:.3f} CPU (goal <= {GOAL_KNN})"
    )
    print(f"  ratio = sgemm / ours: {ratios(floor, ours)}")
    print(f"  peak RSS {peak_rss_mib():,.0f} MiB with {base:,.0f} MiB of input rows; chunk {chunk:,} rows")
    check = rng.choice(n_queries, 20, replace=False)
    x, y = queries[check].astype(np.float64), references.astype(np.float64)
    exact = np.sort((x * x).sum(1)[:, None] + (y * y).sum(1)[None] - 2 * x @ y.T, axis=1)[:, :30]
    print(
        f"  max relative distance error vs float64 on 20 queries: {np.max(np.abs(found.distances[check] - exact) / exact):.1e}"
    )


def section_knn_pixels(quick: bool) -> None:
    from PIL import Image

    from heldout.collect.idx import read_idx
    from heldout.dedup.knn import block_sums, knn

    n_queries, n_refs = (100, 1_000) if quick else (500, 5_000)
    if not FASHION.is_file():
        print(f"knn d=196,608: skipped, Fashion-MNIST not found at {FASHION}")
        return
    small = read_idx(FASHION)[:n_refs]
    references = np.stack(
        [
            np.asarray(Image.fromarray(x).convert("RGB").resize((256, 256), Image.Resampling.BILINEAR))
            for x in small
        ]
    ).reshape(n_refs, -1)
    rng = np.random.default_rng(1)
    picked = rng.choice(n_refs, n_queries, replace=False)
    noisy = references[picked].astype(np.int16) + rng.integers(-8, 9, (n_queries, references.shape[1]))
    queries = np.clip(noisy, 0, 255).astype(np.uint8)
    chunk = 256 * 2**20 // (4 * references.shape[1])
    floor = sgemm_clock(queries.astype(np.float32), references, chunk)
    ours, found = timed(lambda: knn(queries, references, k=30))
    bounded, filtered = timed(lambda: knn(queries, references, k=30, lower_bound=block_sums((256, 256, 3))))
    hits = np.mean(found.indices[:, 0] == picked)
    same = np.array_equal(found.indices, filtered.indices) and np.array_equal(
        found.distances, filtered.distances
    )
    print(f"knn d=196,608 (uint8 pixels): {n_queries:,} x {n_refs:,} top-30: ours {ours}, sgemm {floor}")
    print(f"  ratio = sgemm / ours: {ratios(floor, ours)}; noisy copy is top-1 for {hits:.0%}")
    print(f"  filtered by 4x4 block sums: {bounded}; same neighbours and distances: {same}")
    print(
        f"  ratio = unfiltered / filtered: {ratios(ours, bounded)}; sgemm / filtered: {ratios(floor, bounded)}"
    )
    print(f"  peak RSS {peak_rss_mib():,.0f} MiB (references {references.nbytes / 2**20:,.0f} MiB as uint8)")


def section_dssim(quick: bool) -> None:
    import skimage.data
    from PIL import Image
    from skimage.metrics import structural_similarity

    from heldout.collect.idx import read_idx
    from heldout.dedup.features import near_copies
    from heldout.dedup.ssim import dssim_pairs

    names = ("chelsea", "coffee", "rocket", "astronaut", "camera", "coins", "immunohistochemistry", "page")
    photos = [Image.fromarray(getattr(skimage.data, n)()).convert("RGB") for n in names]

    def rendition(image):
        return np.asarray(image.resize((256, 256), Image.Resampling.LANCZOS))

    kinds = ("jpeg-q20", "resized", "cropped", "noise", "brighter")
    queries = np.stack([rendition(near_copies(p, seed=i)[k]) for i, p in enumerate(photos) for k in kinds])
    clothes = [Image.fromarray(x).convert("RGB") for x in read_idx(FASHION)[:17]] if FASHION.is_file() else []
    references = np.stack([rendition(p) for p in photos + clothes])
    pairs = np.array([(q, r) for q in range(len(queries)) for r in range(len(references))])
    if quick:
        pairs = pairs[:100]
    ours, values = timed(lambda: dssim_pairs(queries, references, pairs))

    def per_pair():
        return np.array(
            [
                (
                    1
                    - structural_similarity(
                        queries[q], references[r], win_size=35, channel_axis=-1, data_range=255
                    )
                )
                / 2
                for q, r in pairs
            ]
        )

    baseline, expected = timed(per_pair)
    single, _ = timed(lambda: dssim_pairs(queries, references, pairs, threads=1))
    print(
        f"dssim: {len(pairs):,} pairs: ours {ours} ({ours.wall / len(pairs) * 1e3:.2f} ms/pair), "
        f"ours on 1 thread {single}, skimage per pair {baseline} ({baseline.wall / len(pairs) * 1e3:.2f} ms/pair)"
    )
    print(
        f"  ratio = skimage / ours: {ratios(baseline, ours)}; on 1 thread: {ratios(baseline, single)} "
        f"(goal >= {GOAL_DSSIM:.0f}x); max |Δ| = {np.max(np.abs(values - expected)):.1e} (goal <= 1e-6)"
    )


def section_cnn(quick: bool) -> None:
    import skimage.data
    import torch
    from PIL import Image

    from heldout.models import build_torch_module, create_model

    model = create_model("efficientnet-lite0")
    names = ("chelsea", "coffee", "rocket", "astronaut", "camera", "coins", "immunohistochemistry", "page")
    photos = [Image.fromarray(getattr(skimage.data, n)()).convert("RGB") for n in names]
    size = 8 if quick else 32
    batch = np.stack([model.preprocessing(photos[i % len(photos)].rotate(i)) for i in range(size)])
    module = build_torch_module("efficientnet-lite0")

    def eager():
        with torch.no_grad():
            return module.extract_features(torch.from_numpy(batch)).mean(dim=(2, 3)).numpy()

    model.features(batch[:2])
    eager()  # warm-up both
    ours, features = timed(lambda: model.features(batch))
    baseline, expected = timed(eager)
    print(
        f"cnn: EfficientNet-Lite0 pooled features, batch {size}, {torch.get_num_threads()} torch threads: "
        f"onnxruntime {ours}, eager torch {baseline}"
    )
    print(
        f"  ratio = torch / onnxruntime: {ratios(baseline, ours)}; max |Δ| = {np.max(np.abs(features - expected)):.1e}"
    )


class SyntheticRows:
    """Distinct reference rows made on demand, never all in memory: row j = A[j % m] + B[j // m].

    Two small random tables (a few MiB) give every row in O(d), so a chunk or any scattered set of
    rows (the re-ranking's) costs what reading it from disk would, without the disk.
    """

    def __init__(self, n: int, dim: int, *, seed: int, period: int = 4_096):
        rng = np.random.default_rng(seed)
        self.shape, self.period = (n, dim), period
        self._a = rng.standard_normal((period, dim), dtype=np.float32)
        self._b = rng.standard_normal((-(-n // period), dim), dtype=np.float32)

    def __getitem__(self, key) -> np.ndarray:
        rows = np.arange(self.shape[0])[key]
        return self._a[rows % self.period] + self._b[rows // self.period]


def section_scale(quick: bool, full: bool) -> None:
    from heldout.dedup.knn import knn

    n_queries = 500 if quick else 10_000 if full else 4_000
    n_refs, dim = (128_000 if quick else 1_281_167), 1_280
    references = SyntheticRows(n_refs, dim, seed=7)
    queries = np.random.default_rng(8).standard_normal((n_queries, dim), dtype=np.float32)
    chunk = 256 * 2**20 // (4 * dim)
    seconds, found = timed(lambda: knn(queries, references, k=30, reference_chunk=chunk))
    generated = references[0:chunk].nbytes
    print(
        f"scale: {n_queries:,} queries x {n_refs:,} references at d={dim:,}, top-30: {seconds} "
        f"({seconds.wall / n_queries * 1e3:.1f} ms/query; references would be {n_refs * dim * 4 / 2**30:.1f} GiB)"
    )
    print(
        f"  peak RSS {peak_rss_mib():,.0f} MiB; chunk {chunk:,} rows = {generated / 2**20:,.0f} MiB; "
        f"queries {queries.nbytes / 2**20:,.0f} MiB; found {np.mean(found.indices >= 0):.0%} of slots"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, a smoke test")
    size.add_argument("--full", action="store_true", help="scale section with all 10,000 queries")
    parser.add_argument("--section", choices=SECTIONS, help="run one section in this process")
    args = parser.parse_args()
    if args.section:
        run = {
            "knn": lambda: section_knn(args.quick),
            "pixels": lambda: section_knn_pixels(args.quick),
            "dssim": lambda: section_dssim(args.quick),
            "cnn": lambda: section_cnn(args.quick),
            "scale": lambda: section_scale(args.quick, args.full),
        }[args.section]
        run()
        return
    flags = [flag for flag, on in (("--quick", args.quick), ("--full", args.full)) if on]
    began = time.perf_counter()
    for section in SECTIONS:
        subprocess.run([sys.executable, __file__, "--section", section, *flags], check=True)
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
