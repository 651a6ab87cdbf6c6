"""Line fits against the numbers computed from the published tables (evaluation_anchors.md §1.4, §2.3)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from heldout.analysis import fit_line, from_scale, to_scale
from heldout.errors import AnalysisError


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def testbed_standard(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The testbed's "standard models" (STANDARD, val >= 55, no subsample/aws/batch64): val, V2-MF."""
    folder = shared_data / "published" / "imagenet-testbed"
    kind = {r["model"]: r["model_type"] for r in _rows(folder / "model_types.csv")}
    rows = [
        r
        for r in _rows(folder / "robustness_top1s.csv")
        if kind[r["model"]] == "STANDARD"
        and float(r["val"]) >= 55
        and not any(w in r["model"] for w in ("subsample", "aws", "batch64"))
    ]
    val = np.array([float(r["val"]) for r in rows])
    v2 = np.array([float(r["imagenetv2-matched-frequency-format-val"]) for r in rows])
    return val, v2


@pytest.fixture(scope="module")
def timm_rows(shared_data: Path) -> dict[str, np.ndarray]:
    """timm's top-1 per (model, img_size) on val, V2-MF and ReaL, joined on both keys."""
    folder = shared_data / "published" / "timm"
    tables = {
        name: {(r["model"], r["img_size"]): float(r["top1"]) for r in _rows(folder / f"results-{name}.csv")}
        for name in ("imagenet", "imagenetv2-matched-frequency", "imagenet-real")
    }
    keys = sorted(tables["imagenet"])
    return {name: np.array([table[k] for k in keys]) for name, table in tables.items()}


def test_testbed_standard_models_are_85(testbed_standard):
    assert testbed_standard[0].size == 85


def test_testbed_probit_fit_matches_the_published_line(testbed_standard):
    fit = fit_line(*testbed_standard, "probit")
    assert fit.slope == pytest.approx(0.9617, abs=5e-4)
    assert fit.intercept == pytest.approx(-0.3247, abs=5e-4)
    assert fit.r == pytest.approx(0.9978, abs=1e-4)


def test_testbed_probit_bootstrap_interval_matches_the_anchor(testbed_standard):
    fit = fit_line(*testbed_standard, "probit")
    assert fit.slope_ci == pytest.approx((0.947, 0.977), abs=2e-3)
    assert fit.intercept_ci == pytest.approx((-0.337, -0.314), abs=2e-3)


def test_testbed_logit_fit_matches_the_anchor(testbed_standard):
    fit = fit_line(*testbed_standard, "logit")
    assert (fit.slope, fit.intercept) == pytest.approx((0.9232, -0.4977), abs=5e-4)


def test_testbed_linear_fit_has_the_papers_slope_of_about_1_1(testbed_standard):
    fit = fit_line(*testbed_standard, "linear")
    assert (fit.slope, fit.intercept) == pytest.approx((1.112, -20.43), abs=5e-3)


def test_testbed_line_predicts_64_percent_for_resnet50_val_accuracy(testbed_standard):
    fit = fit_line(*testbed_standard, "probit")
    assert fit.predict([76.13, 85.0]) == pytest.approx([64.00, 74.92], abs=0.01)


def test_timm_all_rows_probit_fit_matches_the_anchor(timm_rows):
    assert timm_rows["imagenet"].size == 1556
    fit = fit_line(timm_rows["imagenet"], timm_rows["imagenetv2-matched-frequency"], "probit")
    assert (fit.slope, fit.intercept) == pytest.approx((0.9635, -0.3229), abs=5e-4)


def test_timm_real_against_val_probit_fit_matches_the_anchor(timm_rows):
    fit = fit_line(timm_rows["imagenet"], timm_rows["imagenet-real"], "probit")
    assert (fit.slope, fit.intercept) == pytest.approx((0.9108, 0.2934), abs=5e-4)
    assert fit.residual_sd_pp == pytest.approx(0.67, abs=0.01)


def test_timm_logit_fit_matches_the_anchor(timm_rows):
    fit = fit_line(timm_rows["imagenet"], timm_rows["imagenetv2-matched-frequency"], "logit")
    assert (fit.slope, fit.intercept) == pytest.approx((0.9160, -0.4857), abs=5e-4)


def test_same_seed_gives_the_same_band(testbed_standard):
    a = fit_line(*testbed_standard, seed=1, resamples=200)
    b = fit_line(*testbed_standard, seed=1, resamples=200)
    assert np.array_equal(a.band.low, b.band.low) and a.slope_ci == b.slope_ci


def test_another_seed_gives_another_band(testbed_standard):
    a = fit_line(*testbed_standard, seed=1, resamples=200)
    b = fit_line(*testbed_standard, seed=2, resamples=200)
    assert not np.array_equal(a.band.low, b.band.low)


def test_band_contains_the_fitted_line(testbed_standard):
    fit = fit_line(*testbed_standard)
    line = fit.predict(fit.band.x)
    assert np.all(fit.band.low <= line + 1e-9) and np.all(line <= fit.band.high + 1e-9)


def test_effective_robustness_is_the_distance_from_the_line_in_both_units(testbed_standard):
    fit = fit_line(*testbed_standard)
    transformed, points = fit.effective_robustness([76.13], [63.33])
    assert points[0] == pytest.approx(63.33 - float(fit.predict(76.13)[()]))
    assert transformed[0] == pytest.approx(
        float(to_scale(63.33, "probit")) - float(to_scale(fit.predict(76.13), "probit"))
    )


def test_a_model_on_the_line_has_zero_effective_robustness(testbed_standard):
    fit = fit_line(*testbed_standard)
    _, points = fit.effective_robustness([80.0], fit.predict([80.0]))
    assert points[0] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("transform", ["probit", "logit", "linear"])
def test_scale_round_trips(transform):
    values = np.array([0.5, 12.0, 63.33, 99.5])
    assert from_scale(to_scale(values, transform), transform) == pytest.approx(values)


def test_fewer_than_three_models_is_a_clear_error():
    with pytest.raises(AnalysisError, match="at least 3 models"):
        fit_line([76.13, 77.37], [63.33, 65.68])


def test_nan_accuracy_is_a_clear_error():
    with pytest.raises(AnalysisError, match="NaN or outside 0-100"):
        fit_line([76.13, float("nan"), 70.0], [63.33, 65.68, 57.0])


def test_fractions_instead_of_percent_are_refused_when_out_of_range():
    with pytest.raises(AnalysisError, match="outside 0-100"):
        fit_line([76.13, 77.37, 140.0], [63.33, 65.68, 57.0])


def test_zero_percent_has_no_probit_value():
    with pytest.raises(AnalysisError, match="no probit value"):
        fit_line([76.13, 77.37, 70.0], [63.33, 0.0, 57.0])


def test_zero_percent_is_fine_on_linear_axes():
    assert fit_line([76.13, 77.37, 70.0], [63.33, 0.0, 57.0], "linear", resamples=10).n == 3


def test_unknown_transform_is_a_clear_error():
    with pytest.raises(AnalysisError, match="unknown transform"):
        fit_line([76.13, 77.37, 70.0], [63.33, 65.68, 57.0], "log")  # type: ignore[arg-type]
