"""Benchmark: ingest 2,000 JPEG photos with heldout.images.prepare vs a plain per-image Pillow loop.

Both sides turn each file into the three renditions ImageNetV2 stored (the original bytes, keyed by
their sha256; the longer side scaled to exactly 500 px; 256 x 256), oriented by EXIF, RGB, JPEG
quality 90, with the same LANCZOS filter.

* Baseline: one process, per image: read the file, sha256, ``Image.open``, full-size decode,
  ``ImageOps.exif_transpose``, ``convert("RGB")``, two ``resize(..., LANCZOS)`` calls from the full
  image, two JPEG encodes. This is how ImageNetV2's downloader (and most scripts) do it.
* Ours: ``prepare(data)`` on ``os.cpu_count()`` worker processes (``ProcessPoolExecutor.map``,
  chunked; pool start-up is timed). It decodes JPEGs at a reduced DCT scale (``Image.draft``) that
  is still at least twice the rendition size, and validates more than the baseline does
  (truncation, PNG checksums, bombs, sizes).

The photos are made from the bundled sample photos (skimage.data, plus scikit-learn's two when it
is installed, which changes the set) by random crops, flips and aspect ratios, then written as
JPEGs (quality 85-95, some progressive, mild noise so camera-size files have camera-like sizes):
half camera-size (3000-4000 px on the long side), half web-size (500-1024 px). To keep generation short, each camera-size
encode is written ten times with a different EXIF block (orientation 1, 3, 6 or 8 and a unique
description), so the files differ in bytes, sha256 and orientation but ten share their pixel
data; every web-size file is its own encode. Generation is not timed.

The baseline is sequential and costs about half a second per camera-size photo, so by default it
is timed on a random sample of 200 files (100 of each size, seeded) and its per-image times per
size are extrapolated to the whole set; ``--baseline-count 2000`` times all of them (about ten
minutes on two cores). Ours always runs on every file. Before printing the ratio, every one of our
renditions is checked to have the size a plain full decode gives (computed from the size and EXIF
orientation each file was written with), and the baseline's renditions on the sample are checked
to have the same sizes as ours.

Run: ``.venv/bin/python benchmarks/ingest.py [--count 2000] [--baseline-count 200] [--workers N]``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
import skimage.data
from PIL import Image, ImageChops, ImageOps

from heldout.images import PreparedImage, prepare

GOAL = 4.0
CAMERA_PX = (3000, 4000)
WEB_PX = (500, 1024)
VARIANTS_PER_CAMERA_ENCODE = 10
VARIANT_ORIENTATIONS = (1, 6, 1, 8, 1, 3, 1, 6, 1, 1)
ASPECTS = (4 / 3, 3 / 2, 16 / 9, 1.0, 3 / 4, 2 / 3)
LANCZOS = Image.Resampling.LANCZOS
NOISE_LEVELS = 9  # +-4 grey levels of sensor-like noise

Size = tuple[int, int]


# --------------------------------------------------------------------------------------------------
# Generating the photos (not timed).


@dataclass(frozen=True)
class PhotoSpec:
    """One JPEG encode and the EXIF variants it is written as (one file per orientation)."""

    kind: str  # "camera" or "web"
    source: int
    aspect: float
    crop_scale: float
    crop_xy: tuple[float, float]
    flip: bool
    long_side_px: int
    quality: int
    progressive: bool
    noise_seed: int
    first_index: int
    orientations: tuple[int, ...]


@functools.cache
def sources() -> tuple[np.ndarray, ...]:
    """The bundled sample photos, as uint8 arrays (the camera man stays grey)."""
    photos = [
        skimage.data.chelsea(),
        skimage.data.coffee(),
        skimage.data.astronaut(),
        skimage.data.rocket(),
        skimage.data.camera(),
        skimage.data.hubble_deep_field(),
        skimage.data.retina(),
        skimage.data.stereo_motorcycle()[0],
    ]
    try:
        from sklearn.datasets import load_sample_images  # optional: two more photos
    except ImportError:
        pass
    else:
        photos.extend(load_sample_images().images)
    return tuple(photos)


def plan(count: int, seed: int) -> list[PhotoSpec]:
    """Specs for ``count`` files: half camera-size (ten EXIF variants per encode), half web-size."""
    rng = np.random.default_rng(seed)
    n_camera = count // 2
    specs, index = [], 0
    for kind, n_files, per_encode in (
        ("camera", n_camera, VARIANTS_PER_CAMERA_ENCODE),
        ("web", count - n_camera, 1),
    ):
        low, high = CAMERA_PX if kind == "camera" else WEB_PX
        for start in range(0, n_files, per_encode):
            n = min(per_encode, n_files - start)
            orientations = VARIANT_ORIENTATIONS[:n] if kind == "camera" else (int(rng.choice([1] * 9 + [6])),)
            specs.append(
                PhotoSpec(
                    kind=kind,
                    source=int(rng.integers(len(sources()))),
                    aspect=float(rng.choice(ASPECTS)),
                    crop_scale=float(rng.uniform(0.6, 1.0)),
                    crop_xy=(float(rng.uniform()), float(rng.uniform())),
                    flip=bool(rng.integers(2)),
                    long_side_px=int(rng.integers(low, high + 1)),
                    quality=int(rng.integers(85, 96)),
                    progressive=bool(rng.uniform() < 0.3),
                    noise_seed=int(rng.integers(2**31)),
                    first_index=index,
                    orientations=orientations,
                )
            )
            index += n
    return specs


def render(spec: PhotoSpec) -> Image.Image:
    """Crop the source to the spec's aspect, flip, scale to its long side, add mild sensor noise."""
    photo = sources()[spec.source]
    height, width = photo.shape[:2]
    crop_w = min(width, round(height * spec.aspect)) * spec.crop_scale
    crop_h = crop_w / spec.aspect
    left = (width - crop_w) * spec.crop_xy[0]
    top = (height - crop_h) * spec.crop_xy[1]
    image = Image.fromarray(photo).crop((round(left), round(top), round(left + crop_w), round(top + crop_h)))
    if spec.flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    scale = spec.long_side_px / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BILINEAR)
    return ImageChops.add(image, noise(image.mode, size, spec.noise_seed), offset=-NOISE_LEVELS // 2)


def noise(mode: str, size: Size, seed: int) -> Image.Image:
    """A tile of uniform noise (0 to NOISE_LEVELS - 1, centred by the caller), repeated to ``size``."""
    bands = len(mode)
    tile = np.random.default_rng(seed).integers(0, NOISE_LEVELS, size=(256, 256, bands), dtype=np.uint8)
    tile_image = Image.fromarray(tile[..., 0] if bands == 1 else tile)
    out = Image.new(mode, size)
    for top in range(0, size[1], 256):
        for left in range(0, size[0], 256):
            out.paste(tile_image, (left, top))
    return out


def with_exif(jpeg: bytes, orientation: int, description: str) -> bytes:
    """``jpeg`` with an EXIF block (APP1) after its JFIF header, as cameras write them."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010E] = description
    payload = exif.tobytes()
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    after_app0 = 4 + int.from_bytes(jpeg[4:6], "big") if jpeg[2:4] == b"\xff\xe0" else 2
    return jpeg[:after_app0] + segment + jpeg[after_app0:]


def write_files(spec: PhotoSpec, folder: str) -> list[tuple[str, str, Size, int]]:
    """Encode one spec and write its variants; returns (path, kind, stored size, orientation) each."""
    image = render(spec)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=spec.quality, progressive=spec.progressive)
    rows = []
    for offset, orientation in enumerate(spec.orientations):
        index = spec.first_index + offset
        path = Path(folder) / f"{index:05d}-{spec.kind}.jpg"
        path.write_bytes(with_exif(out.getvalue(), orientation, f"heldout benchmark photo {index}"))
        rows.append((str(path), spec.kind, image.size, orientation))
    return rows


def generate(count: int, seed: int, folder: str, workers: int) -> list[tuple[str, str, Size, int]]:
    specs = plan(count, seed)
    with ProcessPoolExecutor(workers) as pool:
        files = [row for rows in pool.map(write_files, specs, [folder] * len(specs)) for row in rows]
    return sorted(files)


def plain_500_size(stored: Size, orientation: int) -> Size:
    """What a full decode + exif_transpose + "longer side 500" gives, from how the file was written."""
    width, height = (stored[1], stored[0]) if orientation >= 5 else stored
    longer = max(width, height)
    return (500, round(height * 500 / longer)) if width >= height else (round(width * 500 / longer), 500)


# --------------------------------------------------------------------------------------------------
# The two sides.


def baseline_one(path: str, reducing_gap: float | None = None) -> dict[str, bytes]:
    """The plain way: full decode, exif_transpose, RGB, resize twice from full size, encode twice."""
    data = Path(path).read_bytes()
    renditions = {"original": data, "sha256": hashlib.sha256(data).hexdigest().encode()}
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    width, height = image.size
    longer = max(width, height)
    size_500 = (500, round(height * 500 / longer)) if width >= height else (round(width * 500 / longer), 500)
    for name, size in (("500", size_500), ("256", (256, 256))):
        out = io.BytesIO()
        image.resize(size, LANCZOS, reducing_gap=reducing_gap).save(out, "JPEG", quality=90)
        renditions[name] = out.getvalue()
    return renditions


def ours_one(path: str) -> PreparedImage:
    """What an ingest worker does with one downloaded file."""
    return prepare(Path(path).read_bytes(), name=path)


@dataclass
class BaselineRun:
    """Per-image wall and CPU seconds of the baseline on ``indices``, and its renditions."""

    indices: list[int]
    wall_s: list[float]
    cpu_s: list[float]
    renditions: list[dict[str, bytes]]


def run_baseline(paths: Sequence[str], indices: Sequence[int], reducing_gap: float | None) -> BaselineRun:
    run = BaselineRun(list(indices), [], [], [])
    for index in indices:
        wall, cpu = time.perf_counter(), time.process_time()
        run.renditions.append(baseline_one(paths[index], reducing_gap))
        run.wall_s.append(time.perf_counter() - wall)
        run.cpu_s.append(time.process_time() - cpu)
    return run


def run_ours(paths: Sequence[str], workers: int) -> tuple[float, float, list[PreparedImage]]:
    """Wall seconds, CPU seconds (workers + this process) and results of ours on every file."""
    chunksize = max(1, len(paths) // (workers * 16))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, cpu = time.perf_counter(), time.process_time()
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(ours_one, paths, chunksize=chunksize))
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (
        time.process_time()
        - cpu
        + (after.ru_utime + after.ru_stime)
        - (children.ru_utime + children.ru_stime)
    )
    return wall, cpu, results


def jpeg_size(data: bytes) -> Size:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="photos to ingest (half of each size)")
    parser.add_argument(
        "--baseline-count",
        type=int,
        default=200,
        help="photos the sequential baseline is timed on (half of each size), extrapolated to --count",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes for ours")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--baseline-reducing-gap",
        type=float,
        default=None,
        help="give the baseline's resizes Pillow's reducing_gap too (a stronger baseline; default: off)",
    )
    args = parser.parse_args(argv)
    if args.count < 2:
        sys.exit("--count must be at least 2 (one photo of each size)")

    print("heldout benchmark: ingest (prepare on worker processes) vs a plain per-image Pillow loop")
    print(
        f"python {platform.python_version()}, Pillow {PIL.__version__}, numpy {np.__version__}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {args.workers} workers"
    )
    with tempfile.TemporaryDirectory(prefix="heldout-ingest-") as folder:
        start = time.perf_counter()
        files = generate(args.count, args.seed, folder, args.workers)
        paths = [path for path, *_ in files]
        kinds = np.array([kind for _, kind, *_ in files])
        megabytes = sum(Path(path).stat().st_size for path in paths) / 1e6
        n_camera = int((kinds == "camera").sum())
        print(
            f"generated {len(files)} JPEGs ({n_camera} camera-size {CAMERA_PX[0]}-{CAMERA_PX[1]} px, "
            f"{len(files) - n_camera} web-size {WEB_PX[0]}-{WEB_PX[1]} px; {megabytes:,.0f} MB; "
            f"{len(sources())} source photos) in {time.perf_counter() - start:.1f} s (not timed)"
        )
        # Half the baseline's sample runs before ours and half after, so a change in other load on
        # the machine during the run does not favour either side.
        sample = baseline_sample(kinds, args.baseline_count, args.seed)
        before = run_baseline(paths, sample[0::2], args.baseline_reducing_gap)
        ours_wall, ours_cpu, ours_results = run_ours(paths, args.workers)
        after = run_baseline(paths, sample[1::2], args.baseline_reducing_gap)

    baseline = BaselineRun(
        before.indices + after.indices,
        before.wall_s + after.wall_s,
        before.cpu_s + after.cpu_s,
        before.renditions + after.renditions,
    )
    base_wall, base_cpu = report_baseline(kinds, baseline, args.baseline_reducing_gap)
    print(
        f"ours (prepare, JPEG draft decoding, {args.workers} worker processes): {len(paths)} images in "
        f"{ours_wall:.1f} s, {len(paths) / ours_wall:.1f} images/s; CPU {ours_cpu:.1f} s (workers + parent)"
    )
    print(
        f"CPU-time ratio (baseline / ours; less sensitive to other load on the machine): {base_cpu / ours_cpu:.1f}x"
    )
    check_sizes(files, ours_results, baseline)
    ratio = base_wall / ours_wall
    print(
        f"\ngoal: ratio >= {GOAL:g}x with identical rendition sizes -> {'met' if ratio >= GOAL else 'NOT met'}"
    )
    print(f"ratio = baseline / ours = {ratio:.1f}x")


def baseline_sample(kinds: np.ndarray, baseline_count: int, seed: int) -> list[int]:
    """Indices the baseline is timed on, in a seeded random order: all, or half of each size."""
    rng = np.random.default_rng(seed + 1)
    if baseline_count <= 0 or baseline_count >= len(kinds):
        return rng.permutation(len(kinds)).tolist()
    picked = []
    for kind, n in (("camera", baseline_count // 2), ("web", baseline_count - baseline_count // 2)):
        candidates = np.flatnonzero(kinds == kind)
        picked.extend(rng.choice(candidates, size=min(n, len(candidates)), replace=False).tolist())
    return rng.permutation(picked).tolist()


def check_sizes(
    files: list[tuple[str, str, Size, int]], ours: list[PreparedImage], baseline: BaselineRun
) -> None:
    """Every rendition of ours has the plain size; where the baseline ran, its sizes equal ours."""
    for (path, _, stored, orientation), result in zip(files, ours, strict=True):
        sizes = (jpeg_size(result.renditions["500"]), jpeg_size(result.renditions["256"]))
        expected = (plain_500_size(stored, orientation), (256, 256))
        if sizes != expected:
            sys.exit(f"FAIL {path}: our renditions are {sizes}, a plain full decode gives {expected}")
    for index, renditions in zip(baseline.indices, baseline.renditions, strict=True):
        base = (jpeg_size(renditions["500"]), jpeg_size(renditions["256"]))
        mine = (jpeg_size(ours[index].renditions["500"]), jpeg_size(ours[index].renditions["256"]))
        if base != mine:
            sys.exit(f"FAIL {files[index][0]}: baseline renditions {base}, ours {mine}")
    print(
        f"rendition sizes: all {len(ours)} of ours equal a plain full decode's (500 px longer side, "
        f"256 x 256); the baseline's equal ours on all {len(baseline.indices)} it ran on"
    )


def report_baseline(kinds: np.ndarray, run: BaselineRun, reducing_gap: float | None) -> tuple[float, float]:
    """Print the baseline's per-size times; returns its (measured or extrapolated) wall and CPU seconds."""
    sampled = kinds[run.indices]
    counts = {kind: int((kinds == kind).sum()) for kind in ("camera", "web")}

    def total(seconds: list[float]) -> tuple[float, dict[str, float]]:
        per_image = {kind: float(np.asarray(seconds)[sampled == kind].mean()) for kind in counts}
        return sum(per_image[kind] * counts[kind] for kind in counts), per_image

    wall, per_image = total(run.wall_s)
    cpu, _ = total(run.cpu_s)
    how = "measured" if len(run.indices) == len(kinds) else f"extrapolated from {len(run.indices)} timed"
    gap = "" if reducing_gap is None else f", reducing_gap={reducing_gap:g}"
    print(
        f"baseline (sequential: full decode, exif_transpose, RGB, 2 LANCZOS resizes{gap}, 2 JPEG encodes): "
        f"{per_image['camera']:.3f} s per camera-size image, {per_image['web']:.3f} s per web-size image"
    )
    print(
        f"baseline: {len(kinds)} images in {wall:.1f} s ({how}, half before ours and half after; "
        f"{sum(run.wall_s):.1f} s spent), {len(kinds) / wall:.1f} images/s; CPU {cpu:.1f} s"
    )
    return wall, cpu


if __name__ == "__main__":
    main()
