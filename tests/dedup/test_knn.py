"""Exact chunked k-NN: equal to a float64 brute force on real pixels, near copies found first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from heldout.collect.idx import read_idx
from heldout.dedup.features import near_copies
from heldout.dedup.knn import block_sums, knn, merge_topk
from heldout.errors import DedupError

FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")
PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "camera", "coins", "immunohistochemistry", "page")
ASYMMETRIC = ("chelsea", "astronaut", "camera", "coins", "page")
PIXEL_THRESHOLD = 1.2e8  # ImageNetV2's published l2 review threshold


@pytest.fixture(scope="module")
def fashion() -> np.ndarray:
    if not FASHION.is_file():
        pytest.skip(f"Fashion-MNIST not found at {FASHION} (apt-get install dataset-fashion-mnist)")
    return read_idx(FASHION).reshape(10_000, -1)


def _rendition(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB").resize((256, 256), Image.Resampling.LANCZOS)).reshape(-1)


@pytest.fixture(scope="module")
def photo_pool(fashion) -> np.ndarray:
    """256 x 256 renditions of real photos, then 60 Fashion-MNIST images as distractors."""
    photos = [_rendition(Image.fromarray(getattr(skimage.data, name)())) for name in PHOTOS]
    clothes = [_rendition(Image.fromarray(image.reshape(28, 28))) for image in fashion[:60]]
    return np.stack(photos + clothes)


@pytest.fixture(scope="module")
def copies() -> dict[str, np.ndarray]:
    """Per kind of edit, the edited copy of every photo (rows in PHOTOS order)."""
    edited = [
        near_copies(Image.fromarray(getattr(skimage.data, name)()), seed=i) for i, name in enumerate(PHOTOS)
    ]
    return {kind: np.stack([_rendition(e[kind]) for e in edited]) for kind in edited[0]}


def _brute_force(queries: np.ndarray, references: np.ndarray) -> np.ndarray:
    """All squared distances in float64: exact, as every term is an integer below 2**53."""
    x, y = queries.astype(np.float64), references.astype(np.float64)
    return (x * x).sum(1)[:, None] + (y * y).sum(1)[None] - 2 * x @ y.T


def _same_sets_up_to_ties(ours, distances: np.ndarray, k: int) -> bool:
    """Our neighbour set equals the brute force's, except entries tied within 1e-5 at the k-th."""
    exact = np.sort(distances, axis=1)
    kth = exact[:, k - 1 : k]
    sure = distances < kth * (1 - 1e-5)
    chosen = np.zeros_like(sure)
    np.put_along_axis(chosen, ours.indices, True, axis=1)
    boundary = np.abs(distances - kth) <= 1e-5 * kth
    return bool(np.all(chosen[sure]) and np.all(sure[chosen] | boundary[chosen]))


def test_neighbours_equal_a_float64_brute_force_on_fashion_mnist(fashion):
    queries, references = fashion[:150], fashion[150:3150]
    ours = knn(queries, references, k=30, query_chunk=64, reference_chunk=700)
    assert _same_sets_up_to_ties(ours, _brute_force(queries, references), 30)


def test_distances_equal_float64_at_196608_dimensions(photo_pool, copies):
    queries = np.concatenate([copies["noise"], copies["jpeg-q20"]])
    ours = knn(queries, photo_pool, k=3, reference_chunk=25)
    exact = np.take_along_axis(_brute_force(queries, photo_pool), ours.indices, axis=1)
    assert np.allclose(ours.distances, exact, rtol=1e-6, atol=0)


def test_8_bit_distances_are_exact_at_any_width(photo_pool, copies, fashion):
    for queries, references in ((copies["noise"], photo_pool), (fashion[:20], fashion[20:520])):
        ours = knn(queries, references, k=5)
        exact = np.take_along_axis(_brute_force(queries, references), ours.indices, axis=1)
        assert np.array_equal(ours.distances, exact)  # 784 values: a partly filled last segment


def test_float32_alone_would_be_inexact_at_196608_dimensions(photo_pool, copies):
    """The reason for the float64 re-ranking: ‖x‖² + ‖y‖² − 2x·y in float32 misses by far more."""
    x = copies["noise"].astype(np.float32)
    y = photo_pool[: len(x)].astype(np.float32)
    float32 = (x * x).sum(1) + (y * y).sum(1) - 2 * (x * y).sum(1)
    exact = np.einsum("ij,ij->i", x.astype(np.float64) - y, x.astype(np.float64) - y)
    assert np.max(np.abs(float32 - exact) / exact) > 1e-6


def test_chunk_sizes_do_not_change_the_result(fashion):
    queries, references = fashion[:70], fashion[70:1070]
    small = knn(queries, references, k=5, query_chunk=16, reference_chunk=90)
    whole = knn(queries, references, k=5)
    assert np.array_equal(small.indices, whole.indices)
    assert np.array_equal(small.distances, whole.distances)


def test_within_pool_search_skips_the_query_itself(fashion):
    pool = fashion[:400]
    ids = np.arange(400)
    ours = knn(pool, pool, k=3, query_ids=ids, reference_ids=ids)
    assert not np.any(ours.indices == ids[:, None])
    assert np.array_equal(ours.indices, knn(pool, pool, k=4).indices[:, 1:])


def test_an_identical_image_under_another_id_is_still_found(fashion):
    pool = np.concatenate([fashion[:50], fashion[:1]])
    ids = np.array([f"img{i}" for i in range(51)])
    ours = knn(pool, pool, k=1, query_ids=ids, reference_ids=ids)
    assert ours.indices[0, 0] == 50 and ours.distances[0, 0] == 0.0


def test_ties_go_to_the_smaller_reference_index(fashion):
    references = np.repeat(fashion[:3], 4, axis=0)
    ours = knn(fashion[:1], references, k=4)
    assert ours.indices[0].tolist() == [0, 1, 2, 3]


def test_fewer_references_than_k_pad_with_minus_one(fashion):
    ours = knn(fashion[:2], fashion[2:5], k=5)
    assert ours.indices[:, 3:].tolist() == [[-1, -1], [-1, -1]]
    assert np.all(np.isinf(ours.distances[:, 3:]))


def test_rows_of_different_widths_are_refused(fashion):
    with pytest.raises(DedupError, match="columns"):
        knn(fashion[:2], fashion[:5, :100])


def test_block_sums_never_exceed_the_pixel_distance(photo_pool):
    bound = block_sums((256, 256, 3))(photo_pool).astype(np.float64)
    first, second = np.triu_indices(len(photo_pool), k=1)
    lower = ((bound[first] - bound[second]) ** 2).sum(axis=1)
    exact = _brute_force(photo_pool, photo_pool)[first, second]
    assert np.all(lower <= exact) and np.median(lower / exact) > 0.5


@pytest.mark.parametrize("block", [3, 32, 5])
def test_block_sums_refuse_blocks_that_would_round_or_overflow(block):
    with pytest.raises(DedupError, match="do not tile"):
        block_sums((240, 240, 3), block)


def test_filtering_by_block_sums_finds_the_same_neighbours_at_256_px(photo_pool, copies):
    queries = np.concatenate([copies["noise"], copies["cropped"], photo_pool[8:40]])
    plain = knn(queries, photo_pool, k=10, reference_chunk=25)
    filtered = knn(queries, photo_pool, k=10, reference_chunk=25, lower_bound=block_sums((256, 256, 3)))
    assert np.array_equal(filtered.indices, plain.indices)
    assert np.array_equal(filtered.distances, plain.distances)


def test_filtering_within_the_pool_still_skips_the_query_itself(fashion):
    pool = fashion[:600]
    ids = np.arange(600)
    plain = knn(pool, pool, k=30, query_ids=ids, reference_ids=ids)
    filtered = knn(pool, pool, k=30, query_ids=ids, reference_ids=ids, lower_bound=block_sums((28, 28, 1)))
    assert np.array_equal(filtered.indices, plain.indices) and not np.any(filtered.indices == ids[:, None])


def test_a_bound_that_proves_nothing_falls_back_to_the_full_search(fashion):
    queries, references = fashion[:40], fashion[40:1040]
    nothing = knn(queries, references, k=5, lower_bound=lambda rows: np.zeros((len(rows), 1), np.float32))
    plain = knn(queries, references, k=5)
    assert np.array_equal(nothing.indices, plain.indices)
    assert np.array_equal(nothing.distances, plain.distances)


def test_merge_topk_keeps_the_smallest_with_missing_entries_last():
    dist, idx = merge_topk(
        [np.array([[1.0, np.inf]]), np.array([[0.5, 1.0]])], [np.array([[7, -1]]), np.array([[9, 3]])], 3
    )
    assert idx.tolist() == [[9, 3, 7]] and dist.tolist() == [[0.5, 1.0, 1.0]]


@pytest.mark.parametrize("kind", ["jpeg-q20", "resized", "cropped", "noise", "brighter"])
def test_near_copies_have_their_original_as_top_1_pixel_neighbour(photo_pool, copies, kind):
    ours = knn(copies[kind], photo_pool, k=1)
    assert ours.indices[:, 0].tolist() == list(range(len(PHOTOS)))


def test_mirrored_asymmetric_photos_are_beyond_the_pixel_threshold(photo_pool, copies):
    """A mirror image is another picture to pixel L2 (whether it is top-1 depends on the pool)."""
    rows = [PHOTOS.index(name) for name in ASYMMETRIC]
    distances = _brute_force(copies["flipped"][rows], photo_pool[rows])
    assert np.diagonal(distances).min() > PIXEL_THRESHOLD


def test_unrelated_images_stay_above_the_published_pixel_threshold(photo_pool):
    ids = np.arange(len(photo_pool))
    ours = knn(photo_pool, photo_pool, k=1, query_ids=ids, reference_ids=ids)
    assert ours.distances[: len(PHOTOS), 0].min() > PIXEL_THRESHOLD
