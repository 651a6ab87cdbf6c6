"""The demo's data: Fashion-MNIST split into reference, candidate pool and training part, plus
contamination the pipeline must catch.

* **Reference** = the original t10k test split (``--small``: a seeded, class-balanced part of it).
  It goes through ``add_reference`` and ingest like any reference folder.
* **Candidate pool** = a seeded, class-balanced part of the *training* split, written as an IDX
  pair and collected by :class:`~heldout.collect.IdxSource`; the rest of the training split trains
  the classifiers, so no pool image was seen in training.
* **Contamination**, collected from a folder like a user's own files: exact copies of reference
  images (the same PNG bytes), near copies (re-encoded as JPEG, resized, shifted by a few pixels),
  and images of no class at all (scikit-learn's 8 x 8 handwritten digits, upscaled to 28 px)
  filed under random classes, as a web search returns junk.

Everything is drawn from one ``numpy`` generator seeded by ``seed``, and files are written in a
fixed order with fixed encoder settings, so the same seed gives byte-identical files.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from heldout.atomic import write_atomic
from heldout.classes import ClassSet
from heldout.collect.idx import read_idx
from heldout.collect.records import content_id
from heldout.errors import ConfigError

__all__ = [
    "DEBIAN_FOLDER",
    "DEFAULT_SIZES",
    "SMALL_SIZES",
    "Contaminant",
    "DemoData",
    "DemoSizes",
    "FashionMnist",
    "SourceFiles",
    "find_fashion_mnist",
    "load_fashion_mnist",
    "png_bytes",
    "reference_name",
    "split_demo_data",
    "write_sources",
]

DEBIAN_FOLDER = Path("/usr/share/datasets/fashion-mnist")
_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_HOW_TO_GET = (
    "install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or download the "
    "four standard IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; github.com/zalandoresearch/fashion-mnist) "
    "into a folder and pass `--fashion-mnist DIR`"
)
NEAR_KINDS = ("jpeg", "resized", "shifted")
"""Near-copy kinds, in the order they are made: JPEG quality 70, resized to 34 px, shifted 2 px."""


@dataclass(frozen=True)
class DemoSizes:
    """How big the demo is. ``references_per_class=None`` takes the whole test split."""

    candidates_per_class: int
    references_per_class: int | None
    train_limit: int
    exact_copies: int
    near_copies: int
    digits: int
    assignments: int
    cnn_epochs: int
    per_class: int
    """Images per class in each sampled test set."""


SMALL_SIZES = DemoSizes(
    candidates_per_class=100,
    references_per_class=50,
    train_limit=6_000,
    exact_copies=20,
    near_copies=30,
    digits=30,
    assignments=5,
    cnn_epochs=2,
    per_class=30,
)
DEFAULT_SIZES = DemoSizes(
    candidates_per_class=200,
    references_per_class=None,
    train_limit=20_000,
    exact_copies=50,
    near_copies=90,
    digits=60,
    assignments=5,
    cnn_epochs=3,
    per_class=100,
)


@dataclass(frozen=True, eq=False)
class FashionMnist:
    """The four arrays of the standard files: uint8 images (n, 28, 28) and int64 labels (n,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


@dataclass(frozen=True)
class Contaminant:
    """One injected candidate: ``kind`` is exact / jpeg / resized / shifted / digit; ``test_index``
    is the copied test image (-1 for digits); ``class_key`` the class it is filed under."""

    kind: str
    class_key: str
    test_index: int
    data: bytes

    @property
    def is_copy(self) -> bool:
        return self.kind != "digit"


@dataclass(frozen=True, eq=False)
class DemoData:
    """The demo's split: indices into the Fashion-MNIST arrays, and the contamination."""

    source: FashionMnist
    train_index: np.ndarray
    pool_index: np.ndarray
    reference_index: np.ndarray
    contamination: tuple[Contaminant, ...]

    @property
    def train(self) -> tuple[np.ndarray, np.ndarray]:
        return self.source.train_images[self.train_index], self.source.train_labels[self.train_index]

    @property
    def test(self) -> tuple[np.ndarray, np.ndarray]:
        """The whole original test split (the models' "original test set")."""
        return self.source.test_images, self.source.test_labels


@dataclass(frozen=True)
class SourceFiles:
    """Where :func:`write_sources` put the demo's inputs."""

    reference: Path
    pool_images: Path
    pool_labels: Path
    contamination: Path
    manifest: Path


def find_fashion_mnist(folder: str | Path | None = None) -> Path:
    """The folder holding the four IDX files (plain or ``.gz``): ``folder``, else Debian's."""
    root = Path(folder) if folder else DEBIAN_FOLDER
    missing = [name for name in _FILES.values() if _locate(root, name) is None]
    if missing:
        raise ConfigError(
            f"Fashion-MNIST was not found: {', '.join(missing)} missing",
            where=root,
            fix=_HOW_TO_GET,
        )
    return root


def load_fashion_mnist(folder: str | Path | None = None) -> FashionMnist:
    """The four arrays of Fashion-MNIST from :func:`find_fashion_mnist`'s folder."""
    root = find_fashion_mnist(folder)
    arrays = {key: read_idx(_locate(root, name)) for key, name in _FILES.items()}
    return FashionMnist(
        arrays["train_images"],
        arrays["train_labels"].astype(np.int64),
        arrays["test_images"],
        arrays["test_labels"].astype(np.int64),
    )


def split_demo_data(
    source: FashionMnist, sizes: DemoSizes, classes: ClassSet, *, seed: int, digits: np.ndarray
) -> DemoData:
    """Draw the pool, training part, reference part and contamination (``digits``: (n, 8, 8)
    images with values 0..16, scikit-learn's ``load_digits().images``)."""
    rng = np.random.default_rng(seed)
    pool = _per_class(rng, source.train_labels, sizes.candidates_per_class)
    rest = np.setdiff1d(np.arange(len(source.train_labels)), pool)
    train = np.sort(rng.choice(rest, size=min(sizes.train_limit, len(rest)), replace=False))
    if sizes.references_per_class is None:
        reference = np.arange(len(source.test_labels))
    else:
        reference = _per_class(rng, source.test_labels, sizes.references_per_class)
    contamination = _contaminate(rng, source, reference, sizes, classes, digits)
    return DemoData(source, train, pool, reference, contamination)


def write_sources(data: DemoData, classes: ClassSet, folder: str | Path) -> SourceFiles:
    """Write the reference folder (``<class>/fmnist-test-NNNNN.png``), the pool as an IDX pair,
    the contamination folder and ``contamination.json`` (candidate id -> kind and copied image)."""
    root = Path(folder)
    files = SourceFiles(
        reference=root / "reference",
        pool_images=root / "pool-images-idx3-ubyte",
        pool_labels=root / "pool-labels-idx1-ubyte",
        contamination=root / "contamination",
        manifest=root / "contamination.json",
    )
    images, labels = data.source.test_images, data.source.test_labels
    for index in data.reference_index.tolist():
        key = classes.ids[labels[index]]
        write_atomic(files.reference / key / reference_name(index), png_bytes(images[index]))
    pool_images = data.source.train_images[data.pool_index]
    write_atomic(files.pool_images, _idx(pool_images, 0x08))
    write_atomic(files.pool_labels, _idx(data.source.train_labels[data.pool_index].astype(np.uint8), 0x08))
    manifest = {}
    for number, item in enumerate(data.contamination):
        suffix = "jpg" if item.kind == "jpeg" else "png"
        write_atomic(files.contamination / item.class_key / f"{item.kind}-{number:04d}.{suffix}", item.data)
        manifest[content_id(item.data)] = {
            "kind": item.kind,
            "class": item.class_key,
            "copy_of": reference_name(item.test_index) if item.is_copy else None,
        }
    write_atomic(files.manifest, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return files


def reference_name(test_index: int) -> str:
    """A reference image's file name, which is its image id in the catalog."""
    return f"fmnist-test-{test_index:05d}.png"


def png_bytes(pixels: np.ndarray) -> bytes:
    """A grayscale PNG with fixed settings, so the same pixels give the same bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def _locate(root: Path, name: str) -> Path | None:
    for candidate in (root / name, root / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _per_class(rng: np.random.Generator, labels: np.ndarray, per_class: int) -> np.ndarray:
    """``per_class`` indices of every label value, drawn without replacement, sorted."""
    chosen = [
        rng.choice(np.flatnonzero(labels == value), size=per_class, replace=False)
        for value in np.unique(labels)
    ]
    return np.sort(np.concatenate(chosen))


def _contaminate(
    rng: np.random.Generator,
    source: FashionMnist,
    reference: np.ndarray,
    sizes: DemoSizes,
    classes: ClassSet,
    digits: np.ndarray,
) -> tuple[Contaminant, ...]:
    copied = rng.choice(reference, size=sizes.exact_copies + sizes.near_copies, replace=False)
    items = []
    for number, index in enumerate(copied.tolist()):
        pixels = source.test_images[index]
        kind = "exact" if number < sizes.exact_copies else NEAR_KINDS[number % len(NEAR_KINDS)]
        key = str(classes.ids[source.test_labels[index]])
        items.append(Contaminant(kind, key, index, _near_copy(pixels, kind)))
    picked = rng.choice(len(digits), size=sizes.digits, replace=False)
    filed_under = rng.integers(len(classes), size=sizes.digits)
    for digit, class_index in zip(picked.tolist(), filed_under.tolist(), strict=True):
        items.append(
            Contaminant("digit", str(classes.ids[class_index]), -1, png_bytes(_digit(digits[digit])))
        )
    return tuple(items)


def _near_copy(pixels: np.ndarray, kind: str) -> bytes:
    if kind == "jpeg":
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=70)
        return buffer.getvalue()
    if kind == "resized":
        return png_bytes(np.asarray(Image.fromarray(pixels).resize((34, 34), Image.Resampling.BILINEAR)))
    if kind == "shifted":
        shifted = np.zeros_like(pixels)
        shifted[2:, 2:] = pixels[:-2, :-2]
        return png_bytes(shifted)
    return png_bytes(pixels)


def _digit(image: np.ndarray) -> np.ndarray:
    """An 8 x 8 digit (0..16) as a 28 x 28 uint8 image, white on black like Fashion-MNIST."""
    small = Image.fromarray((np.asarray(image) * (255 / 16)).round().astype(np.uint8))
    return np.asarray(small.resize((28, 28), Image.Resampling.BILINEAR))


def _idx(array: np.ndarray, type_code: int) -> bytes:
    """An IDX file (the MNIST format): magic, big-endian dimensions, then the raw bytes."""
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).tobytes()
