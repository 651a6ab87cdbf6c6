from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from heldout.catalog import Blacklist, DuplicatePair, Image, Neighbour, NeighbourReview
from heldout.datasets import load_dataset
from heldout.dedup.published import (
    RELEASED_SETS,
    export_published,
    import_neighbour_results,
    import_published,
    published_components,
    report_released_sets,
    report_sets,
)
from heldout.dedup.review import review_thresholds
from heldout.errors import ConfigError

EDITED_AFTER_RELEASE = {
    "dfc2eea7c7e0d6bdb3e300f959ece20c37ad4bf7",
    "720af39de565400540e8c9c9e306c768b287f622",
}


@pytest.fixture(scope="module")
def metadata(shared_data):
    folder = shared_data / "imagenetv2" / "metadata"
    if not (folder / "near_duplicates.json").is_file():
        pytest.skip(f"published ImageNetV2 metadata not found in {folder}")
    return folder


@pytest.fixture(scope="module")
def imported(module_project, metadata):
    """One import of the published files per backend, shared by the tests that only read it."""
    return module_project, import_published(module_project, metadata)


@pytest.fixture(scope="module")
def duplicates(metadata):
    return json.loads((metadata / "near_duplicates.json").read_text())


@pytest.fixture(scope="module")
def released():
    return {name: load_dataset(name).ids.tolist() for name in RELEASED_SETS}


@pytest.fixture(scope="module")
def reports(duplicates, released):
    return {r.name: r for r in report_sets(published_components(duplicates), released)}


def test_published_duplicates_form_4444_components_over_17916_images(duplicates):
    components = published_components(duplicates)
    assert (len(components.ids), len(set(components.component.tolist()))) == (17916, 4444)


def test_components_hold_4_2_1_pairs_of_a44_b33_c12_images(reports):
    assert [reports[name].shared_components for name in RELEASED_SETS] == [4, 2, 1]


def test_images_edited_after_release_touch_an_imagenet_val_image(reports):
    touching = {name: reports[name].touching_reference for name in RELEASED_SETS}
    assert (
        set(touching["imagenetv2-a-44"])
        == set(touching["imagenetv2-b-33"])
        == {"dfc2eea7c7e0d6bdb3e300f959ece20c37ad4bf7"}
    )
    assert set(touching["imagenetv2-c-12"]) == {"720af39de565400540e8c9c9e306c768b287f622"}
    for report in touching.values():
        for references in report.values():
            assert any(r.startswith("ILSVRC2012_val_") for r in references)


def test_import_then_project_components_report_the_same_as_the_files(imported, reports):
    project, counts = imported
    assert counts["duplicates"] == 16361 and counts["blacklist"] == 31337
    from_project = {r.name: r for r in report_released_sets(project)}
    assert from_project == reports


def test_importing_twice_adds_nothing(imported, metadata):
    project, _ = imported
    again = import_published(project, metadata)
    assert all(value == 0 for value in again.values())


def test_imported_names_become_metadata_images_of_their_role_and_split(imported):
    project, _ = imported
    with project.transaction() as session:
        test = session.get(Image, "ILSVRC2012_test_00011250.JPEG")
        candidate = session.get(Image, "0001c6d69627f18456d74904a229177d80cef748")
        train = session.scalars(select(Image).where(Image.split == "train")).first()
    assert (test.role, test.split, test.status) == ("reference", "test", "metadata")
    assert (candidate.role, candidate.split) == ("candidate", None)
    assert train.class_key == train.image_id.split("_")[0]


def test_export_round_trips_the_published_files_as_data(imported, metadata, tmp_path):
    project, _ = imported
    written = export_published(project, tmp_path)
    for kind in ("duplicates", "blacklist"):
        original = json.loads((metadata / written[kind].name).read_text())
        canonical = json.dumps(
            {k: sorted(v) if isinstance(v, list) else v for k, v in original.items()}, indent=2
        )
        assert written[kind].read_text() == canonical
    assert written["overrides"].read_bytes() == (metadata / written["overrides"].name).read_bytes()
    original = json.loads((metadata / "nearest_neighbor_reviews_v2.json").read_text())
    exported = json.loads(written["reviews"].read_text())
    assert _as_sets(exported) == _as_sets(original)


def _as_sets(reviews):
    return {
        (key, metric, review["reviewer"], review["date"]): frozenset(review["references"])
        for key, metrics in reviews.items()
        for metric, review in metrics.items()
    }


def test_imported_reviews_keep_reviewer_and_date(imported):
    project, _ = imported
    with project.transaction() as session:
        row = session.get(
            NeighbourReview,
            ("0b4ca174f9aa6d4f0eb09d7eb8286ccae09a30d1", "dssim", "142d54a507940636e494c25efe25797e846bc0da"),
        )
        total = session.scalar(select(func.count()).select_from(NeighbourReview))
    assert (row.reviewer, str(row.reviewed_at)) == ("ludwig", "2018-09-16 23:04:42.625898")
    assert total > 8019


def test_neighbour_results_import_with_ranks_and_feed_review_thresholds(project, metadata):
    path = metadata / "nearest_neighbor_results_test.json"
    results = json.loads(path.read_text())
    written = import_neighbour_results(project, path)
    assert written == sum(len(pairs) for metrics in results.values() for pairs in metrics.values())
    first = next(iter(results))
    with project.transaction() as session:
        top = session.get(Neighbour, (first, "l2", 1))
    assert (top.neighbour_id, top.distance) == tuple(results[first]["l2"][1])
    # rank 0 is the candidate itself, so the review threshold is the next neighbour's distance
    assert review_thresholds(project, [first], "l2")[0] == results[first]["l2"][1][1]


def test_a_folder_without_published_files_is_refused(project, tmp_path):
    with pytest.raises(ConfigError, match="none of the published dedup files"):
        import_published(project, tmp_path)


def test_blacklist_import_keeps_reasons(imported):
    project, _ = imported
    with project.transaction() as session:
        reason = session.scalar(
            select(Blacklist.reason).where(Blacklist.image_id == "0001085a51ca7bcb1ea8f9ff5f08b69694c64ef7")
        )
        pairs = session.scalar(select(func.count()).select_from(DuplicatePair))
    assert reason == "invalid image (selected in the blacklist_candidates notebook)"
    assert pairs == 16361
