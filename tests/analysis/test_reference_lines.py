"""Reference lines shipped as package data: the published anchors, and rebuilt byte for byte."""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from heldout.analysis import list_reference_lines, load_reference_line, reference_for, variant_of
from heldout.errors import AnalysisError

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_reference_lines.py"


def test_shipped_lines_are_the_testbed_variants_and_timm():
    assert list_reference_lines() == [
        "testbed/matched-frequency",
        "testbed/threshold0.7",
        "testbed/top-images",
        "timm/matched-frequency",
        "timm/real",
    ]


def test_testbed_matched_frequency_line_is_the_published_one():
    line = load_reference_line("testbed/matched-frequency")
    assert len(line) == 85
    assert (line.slope(), line.intercept()) == pytest.approx((0.9617, -0.3247), abs=1e-4)


def test_timm_matched_frequency_line_is_the_published_one():
    line = load_reference_line("timm/matched-frequency")
    assert len(line) == 1556
    assert (line.slope(), line.intercept()) == pytest.approx((0.9635, -0.3229), abs=1e-4)


def test_timm_real_line_is_the_published_one():
    line = load_reference_line("timm/real")
    assert (line.slope(), line.intercept()) == pytest.approx((0.9108, 0.2934), abs=1e-4)


def test_testbed_threshold_and_top_images_lines_match_the_anchors():
    threshold, top = load_reference_line("testbed/threshold0.7"), load_reference_line("testbed/top-images")
    assert (threshold.slope(), threshold.intercept()) == pytest.approx((1.0179, -0.1181), abs=1e-4)
    assert (top.slope(), top.intercept()) == pytest.approx((0.9731, 0.0777), abs=1e-4)


@pytest.mark.parametrize("name", ["testbed/matched-frequency", "timm/real"])
@pytest.mark.parametrize("transform", ["probit", "logit", "linear"])
def test_shipped_fit_equals_a_refit_of_the_shipped_points(name, transform):
    line = load_reference_line(name)
    refit = line.refit(transform, resamples=1)
    assert (refit.slope, refit.intercept) == pytest.approx(
        (line.slope(transform), line.intercept(transform)), abs=2e-6
    )


def test_reference_predicts_resnet50_on_v2():
    line = load_reference_line("testbed/matched-frequency")
    assert float(line.predict(76.13)) == pytest.approx(64.00, abs=0.01)


def test_unknown_line_is_a_clear_error():
    with pytest.raises(AnalysisError, match="no reference line"):
        load_reference_line("testbed/sketch")


@pytest.mark.parametrize(
    ("dataset", "variant"),
    [
        ("imagenetv2-a-44", "threshold0.7"),
        ("imagenetv2-b-33", "matched-frequency"),
        ("imagenetv2-c-12", "top-images"),
        ("imagenetv2-matched-frequency", "matched-frequency"),
        ("myset-b-2", "matched-frequency"),
        ("imagenet-validation-original", None),
    ],
)
def test_variant_comes_from_the_set_name(dataset, variant):
    assert variant_of(dataset) == variant


def test_reference_for_picks_the_line_of_the_sets_variant():
    assert reference_for("testbed", "imagenetv2-c-12").name == "testbed/top-images"


def test_timm_has_no_threshold_line():
    with pytest.raises(AnalysisError, match="timm publishes no threshold0.7 line"):
        reference_for("timm", "imagenetv2-a-44")


def test_set_with_no_variant_needs_one_named():
    with pytest.raises(AnalysisError, match="cannot tell which ImageNetV2 variant"):
        reference_for("testbed", "my-new-set")


def test_lines_load_without_the_public_data_folder(fresh_process):
    assert fresh_process["lines"] == 1556


def _script():
    spec = importlib.util.spec_from_file_location("build_reference_lines", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_rebuilds_the_shipped_file_byte_for_byte(shared_data):
    shipped = resources.files("heldout").joinpath("data/reference_lines.json").read_bytes()
    assert _script().build(shared_data) == shipped


def test_shipped_points_are_sorted_by_original_accuracy():
    line = load_reference_line("timm/matched-frequency")
    assert np.all(np.diff(line.original) >= 0)
