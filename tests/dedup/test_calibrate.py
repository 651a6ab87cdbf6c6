from __future__ import annotations

import numpy as np
import pytest

from heldout.catalog import Threshold
from heldout.collect import FolderSource, collect
from heldout.dedup.calibrate import CALIBRATION_EDITS, calibrate
from heldout.dedup.review import PUBLISHED_THRESHOLDS, thresholds
from heldout.errors import ConfigError
from heldout.ingest import ingest


@pytest.fixture(scope="module")
def photos(module_project, tmp_path_factory, photo_bytes):
    """The 7 real photos, stored."""
    root = tmp_path_factory.mktemp("calibrate") / "n02123045"
    root.mkdir()
    for name, data in photo_bytes.items():
        (root / f"{name}.jpg").write_bytes(data)
    collect(module_project, FolderSource(root.parent), classes=["n02123045"])
    ingest(module_project)
    return module_project


def test_l2_threshold_reaches_the_target_recall_and_is_stored_with_details(photos):
    result = calibrate(photos, "l2", recall=0.9, images=7, seed=3)
    assert result.copy_distances.shape == (7, len(CALIBRATION_EDITS))
    assert (result.copy_distances <= result.threshold).mean() >= 0.9
    with photos.transaction() as session:
        row = session.get(Threshold, "l2")
    assert (row.value, row.origin) == (result.threshold, "calibrated")
    assert row.details["recall"] == 0.9 and set(row.details["recall_per_edit"]) == set(CALIBRATION_EDITS)
    assert thresholds(photos)["l2"] == result.threshold


def test_unrelated_real_photos_stay_above_the_published_pixel_and_ssim_thresholds(photos):
    l2 = calibrate(photos, "l2", images=5, store=False)
    dssim = calibrate(photos, "dssim", images=5, store=False)
    assert l2.unrelated_distances.min() > PUBLISHED_THRESHOLDS["l2"]
    assert dssim.unrelated_distances.min() > PUBLISHED_THRESHOLDS["dssim"]
    # near copies of the real photos are closer than every unrelated pair in both metrics
    assert np.median(l2.copy_distances) < l2.unrelated_distances.min()
    assert np.median(dssim.copy_distances) < dssim.unrelated_distances.min()


def test_same_seed_gives_the_same_threshold(photos):
    first = calibrate(photos, "l2", images=2, seed=5, store=False)
    second = calibrate(photos, "l2", images=2, seed=5, store=False)
    assert first.threshold == second.threshold
    np.testing.assert_array_equal(first.copy_distances, second.copy_distances)


def test_cnn_threshold_separates_copies_from_unrelated_photos(photos):
    result = calibrate(photos, "efficientnet-lite0", recall=0.95, images=5, store=False)
    assert result.details["extractor"] == "efficientnet-lite0"
    assert result.details["unrelated_under_threshold"] <= 0.1


def test_recall_outside_0_1_is_refused(photos):
    with pytest.raises(ConfigError, match="recall"):
        calibrate(photos, "l2", recall=1.5)
