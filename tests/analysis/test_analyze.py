"""analyze() on the 67 published models' predictions: one line per ImageNetV2 variant, each model
placed, the worst classes, the ranking, and bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.stats import beta

from heldout.analysis import analyze, load_reference_line, resolve_set
from heldout.datasets import load_dataset
from heldout.errors import AnalysisError

VAL = "imagenet-validation-original"
VARIANTS = {
    "imagenetv2-a-44": "testbed/threshold0.7",
    "imagenetv2-b-33": "testbed/matched-frequency",
    "imagenetv2-c-12": "testbed/top-images",
}


@pytest.mark.parametrize("new_set", sorted(VARIANTS))
def test_fit_over_published_predictions_uses_the_64_models_above_55_percent(published, new_set):
    result = analyze(published[VAL], published[new_set], resamples=100)
    assert len(result.points) == 67
    assert result.fit.n == 64
    assert not {"fv_4k", "fv_16k", "fv_64k"} & {p.model for p in result.points if p.in_fit}


@pytest.mark.parametrize("new_set", sorted(VARIANTS))
def test_published_predictions_follow_the_testbed_line_within_one_point(published, new_set):
    """The notes' acceptance anchor: within about ±1 point of the published line (2x residual SD)."""
    result = analyze(published[VAL], published[new_set], resamples=100)
    grid = np.linspace(60, 83, 24)
    reference = load_reference_line(VARIANTS[new_set])
    assert np.max(np.abs(result.fit.predict(grid) - reference.predict(grid))) < 1.0


def test_b33_fit_slope_is_inside_the_testbed_bootstrap_interval(b33_analysis):
    low, high = b33_analysis.reference.fits["probit"]["slope_ci95"]
    assert low <= b33_analysis.fit.slope <= high


def test_resnet50_is_placed_with_its_published_accuracies(b33_analysis):
    point = b33_analysis.point("resnet50")
    assert (round(point.original, 2), round(point.new, 2), round(point.real, 2)) == (76.13, 63.33, 82.96)
    assert point.gap == pytest.approx(63.33 - 76.13, abs=0.01)


def test_effective_robustness_is_new_minus_the_lines_expectation(b33_analysis):
    point = b33_analysis.point("resnet50")
    assert point.effective_robustness_pp == pytest.approx(
        point.new - float(b33_analysis.fit.predict(point.original))
    )


def test_fitted_models_have_effective_robustness_near_zero(b33_analysis):
    fitted = [p.effective_robustness_pp for p in b33_analysis.points if p.in_fit]
    assert abs(np.mean(fitted)) < 0.1 and np.std(fitted) < 0.6


@pytest.mark.parametrize("confidence", [0.95, 0.995])
def test_point_intervals_are_clopper_pearson_at_the_chosen_confidence(published, confidence):
    result = analyze(published[VAL], published["imagenetv2-b-33"], confidence=confidence, resamples=10)
    k, alpha = 6333, 1 - confidence  # resnet50: 63.33 % of 10,000
    expected = (
        100 * beta.ppf(alpha / 2, k, 10_000 - k + 1),
        100 * beta.ppf(1 - alpha / 2, k + 1, 10_000 - k),
    )
    assert result.point("resnet50").new_interval == pytest.approx(expected, abs=1e-9)


def test_broken_fv_16k_is_shown_flagged_and_not_fitted(b33_analysis):
    point = b33_analysis.point("fv_16k")
    assert not point.in_fit and point.flags


def test_real_fit_uses_the_original_sets_real_labels(b33_analysis):
    assert b33_analysis.real_fit is not None and b33_analysis.real_fit.n == 64
    assert b33_analysis.real_reference.name == "timm/real"


def test_declared_models_are_exactly_the_fit_set(published):
    models = ["resnet50", "resnet152", "vgg16", "densenet121", "alexnet"]
    result = analyze(published[VAL], published["imagenetv2-b-33"], models=models, resamples=10)
    assert sorted(p.model for p in result.points if p.in_fit) == sorted(models)
    assert result.fit.n == 5


def test_worst_classes_come_first_with_hardest_images_of_that_class(b33_analysis):
    drops = b33_analysis.class_drops
    assert len(drops) == 10
    assert [d.drop for d in drops] == sorted(d.drop for d in drops)
    b33 = load_dataset("imagenetv2-b-33")
    worst = drops[0]
    labels = dict(zip(b33.ids.tolist(), b33.labels.tolist(), strict=True))
    assert len(worst.examples) == 5 and {labels[i] for i in worst.examples} == {worst.index}


def test_most_adjacent_pairs_in_the_b33_ranking_are_not_significant(b33_analysis):
    ranking = b33_analysis.ranking
    assert len(ranking) == 66
    assert sum(not c.significant for c in ranking) > len(ranking) / 2


def test_reference_follows_the_new_sets_variant(published):
    result = analyze(published[VAL], published["imagenetv2-c-12"], reference="testbed", resamples=10)
    assert result.reference.name == "testbed/top-images"


def test_fewer_than_three_declared_models_is_a_clear_error(published):
    with pytest.raises(AnalysisError, match="at least 3 models"):
        analyze(published[VAL], published["imagenetv2-b-33"], models=["resnet50", "vgg16"])


def test_unknown_declared_model_is_a_clear_error(published):
    with pytest.raises(AnalysisError, match="not scored on both sets: resnet9000"):
        analyze(published[VAL], published["imagenetv2-b-33"], models=["resnet50", "vgg16", "resnet9000"])


def test_results_of_two_sets_mixed_together_are_a_clear_error(published):
    mixed = published["imagenetv2-b-33"][:3] + published["imagenetv2-c-12"][3:]
    with pytest.raises(AnalysisError, match="mix 2 test sets"):
        analyze(published[VAL], mixed)


def test_an_unscored_model_with_nan_accuracy_is_a_clear_error(published):
    new = list(published["imagenetv2-b-33"])
    broken = dataclasses.replace(new[0].metrics["top1"], percent=float("nan"))
    new[0] = dataclasses.replace(new[0], metrics={**new[0].metrics, "top1": broken})
    models = [new[0].model, "resnet50", "vgg16"]
    with pytest.raises(AnalysisError, match="NaN or outside 0-100"):
        analyze(published[VAL], new, models=models)


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("val", VAL),
        ("b-33", "imagenetv2-b-33"),
        ("imagenetv2-matched-frequency", "imagenetv2-b-33"),
        ("imagenet-validation-original", VAL),
    ],
)
def test_set_names_resolve_to_published_folders(name, folder):
    folders = [VAL, "imagenet-annotatedval20k-0", *VARIANTS]
    assert resolve_set(name, folders) == folder


def test_unknown_set_name_lists_the_available_ones():
    with pytest.raises(AnalysisError, match="no set matches 'z-99'"):
        resolve_set("z-99", [VAL, "imagenetv2-b-33"])
