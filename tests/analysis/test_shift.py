"""The distribution-shift check on real images: Fashion-MNIST train vs test, and a built shifted set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heldout.analysis import auc_interval, shift_check
from heldout.collect.idx import read_idx
from heldout.errors import AnalysisError

FASHION = Path("/usr/share/datasets/fashion-mnist")
PER_SET = 1200


@pytest.fixture(scope="module")
def fashion() -> dict[str, np.ndarray]:
    """Pixel features (14x14 means of 28x28 images) and labels of both Fashion-MNIST splits."""
    if not (FASHION / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST not found in {FASHION} (apt-get install dataset-fashion-mnist)")
    out = {}
    for split in ("train", "t10k"):
        images = read_idx(FASHION / f"{split}-images-idx3-ubyte.gz")[:6000].astype(np.float64)
        out[split] = images.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(len(images), -1)
        out[f"{split}-labels"] = read_idx(FASHION / f"{split}-labels-idx1-ubyte.gz")[:6000]
    return out


def test_two_samples_of_one_distribution_show_no_shift(fashion):
    check = shift_check(fashion["train"][:PER_SET], fashion["t10k"][:PER_SET], seed=3)
    assert check.low < 0.5 < check.high
    assert not check.detectable


def test_a_set_built_from_half_the_classes_is_a_detectable_shift(fashion):
    built = fashion["t10k"][fashion["t10k-labels"] < 5][:PER_SET]
    check = shift_check(fashion["train"][:PER_SET], built, seed=3)
    assert check.detectable and check.auc > 0.7


def test_same_seed_gives_the_same_auc(fashion):
    a = shift_check(fashion["train"][:400], fashion["t10k"][:400], seed=11, folds=3)
    b = shift_check(fashion["train"][:400], fashion["t10k"][:400], seed=11, folds=3)
    assert a == b


def test_check_records_sizes_folds_and_seed(fashion):
    check = shift_check(fashion["train"][:300], fashion["t10k"][:200], seed=5, folds=4)
    assert (check.original_images, check.new_images, check.features, check.folds, check.seed) == (
        300,
        200,
        196,
        4,
        5,
    )
    assert len(check.fold_aucs) == 4


def test_auc_of_perfectly_separated_scores_is_one():
    auc, low, high = auc_interval(np.array([2.0, 3.0, 4.0]), np.array([0.0, 1.0, 1.5]))
    assert (auc, high) == (1.0, 1.0)


def test_auc_matches_the_pairwise_definition(fashion):
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(0.3, 1, 80), rng.normal(0, 1, 70)
    pairwise = np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))
    assert auc_interval(pos, neg)[0] == pytest.approx(pairwise)


def test_features_of_different_widths_are_a_clear_error(fashion):
    with pytest.raises(AnalysisError, match="same feature extractor"):
        shift_check(fashion["train"][:50], fashion["t10k"][:50, :10])


def test_too_few_images_for_the_folds_is_a_clear_error(fashion):
    with pytest.raises(AnalysisError, match="5-fold cross-validation needs"):
        shift_check(fashion["train"][:50], fashion["t10k"][:3])


def test_nan_features_are_a_clear_error(fashion):
    bad = fashion["t10k"][:50].copy()
    bad[3, 4] = np.nan
    with pytest.raises(AnalysisError, match="NaN"):
        shift_check(fashion["train"][:50], bad)
