"""Paired comparisons of published models on ImageNetV2 b-33: exact McNemar and the difference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from heldout.analysis import compare_paired, compare_ranking
from heldout.datasets import load_dataset
from heldout.errors import AnalysisError
from heldout.evaluate import load_predictions, topk_correct

B33 = "imagenetv2-b-33"


@pytest.fixture(scope="module")
def correct(predictions_dir: Path) -> dict[str, np.ndarray]:
    labels = load_dataset(B33).labels
    names = ("resnet50", "resnet152", "dpn98", "dpn131", "densenet121", "vgg16")
    return {
        name: topk_correct(load_predictions(predictions_dir / B33 / f"{name}.npy").ranked, labels, 1)
        for name in names
    }


def test_accuracies_are_the_published_ones(correct):
    result = compare_paired(
        correct["resnet152"], correct["resnet50"], model_a="resnet152", model_b="resnet50"
    )
    assert (round(result.accuracy_a, 2), round(result.accuracy_b, 2)) == (67.02, 63.33)


def test_difference_is_the_discordant_balance(correct):
    result = compare_paired(correct["resnet152"], correct["resnet50"])
    assert result.difference == pytest.approx(100 * (result.only_a - result.only_b) / result.images)


def test_p_value_is_the_exact_two_sided_binomial_on_discordant_images(correct):
    result = compare_paired(correct["resnet152"], correct["resnet50"])
    n = result.only_a + result.only_b
    expected = min(1.0, 2 * binom.cdf(min(result.only_a, result.only_b), n, 0.5))
    assert result.p_value == pytest.approx(expected, rel=1e-9)


def test_four_points_apart_is_significant(correct):
    result = compare_paired(correct["resnet152"], correct["resnet50"])
    assert result.significant and result.difference_low > 0


def test_models_a_tenth_of_a_point_apart_are_not_significantly_different(correct):
    result = compare_paired(correct["dpn131"], correct["dpn98"], model_a="dpn131", model_b="dpn98")
    assert not result.significant
    assert result.difference_low < 0 < result.difference_high
    assert "NOT significant" in result.summary()


def test_interval_contains_the_observed_difference(correct):
    result = compare_paired(correct["densenet121"], correct["vgg16"])
    assert result.difference_low <= result.difference <= result.difference_high


def test_a_model_against_itself_has_no_difference(correct):
    result = compare_paired(correct["resnet50"], correct["resnet50"])
    assert (result.p_value, result.difference, result.significant) == (1.0, 0.0, False)


def test_ranking_compares_each_model_with_the_next_one_down(correct):
    ranking = compare_ranking(correct)
    assert [c.model_a for c in ranking][:2] == ["dpn131", "dpn98"]
    assert all(c.accuracy_a >= c.accuracy_b for c in ranking)
    assert len(ranking) == len(correct) - 1


def test_different_image_counts_are_a_clear_error(correct):
    with pytest.raises(AnalysisError, match="on the same test set"):
        compare_paired(correct["resnet50"], correct["vgg16"][:-1])


def test_non_boolean_correctness_is_a_clear_error(correct):
    with pytest.raises(AnalysisError, match="must be booleans"):
        compare_paired(correct["resnet50"].astype(int) * 2, correct["vgg16"])
