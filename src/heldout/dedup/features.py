"""Feature rows for near-duplicate search: raw pixels and CNN embeddings, cached in the store.

Two extractors, as in ImageNetV2 (whose CNN was VGG-16 fc7; ours is the EfficientNet-Lite0
pooled embedding from :mod:`heldout.models`, which installs offline):

* ``pixels``: the 256 x 256 RGB rendition flattened to 196,608 uint8 values (distance: squared
  L2, as published). Rows stay uint8, a quarter of float32's memory; :func:`heldout.dedup.knn.knn`
  converts one chunk at a time. They are not cached: the rendition already is their cache, and a
  raw copy would be ~8 times its JPEG.
* ``efficientnet-lite0``: 1,280 float32 values from the 500 px rendition (aspect ratio kept), run
  through the model's own preprocessing with onnxruntime.

Cached features live in the project's store under
``features/<extractor>/<version>/<sha256[:2]>/<sha256>.npy``: keyed by the image bytes, not its id,
so identical images share a row, and by the extractor version, so new weights never meet old rows.
Extraction is resumable: rows already in the store are read, only the missing ones are computed,
and each batch is stored as soon as it is computed.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import select

from heldout.catalog import Image
from heldout.dedup.knn import block_sums
from heldout.errors import ConfigError, ObjectMissingError
from heldout.models import create_model
from heldout.project import Project
from heldout.store import ImageStore

__all__ = [
    "FeatureExtractor",
    "create_extractor",
    "extract_features",
    "feature_key",
    "list_extractors",
    "near_copies",
    "register_extractor",
]

Progress = Callable[[int, int], None]
_EXTRACTORS: dict[str, Callable[[], FeatureExtractor]] = {}
_ID_CHUNK = 500
"""Image ids per catalog query (SQLite limits bound parameters)."""
_DECODE_THREADS = 2
"""Threads decoding and preparing renditions, one batch ahead of the extractor."""


class FeatureExtractor(ABC):
    """Turns decoded renditions into feature rows; ``name`` and ``version`` key its cache."""

    name: str
    version: str
    rendition: str
    """The store rendition it reads ("256" or "500")."""
    dim: int
    dtype: np.dtype
    is_cached: bool
    lower_bound: Callable[[np.ndarray], np.ndarray] | None = None
    """Optional map to shorter rows whose squared distances never exceed these rows' (see
    :func:`heldout.dedup.knn.knn`): the search filters with it first."""

    def prepare(self, image: PILImage.Image) -> np.ndarray:
        """One decoded image as the input :meth:`rows` takes; runs on the decoding threads, so
        per-image work (resizing, normalising) overlaps the batch step."""
        return np.asarray(image.convert("RGB"))

    @abstractmethod
    def rows(self, prepared: Sequence[np.ndarray]) -> np.ndarray:
        """(len(prepared), dim) rows of ``dtype`` from prepared images."""

    def extract(self, images: Sequence[PILImage.Image]) -> np.ndarray:
        """(len(images), dim) rows of ``dtype`` from decoded images."""
        return self.rows([self.prepare(image) for image in images])

    def describe(self) -> dict[str, Any]:
        """Provenance for results computed from these features."""
        return {"extractor": self.name, "version": self.version, "rendition": self.rendition, "dim": self.dim}


Factory = Callable[[], FeatureExtractor]


def register_extractor(name: str) -> Callable[[Factory], Factory]:
    """Register a zero-argument factory under ``name``; built-ins register the same way."""

    def register(factory: Factory) -> Factory:
        _EXTRACTORS[name] = factory
        return factory

    return register


def list_extractors() -> list[str]:
    """Names ``create_extractor`` accepts, sorted."""
    return sorted(_EXTRACTORS)


def create_extractor(name: str) -> FeatureExtractor:
    """A new extractor by name (a model extractor loads its model here, once)."""
    if name not in _EXTRACTORS:
        raise ConfigError(f"unknown feature extractor {name!r}", fix=f"use one of {list_extractors()}")
    return _EXTRACTORS[name]()


class PixelExtractor(FeatureExtractor):
    """The 256 x 256 x 3 rendition flattened, uint8 (ImageNetV2's ``l2`` metric)."""

    name, version, rendition = "pixels", "1", "256"
    dim, dtype, is_cached = 256 * 256 * 3, np.dtype(np.uint8), False
    lower_bound = staticmethod(block_sums((256, 256, 3)))

    def rows(self, prepared: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([np.asarray(image, dtype=np.uint8).reshape(-1) for image in prepared])


class ModelExtractor(FeatureExtractor):
    """Pooled embeddings of a :mod:`heldout.models` model; the weights' fingerprint is the version."""

    rendition, dtype, is_cached = "500", np.dtype(np.float32), True

    def __init__(self, model_name: str, dim: int):
        self.name, self.dim = model_name, dim
        self._model = create_model(model_name)
        self.version = f"1-{self._model.fingerprint.split(':')[-1][:16]}"

    def prepare(self, image: PILImage.Image) -> np.ndarray:
        return self._model.preprocessing(image)

    def rows(self, prepared: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(self._model.features(np.stack(prepared)), dtype=np.float32)


@register_extractor("pixels")
def _pixels() -> FeatureExtractor:
    return PixelExtractor()


@register_extractor("efficientnet-lite0")
def _efficientnet_lite0() -> FeatureExtractor:
    return ModelExtractor("efficientnet-lite0", 1280)


def feature_key(extractor: FeatureExtractor, sha256: str) -> str:
    """The store key of one image's cached row."""
    return f"features/{extractor.name}/{extractor.version}/{sha256[:2]}/{sha256}.npy"


def extract_features(
    project: Project,
    image_ids: Sequence[str],
    *,
    extractor: str | FeatureExtractor = "pixels",
    batch_size: int = 64,
    progress: Progress | None = None,
) -> np.ndarray:
    """Feature rows of ``image_ids`` in that order, ``(len(image_ids), extractor.dim)``.

    Cached rows are read from the store; missing ones are computed in batches from the stored
    renditions and stored right away, so an interrupted run resumes where it stopped.
    """
    if isinstance(extractor, str):
        extractor = create_extractor(extractor)
    shas = _sha256s(project, image_ids)
    unique, inverse = np.unique(np.array(shas), return_inverse=True)
    rows = np.empty((len(unique), extractor.dim), dtype=extractor.dtype)
    store = project.store
    cached = [extractor.is_cached and store.exists(feature_key(extractor, sha)) for sha in unique]
    for position in np.flatnonzero(cached):
        rows[position] = np.load(io.BytesIO(store.get(feature_key(extractor, unique[position]))))
    missing = np.flatnonzero(~np.asarray(cached, dtype=bool))
    done = len(unique) - len(missing)
    batches = [missing[start : start + batch_size] for start in range(0, len(missing), batch_size)]
    with ThreadPoolExecutor(_DECODE_THREADS) as pool:
        decoded = [_prepared(pool, store, unique[batch], extractor) for batch in batches[:1]]
        for number, batch in enumerate(batches):
            prepared = list(decoded.pop())
            if number + 1 < len(batches):  # prepare the next batch while this one is extracted
                decoded.append(_prepared(pool, store, unique[batches[number + 1]], extractor))
            rows[batch] = extractor.rows(prepared)
            if extractor.is_cached:
                for position in batch:
                    store.put(feature_key(extractor, unique[position]), _npy_bytes(rows[position]))
            done += len(batch)
            if progress:
                progress(done, len(unique))
    return rows[inverse]


def _prepared(
    pool: ThreadPoolExecutor, store: ImageStore, shas: np.ndarray, extractor: FeatureExtractor
) -> Iterator:
    """The renditions of ``shas``, decoded and prepared on the pool (Pillow and numpy release the
    GIL)."""
    return pool.map(lambda sha: extractor.prepare(_rendition(store, sha, extractor.rendition)), shas.tolist())


def near_copies(image: PILImage.Image, *, seed: int = 0) -> dict[str, PILImage.Image]:
    """Edited copies of ``image`` that a near-duplicate search must (or, flipped, need not) find.

    What reposted photos go through: heavy JPEG re-encoding (quality 20), downscaling to half and
    back, a crop of 2 % per side scaled back, Gaussian noise (σ = 8 grey levels, from ``seed``),
    10 % brighter, and a horizontal flip (a different picture to pixel distances). Each copy has
    the original's size; ``calibrate`` and the tests use them.
    """
    rgb = image.convert("RGB")
    width, height = rgb.size
    pixels = np.asarray(rgb, dtype=np.float64)
    noise = np.random.default_rng(seed).normal(0.0, 8.0, pixels.shape)
    border = (round(width * 0.02), round(height * 0.02))
    return {
        "jpeg-q20": _reencoded(rgb, quality=20),
        "resized": rgb.resize((width // 2, height // 2), PILImage.Resampling.BILINEAR).resize(
            (width, height), PILImage.Resampling.BILINEAR
        ),
        "cropped": rgb.crop((border[0], border[1], width - border[0], height - border[1])).resize(
            (width, height), PILImage.Resampling.BILINEAR
        ),
        "noise": PILImage.fromarray(np.clip(np.rint(pixels + noise), 0, 255).astype(np.uint8)),
        "brighter": PILImage.fromarray(np.clip(np.rint(pixels * 1.1), 0, 255).astype(np.uint8)),
        "flipped": rgb.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT),
    }


def _reencoded(image: PILImage.Image, *, quality: int) -> PILImage.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    with PILImage.open(io.BytesIO(buffer.getvalue())) as opened:
        return opened.convert("RGB")


def _sha256s(project: Project, image_ids: Sequence[str]) -> list[str]:
    """Each image's sha256, in order; an image without stored bytes is an error."""
    found: dict[str, str | None] = {}
    with project.transaction() as session:
        for start in range(0, len(image_ids), _ID_CHUNK):
            chunk = list(image_ids[start : start + _ID_CHUNK])
            query = select(Image.image_id, Image.sha256).where(Image.image_id.in_(chunk))
            found.update((image_id, sha256) for image_id, sha256 in session.execute(query))
    missing = [i for i in image_ids if found.get(i) is None]
    if missing:
        raise ObjectMissingError(
            f"{len(missing)} image(s) have no stored bytes, e.g. {missing[0]!r}",
            fix="collect and ingest them first (`heldout ingest`), or leave them out",
        )
    return [str(found[i]) for i in image_ids]


def _rendition(store: ImageStore, sha256: str, rendition: str) -> PILImage.Image:
    with PILImage.open(io.BytesIO(store.get(store.key(sha256, rendition)))) as opened:
        return opened.convert("RGB")


def _npy_bytes(row: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, row, allow_pickle=False)
    return buffer.getvalue()
