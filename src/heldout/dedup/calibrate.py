"""Calibrate a metric's review threshold from synthetic near copies of the project's own images.

ImageNetV2's thresholds belong to its features (fc7 of VGG-16); a different CNN has other
distances. A threshold is only useful if the pairs it lets through include the copies that
really happen, so we make them: each sampled image is edited the ways reposted photos are (JPEG
re-encoding, downscaling, a small crop, noise, brightness; :func:`heldout.dedup.features.near_copies`),
taken through the same ingest renditions as any candidate, and measured against its original.
The threshold is the distance under which ``recall`` of those copies fall. The details record
the recall reached per edit and the share of unrelated pairs (two different sampled images) that
the threshold would also send to review: the cost of that recall.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import select

from heldout.catalog import Image
from heldout.config import ImagesConfig
from heldout.dedup.features import FeatureExtractor, create_extractor, near_copies
from heldout.dedup.neighbours import extractor_for
from heldout.dedup.review import set_threshold
from heldout.dedup.ssim import dssim_pairs
from heldout.errors import ConfigError
from heldout.images import prepare
from heldout.project import Project

__all__ = ["CALIBRATION_EDITS", "Calibration", "calibrate"]

CALIBRATION_EDITS = ("jpeg-q20", "resized", "cropped", "noise", "brighter")
"""The edits a near-duplicate search must catch (a flipped photo is a different picture)."""
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Calibration:
    metric: str
    threshold: float
    recall: float
    copy_distances: np.ndarray
    """(images, edits) distance of each copy to its original."""
    unrelated_distances: np.ndarray
    """Distances between different sampled images."""
    details: dict


def calibrate(
    project: Project,
    metric: str,
    *,
    recall: float = 0.95,
    images: int = 50,
    seed: int = 0,
    edits: Sequence[str] = CALIBRATION_EDITS,
    store: bool = True,
    progress: Progress | None = None,
) -> Calibration:
    """Set ``metric``'s threshold so that ``recall`` of synthetic near copies are at or under it."""
    if not 0 < recall <= 1:
        raise ConfigError(f"recall must be in (0, 1], not {recall}", fix="--recall 0.95")
    extractor = create_extractor(extractor_for(metric))
    chosen = _sample(project, images, seed)
    parameters = {
        "metric": metric,
        "recall": recall,
        "images": len(chosen),
        "seed": seed,
        "edits": list(edits),
    }
    with project.run("dedup-calibrate", parameters, seed=seed) as run:
        originals, copies = [], []
        for done, image_id in enumerate(chosen, 1):
            original = project.images.load(image_id, "original")
            originals.append(_rendition(project.images.bytes(image_id, extractor.rendition)))
            edited = near_copies(original, seed=seed + done)
            copies.extend(
                _through_ingest(edited[edit], extractor.rendition, project.config.images) for edit in edits
            )
            if progress:
                progress(done, len(chosen))
        copy_d, unrelated_d = _distances(metric, extractor, originals, copies, len(edits))
        threshold = float(np.quantile(copy_d, recall, method="higher"))
        details = {
            **parameters,
            **extractor.describe(),
            "recall_per_edit": dict(
                zip(edits, (copy_d <= threshold).mean(axis=0).round(4).tolist(), strict=True)
            ),
            "unrelated_under_threshold": float((unrelated_d <= threshold).mean())
            if len(unrelated_d)
            else None,
            "copy_distance_max": float(copy_d.max()),
            "unrelated_distance_min": float(unrelated_d.min()) if len(unrelated_d) else None,
        }
        if store:
            set_threshold(project, metric, threshold, origin="calibrated", details=details, run_id=run.run_id)
        run.counts.update(images=len(chosen), copies=int(copy_d.size))
    return Calibration(metric, threshold, recall, copy_d, unrelated_d, details)


def _sample(project: Project, count: int, seed: int) -> list[str]:
    """``count`` stored images, drawn reproducibly from the sorted ids."""
    with project.transaction() as session:
        ids = sorted(session.scalars(select(Image.image_id).where(Image.status == "stored")))
    if len(ids) < 2:
        raise ConfigError(
            "calibration needs at least two stored images",
            fix="collect and ingest images first (`heldout ingest`)",
        )
    picked = np.random.default_rng(seed).choice(len(ids), size=min(count, len(ids)), replace=False)
    return [ids[i] for i in np.sort(picked)]


def _rendition(data: bytes) -> PILImage.Image:
    with PILImage.open(io.BytesIO(data)) as opened:
        return opened.convert("RGB")


def _through_ingest(image: PILImage.Image, rendition: str, settings: ImagesConfig) -> PILImage.Image:
    """The rendition this project's ingest would store for ``image`` (an upload at JPEG quality 95);
    the copy may be smaller than the project's minimum side (a "resized" edit halves it)."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    prepared = prepare(
        buffer.getvalue(), min_side_px=1, max_pixels=settings.max_pixels, jpeg_quality=settings.jpeg_quality
    )
    return _rendition(prepared.renditions[rendition])


def _distances(
    metric: str, extractor: FeatureExtractor, originals: list, copies: list, n_edits: int
) -> tuple[np.ndarray, np.ndarray]:
    """(images, edits) copy-to-original distances, and the distances of unrelated original pairs."""
    n = len(originals)
    owner = np.repeat(np.arange(n), n_edits)
    first, second = np.triu_indices(n, k=1)
    if metric == "dssim":
        a = np.stack([np.asarray(image) for image in originals])
        b = np.stack([np.asarray(image) for image in copies])
        copy_d = dssim_pairs(b, a, np.column_stack([np.arange(len(copies)), owner]))
        unrelated = dssim_pairs(a, a, np.column_stack([first, second]))
    else:
        x = extractor.extract(originals).astype(np.float64)
        y = extractor.extract(copies).astype(np.float64)
        copy_d = ((y - x[owner]) ** 2).sum(axis=1)
        unrelated = ((x[first] - x[second]) ** 2).sum(axis=1)
    return copy_d.reshape(n, n_edits), unrelated
