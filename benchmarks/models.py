"""Benchmark: EfficientNet-Lite0 over 512 real images, heldout's ONNX runner against eager torch.

The images are files on disk, as in an evaluation: the scikit-image photos (plus scikit-learn's
two and matplotlib's Grace Hopper), seeded crops / flips / rotations / rescales / JPEG re-encodes
of them, and Fashion-MNIST test images upsampled to 112 px (when Debian's dataset-fashion-mnist is
installed; more photo variants otherwise).

* ours: ``heldout.evaluate.run_model`` (decode + Pillow preprocessing in a thread one batch
  ahead, onnxruntime on the exported graph, chunked cache writes; a fresh cache, so nothing is
  reused);
* baseline: the same decode and preprocessing, batches of 32 through the eager
  ``efficientnet_lite_pytorch`` module (``torch.inference_mode``, torch's default threads).

Prints absolute figures, ``ratio = baseline / ours`` (goal >= 5x) and the number of images whose
top-1 differs (goal 0). The one-off ONNX export is timed separately. Run:
``.venv/bin/python benchmarks/models.py [--images 512]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from heldout.evaluate import run_model
from heldout.images import decode
from heldout.models import build_torch_module, create_model

FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
PHOTOS = (
    "astronaut", "camera", "chelsea", "coffee", "rocket", "coins", "hubble_deep_field", "retina",
    "immunohistochemistry", "moon", "page", "text", "clock", "brick", "grass", "gravel", "cell", "logo",
)  # fmt: skip
BATCH = 32


def source_photos() -> list[Image.Image]:
    import matplotlib.cbook
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = [Image.fromarray(getattr(skimage.data, name)()) for name in PHOTOS]
    left, right, _ = skimage.data.stereo_motorcycle()
    photos += [Image.fromarray(left), Image.fromarray(right)]
    photos += [Image.fromarray(image) for image in load_sample_images().images]
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        photos.append(Image.open(handle).convert("RGB"))
    return [photo.convert("RGB") for photo in photos]


def variant(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A seeded crop of 40-100 % of each side, maybe mirrored, rotated or rescaled."""
    width, height = photo.size
    w, h = (int(side * rng.uniform(0.4, 1.0)) for side in (width, height))
    left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
    image = photo.crop((left, top, left + w, top + h))
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    if rng.random() < 0.3:
        image = image.rotate(float(rng.uniform(-20, 20)), Image.Resampling.BILINEAR, expand=True)
    scale = rng.uniform(0.5, 1.5)
    return image.resize((max(32, int(image.width * scale)), max(32, int(image.height * scale))))


def write_images(folder: Path, count: int) -> list[str]:
    """``count`` image files: every photo, then fashion images (a quarter), then photo variants."""
    rng = np.random.default_rng(0)
    photos = source_photos()
    images = list(photos)
    if FASHION.is_file():
        from heldout.collect.idx import read_idx

        fashion = read_idx(FASHION)[: count // 4]
        images += [Image.fromarray(pixels).resize((112, 112), Image.Resampling.BICUBIC) for pixels in fashion]
    while len(images) < count:
        images.append(variant(photos[int(rng.integers(len(photos)))], rng))
    paths = []
    for i, image in enumerate(images[:count]):
        path = folder / f"{i:04d}.jpeg"
        image.convert("RGB").save(path, "JPEG", quality=int(rng.integers(40, 95)))
        paths.append(str(path))
    return paths


def eager_torch(paths: list[str], preprocessing) -> np.ndarray:
    import torch

    module = build_torch_module("efficientnet-lite0")
    logits = []
    with torch.inference_mode():
        for start in range(0, len(paths), BATCH):
            batch = preprocessing.batch(
                decode(Path(p).read_bytes(), name=p) for p in paths[start : start + BATCH]
            )
            logits.append(module(torch.from_numpy(batch)).numpy())
    return np.concatenate(logits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        paths = write_images(scratch, args.images)
        print(f"images: {len(paths)} files, {sum(Path(p).stat().st_size for p in paths) / 1e6:.1f} MB")
        start = time.perf_counter()
        model = create_model("efficientnet-lite0", cache=scratch / "cache")
        print(f"one-off ONNX export + load: {time.perf_counter() - start:.1f} s")
        run_model(
            model, paths[:BATCH], [str(i) for i in range(BATCH)], images_digest="warm-up", cache=scratch / "w"
        )

        start = time.perf_counter()
        ours = run_model(
            model, paths, [str(i) for i in range(len(paths))], images_digest="bench", cache=scratch
        )
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        baseline = eager_torch(paths, model.preprocessing)
        baseline_s = time.perf_counter() - start

    n = len(paths)
    differ = int((ours.logits.argmax(1) != baseline.argmax(1)).sum())
    print(
        f"ours (onnxruntime runner): {ours_s:7.2f} s  {1000 * ours_s / n:6.1f} ms/image  {n / ours_s:6.1f} images/s"
    )
    print(f"baseline (eager torch):    {baseline_s:7.2f} s  {1000 * baseline_s / n:6.1f} ms/image")
    print(f"max |logit difference| = {float(np.abs(ours.logits - baseline).max()):.2e}")
    print(f"top-1 differs on {differ} of {n} images (goal 0)")
    print(f"ratio = baseline / ours = {baseline_s / ours_s:.1f}x (goal >= 5x)")


if __name__ == "__main__":
    main()
