"""Batched DSSIM equals scikit-image's per-pair structural_similarity and finds near copies."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from PIL import Image
from skimage.metrics import structural_similarity

from heldout.dedup.features import near_copies
from heldout.dedup.ssim import WINDOW_PX, dssim_pairs, dssim_topk
from heldout.errors import DedupError

PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "camera", "coins")
DSSIM_THRESHOLD = 0.2205  # ImageNetV2's published dssim review threshold


def _rendition(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB").resize((256, 256), Image.Resampling.LANCZOS))


@pytest.fixture(scope="module")
def originals() -> np.ndarray:
    return np.stack([_rendition(Image.fromarray(getattr(skimage.data, name)())) for name in PHOTOS])


@pytest.fixture(scope="module")
def copies() -> dict[str, np.ndarray]:
    edited = [
        near_copies(Image.fromarray(getattr(skimage.data, name)()), seed=i) for i, name in enumerate(PHOTOS)
    ]
    return {kind: np.stack([_rendition(e[kind]) for e in edited]) for kind in edited[0]}


def _skimage_dssim(a: np.ndarray, b: np.ndarray) -> float:
    ssim = structural_similarity(a, b, win_size=WINDOW_PX, channel_axis=-1, data_range=255)
    return (1 - ssim) / 2


def test_dssim_equals_scikit_image_on_photos_and_their_near_copies(originals, copies):
    edited = np.concatenate([copies["jpeg-q20"][:3], copies["noise"][3:]])
    pairs = np.array([(0, 0), (1, 1), (2, 5), (3, 3), (4, 0), (5, 5)])
    expected = [_skimage_dssim(originals[i], edited[j]) for i, j in pairs]
    assert np.max(np.abs(dssim_pairs(originals, edited, pairs) - expected)) <= 1e-6


def test_dssim_of_an_image_with_itself_is_zero(originals):
    assert np.allclose(dssim_pairs(originals, originals, [(2, 2), (4, 4)]), 0.0, atol=1e-12)


def test_pair_order_does_not_change_the_values(originals, copies):
    pairs = np.array([(5, 1), (0, 0), (3, 2), (0, 4)])
    forward = dssim_pairs(originals, copies["resized"], pairs)
    backward = dssim_pairs(originals, copies["resized"], pairs[::-1])
    assert np.array_equal(forward, backward[::-1])


def test_topk_rows_equal_the_full_pairwise_matrix(originals, copies):
    queries = copies["brighter"][:3]
    idx, dist = dssim_topk(queries, originals, k=2)
    pairs = np.array([(q, r) for q in range(3) for r in range(len(originals))])
    matrix = dssim_pairs(queries, originals, pairs).reshape(3, -1)
    assert np.array_equal(idx, np.argsort(matrix, axis=1, kind="stable")[:, :2])
    assert np.array_equal(dist, np.sort(matrix, axis=1)[:, :2])


@pytest.mark.parametrize("kind", ["jpeg-q20", "resized", "cropped", "noise", "brighter"])
def test_near_copies_have_their_original_as_top_1_dssim_neighbour(originals, copies, kind):
    idx, dist = dssim_topk(copies[kind][:4], originals, k=1)
    assert idx[:, 0].tolist() == [0, 1, 2, 3]


def test_unrelated_photos_stay_above_the_published_dssim_threshold(originals):
    pairs = np.array([(i, j) for i in range(len(originals)) for j in range(len(originals)) if i < j])
    assert dssim_pairs(originals, originals, pairs).min() > DSSIM_THRESHOLD


def test_topk_pads_when_there_are_fewer_references_than_k(originals):
    idx, dist = dssim_topk(originals[:1], originals[1:3], k=3)
    assert idx[0, 2] == -1 and np.isinf(dist[0, 2])


def test_images_smaller_than_the_window_are_refused():
    with pytest.raises(DedupError, match="window"):
        dssim_pairs(np.zeros((1, 20, 20, 3), np.uint8), np.zeros((1, 20, 20, 3), np.uint8), [(0, 0)])
