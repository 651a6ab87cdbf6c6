"""Metrics on arrays: Clopper–Pearson, top-k, correct-within, per-class accuracy, ReaL top-k."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest

from heldout.datasets import RealLabels, val_file_name
from heldout.evaluate import Accuracy, clopper_pearson, per_class_accuracy, real_topk_correct, topk_correct
from heldout.evaluate.metrics import correct_within

CP_CASES = [(0, 1), (1, 1), (0, 10), (10, 10), (3, 10), (1, 50_000), (6_333, 10_000), (38_855, 46_837)]


def _real(lists: list[list[int]]) -> RealLabels:
    """A RealLabels in CSR form from plain lists (image i is val image i)."""
    counts = [len(x) for x in lists]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    flat = np.array([v for x in lists for v in x], dtype=np.int64)
    return RealLabels(val_file_name(np.arange(len(lists))), offsets, flat)


@pytest.fixture(scope="session")
def real_json(shared_data: Path) -> list[list[int]]:
    return json.loads((shared_data / "real" / "real.json").read_text())


@pytest.fixture(scope="session")
def real_labels(shared_data: Path) -> RealLabels:
    return RealLabels.load(shared_data / "real" / "real.json")


# --- Clopper–Pearson --------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "n"), CP_CASES)
def test_clopper_pearson_equals_scipy_exact_interval(k, n):
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    low, high = clopper_pearson(k, n)
    assert float(low) == pytest.approx(expected.low, abs=1e-10)
    assert float(high) == pytest.approx(expected.high, abs=1e-10)


@pytest.mark.parametrize(("k", "n"), [(0, 20), (20, 20), (7, 20), (6_333, 10_000)])
def test_clopper_pearson_honours_the_confidence_level(k, n):
    expected = binomtest(k, n).proportion_ci(confidence_level=0.99, method="exact")
    low, high = clopper_pearson(k, n, confidence=0.99)
    assert (float(low), float(high)) == pytest.approx((expected.low, expected.high), abs=1e-10)


def test_clopper_pearson_on_arrays_equals_one_call_per_pair():
    ks = np.array([k for k, _ in CP_CASES])
    ns = np.array([n for _, n in CP_CASES])
    lows, highs = clopper_pearson(ks, ns)
    singles = np.array([[float(v) for v in clopper_pearson(k, n)] for k, n in CP_CASES])
    np.testing.assert_allclose(np.column_stack([lows, highs]), singles, rtol=0, atol=1e-12)


def test_clopper_pearson_of_zero_images_is_nan():
    low, high = clopper_pearson(0, 0)
    assert np.isnan(low) and np.isnan(high)


def test_accuracy_counts_hits_and_reports_the_interval_in_percent():
    correct = np.random.default_rng(0).random(977) < 0.7
    acc = Accuracy.from_correct(correct)
    k, n = int(correct.sum()), correct.size
    expected = binomtest(k, n).proportion_ci(method="exact")
    assert (acc.correct, acc.total) == (k, n)
    assert acc.percent == pytest.approx(100 * k / n)
    assert (acc.low, acc.high) == pytest.approx((100 * expected.low, 100 * expected.high), abs=1e-8)


# --- top-k and correct-within ------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_topk_correct_agrees_with_a_per_row_check(k):
    rng = np.random.default_rng(k)
    ranked = rng.integers(0, 8, size=(500, 5))
    labels = rng.integers(0, 8, size=500)
    expected = [int(labels[i]) in ranked[i, :k].tolist() for i in range(len(labels))]
    assert topk_correct(ranked, labels, k).tolist() == expected


def test_correct_within_agrees_with_a_per_row_check():
    hits = np.random.default_rng(1).random((400, 6)) < 0.15
    expected = [[bool(hits[i, : j + 1].any()) for j in range(6)] for i in range(400)]
    assert correct_within(hits).tolist() == expected


def test_correct_within_column_k_minus_1_is_topk_correctness():
    rng = np.random.default_rng(2)
    ranked = rng.integers(0, 6, size=(300, 5))
    labels = rng.integers(0, 6, size=300)
    within = correct_within(ranked == labels[:, None])
    for k in range(1, 6):
        np.testing.assert_array_equal(within[:, k - 1], topk_correct(ranked, labels, k))


# --- per-class accuracy ------------------------------------------------------------------------


def test_per_class_accuracy_agrees_with_a_per_class_count():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 10, size=1_000)
    correct = rng.random(1_000) < 0.6
    expected = [100 * correct[labels == c].mean() for c in range(10)]
    np.testing.assert_allclose(per_class_accuracy(correct, labels, 10), expected)


def test_per_class_accuracy_is_nan_for_classes_without_images():
    labels = np.array([0, 0, 2, 2, 2])
    correct = np.array([True, False, True, True, False])
    out = per_class_accuracy(correct, labels, 5)
    assert np.isnan(out[[1, 3, 4]]).all()
    np.testing.assert_allclose(out[[0, 2]], [50.0, 200 / 3])


# --- ReaL top-k --------------------------------------------------------------------------------


def test_real_topk_correct_leaves_out_images_with_empty_label_sets():
    real = _real([[1, 2], [], [3], []])
    ranked = np.array([[2, 0], [5, 5], [0, 3], [1, 1]])
    assert real_topk_correct(ranked, real, 1).tolist() == [True, False]
    assert real_topk_correct(ranked, real, 2).tolist() == [True, True]


def test_real_label_lists_are_sets_whatever_their_order():
    ranked = np.array([[4, 0], [9, 8], [7, 7]])
    forward = _real([[4, 5, 6], [8, 1], [0]])
    backward = _real([[6, 5, 4], [1, 8], [0]])
    np.testing.assert_array_equal(forward.contains(ranked), backward.contains(ranked))
    assert forward.contains(ranked).tolist() == [[True, False], [False, True], [False, False]]


def test_real_contains_agrees_with_a_per_row_check_on_the_published_lists(real_labels, real_json):
    ranked = np.random.default_rng(4).integers(0, 1000, size=(50_000, 5))
    ranked[:, 0] = [x[0] if x else 0 for x in real_json]  # make sure many predictions hit
    expected = np.array([[int(p) in set(x) for p in row] for row, x in zip(ranked, real_json, strict=True)])
    np.testing.assert_array_equal(real_labels.contains(ranked), expected)


def test_real_scored_images_are_exactly_the_non_empty_lists(real_labels, real_json):
    ranked = np.zeros((50_000, 1), dtype=np.int64)
    scored = real_topk_correct(ranked, real_labels, 1)
    assert scored.size == sum(1 for x in real_json if x) == 46_837


def test_real_align_matches_images_by_file_name_in_any_order_and_subset(real_labels, real_json):
    positions = np.random.default_rng(5).choice(50_000, size=1_000, replace=False)
    aligned = real_labels.align(val_file_name(positions))
    assert aligned.file_names.tolist() == val_file_name(positions).tolist()
    assert [sorted(aligned.labels_of(i)) for i in range(len(aligned))] == [
        sorted(real_json[p]) for p in positions
    ]


def test_real_align_keeps_empty_sets_empty_on_a_subset(real_labels, real_json):
    empty = [i for i, x in enumerate(real_json) if not x][:50]
    full = [i for i, x in enumerate(real_json) if x][:50]
    positions = np.array(empty + full)[np.random.default_rng(6).permutation(100)]
    aligned = real_labels.align(val_file_name(positions))
    assert (aligned.counts == 0).sum() == 50
    assert set(np.asarray(positions)[aligned.counts == 0].tolist()) == set(empty)


def test_real_topk_on_a_shuffled_subset_equals_the_same_rows_of_the_full_set(real_labels):
    rng = np.random.default_rng(7)
    ranked = rng.integers(0, 1000, size=(50_000, 5))
    positions = rng.choice(50_000, size=1_000, replace=False)
    subset = real_labels.align(val_file_name(positions))
    full_hits = real_labels.contains(ranked)[positions]
    np.testing.assert_array_equal(subset.contains(ranked[positions]), full_hits)
