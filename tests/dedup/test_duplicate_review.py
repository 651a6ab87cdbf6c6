from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from heldout.catalog import DuplicatePair, NeighbourReview, Threshold
from heldout.dedup.review import (
    ALL_REVIEWED,
    PUBLISHED_THRESHOLDS,
    record_review,
    review_queue,
    review_thresholds,
    set_threshold,
    sufficiently_reviewed,
    thresholds,
)
from heldout.errors import ConfigError


@pytest.fixture()
def pool(rows):
    """c1 has a close neighbour r1 (under the l2 threshold) then a far one; c2 only far ones;
    c3 has no results; c4's close neighbour is the same Flickr photo. Under dssim all are far."""
    rows.images(["c1", "c2", "c3", "c4", "c5"])
    rows.images(["r1", "r2"], role="reference")
    rows.neighbours("c1", "l2", [("c1", 0.0), ("r1", 5e7), ("r2", 3e8)])
    rows.neighbours("c2", "l2", [("r1", 2e8), ("r2", 3e8)])
    rows.neighbours("c4", "l2", [("c5", 1e6), ("r2", 4e8)])
    for image_id in ("c1", "c2", "c4"):
        rows.neighbours(image_id, "dssim", [("r2", 0.5)])
    rows.photo("c4", "flickr-1")
    rows.photo("c5", "flickr-1")
    set_threshold(rows.project, "l2", 1.2e8, origin="published")
    return rows


def test_a_project_without_stored_thresholds_uses_the_published_pixel_and_ssim_ones(project):
    assert thresholds(project) == dict(PUBLISHED_THRESHOLDS) == {"l2": 1.2e8, "dssim": 0.2205}


def test_set_threshold_replaces_the_stored_value(project):
    set_threshold(project, "efficientnet-lite0", 3.0, origin="calibrated", details={"recall": 0.95})
    set_threshold(project, "efficientnet-lite0", 4.0, origin="calibrated")
    with project.transaction() as session:
        row = session.get(Threshold, "efficientnet-lite0")
    assert (row.value, row.origin) == (4.0, "calibrated")
    assert thresholds(project) == {"dssim": 0.2205, "efficientnet-lite0": 4.0, "l2": 1.2e8}


def test_a_stored_threshold_overrides_the_published_one(project):
    set_threshold(project, "l2", 1.1e8)
    assert thresholds(project)["l2"] == 1.1e8


def test_review_threshold_is_the_first_open_neighbour_skipping_self_and_same_photo(pool):
    values = review_thresholds(pool.project, ["c1", "c2", "c3", "c4"], "l2")
    np.testing.assert_array_equal(values, [5e7, 2e8, 0.0, 4e8])


def test_review_threshold_is_1e100_once_every_neighbour_is_reviewed(pool):
    record_review(pool.project, "c2", "l2", ["r1", "r2"], [], "ana")
    assert review_thresholds(pool.project, ["c2"], "l2")[0] == ALL_REVIEWED


def test_sufficiently_reviewed_needs_every_close_neighbour_seen(pool):
    np.testing.assert_array_equal(
        sufficiently_reviewed(pool.project, ["c1", "c2", "c3", "c4"]), [False, True, False, True]
    )
    record_review(pool.project, "c1", "l2", ["r1"], [], "ana")
    assert sufficiently_reviewed(pool.project, ["c1"]).tolist() == [True]


def test_sufficiently_reviewed_holds_in_every_metric_with_a_threshold(pool):
    pool.neighbours("c5", "l2", [("r2", 5e8)])
    assert sufficiently_reviewed(pool.project, ["c5"]).tolist() == [False]  # no dssim results yet
    pool.neighbours("c5", "dssim", [("r1", 0.1)])
    assert sufficiently_reviewed(pool.project, ["c5"]).tolist() == [False]  # dssim 0.1 is unreviewed
    record_review(pool.project, "c5", "dssim", ["r1"], [], "ana")
    assert sufficiently_reviewed(pool.project, ["c5"]).tolist() == [True]


def test_sufficiently_reviewed_is_strict_at_the_threshold(pool):
    set_threshold(pool.project, "l2", 2e8)
    assert sufficiently_reviewed(pool.project, ["c2"]).tolist() == [False]


def test_queue_lists_only_open_neighbours_at_or_under_the_threshold(pool):
    queue = review_queue(pool.project)
    assert [(q.image_id, q.metric, q.neighbour_ids, q.distances) for q in queue] == [
        ("c1", "l2", ("r1",), (5e7,))
    ]


def test_queue_skips_blacklisted_candidates(pool):
    from heldout.blacklist import add_to_blacklist

    add_to_blacklist(pool.project, ["c1"], "drawing")
    assert review_queue(pool.project) == []


def test_record_review_stores_ticked_pairs_and_shown_reviews_with_reviewer(pool):
    pool.neighbours("c3", "l2", [("r1", 1e7), ("r2", 2e7)])
    record_review(pool.project, "c3", "l2", ["r1", "r2"], ["r2"], "ana")
    with pool.project.transaction() as session:
        pairs = session.execute(
            select(DuplicatePair.image_id, DuplicatePair.other_id, DuplicatePair.reviewer)
        ).all()
        reviews = session.scalars(select(NeighbourReview).order_by(NeighbourReview.neighbour_id)).all()
    assert [tuple(p) for p in pairs] == [("c3", "r2", "ana")]
    assert [(r.neighbour_id, r.reviewer) for r in reviews] == [("r1", "ana"), ("r2", "ana")]
    assert all(r.reviewed_at is not None for r in reviews)


def test_unticking_a_shown_neighbour_removes_its_pair(pool):
    record_review(pool.project, "c1", "l2", ["r1"], ["r1"], "ana")
    record_review(pool.project, "c1", "l2", ["r1"], [], "bo")
    with pool.project.transaction() as session:
        assert session.scalars(select(DuplicatePair)).all() == []
        assert session.scalars(select(NeighbourReview.reviewer)).all() == ["bo"]


def test_record_review_refuses_a_duplicate_that_was_not_shown(pool):
    with pytest.raises(ConfigError, match="among the neighbours shown"):
        record_review(pool.project, "c1", "l2", ["r1"], ["r2"], "ana")
