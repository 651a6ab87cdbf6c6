"""Sampling: the published manifests' invariants, the rules on examples, and the stage on a catalog
(SQLite and PostgreSQL) of metadata-only images with synthetic frequency scores."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sqlalchemy import func, select

from heldout import datasets
from heldout.blacklist import add_to_blacklist
from heldout.catalog import ClassReview, Dataset, DatasetImage, DuplicateStatus, ImageFlag, Run
from heldout.errors import SamplingError
from heldout.project import Project, utcnow
from heldout.review import accept
from heldout.sampling import (
    MatchedFrequency,
    Threshold,
    TopImages,
    bin_index,
    dataset_manifest,
    exclusion_codes,
    round_histogram,
    sample,
    select_matched_frequency,
    select_threshold,
    select_top_images,
)

TENCH, GOLDFISH, SHARK = "n01440764", "n01443537", "n01484850"
PUBLISHED = {
    "imagenetv2-a-44": Threshold(class_thresholds={"n03014705": 0.6, "n02090379": 0.6, "n03804744": 0.5}),
    "imagenetv2-b-33": MatchedFrequency(),
    "imagenetv2-c-12": TopImages(),
}
OURS = {"require_duplicate_review"}
SQLITE_ONLY = pytest.mark.parametrize("catalog_url", [None], ids=["sqlite"])
"""For rules that do not depend on the backend; storage and determinism run on both."""


def candidates(class_key, frequencies, annotations=10):
    return [
        (f"{class_key}-c{i:02d}", "candidate", class_key, f, annotations) for i, f in enumerate(frequencies)
    ]


# --- the published manifests ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_manifest_has_ten_unique_images_per_class(name):
    manifest = datasets.load_dataset(name).manifest
    _, counts = np.unique(manifest.wnids, return_counts=True)
    assert len(counts) == 1000 and (counts == 10).all()
    assert len(np.unique(manifest.ids)) == 10_000


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_our_manifest_fields_follow_the_published_order_and_defaults(name, tmp_path, scored_images):
    published = datasets.load_dataset(name).manifest
    with Project.create(tmp_path / "p") as project:
        scored_images(project, candidates(TENCH, [0.9] * 3))
        first = sample(project, PUBLISHED[name], name="s", seed=1, per_class=1, classes=[TENCH])
        result = sample(
            project, PUBLISHED[name], name="s", seed=1, per_class=1, classes=[TENCH], previous=first.name
        )
    ours = [k for k in result.manifest.key_order if k not in OURS | {"classes"}]
    assert ours == list(published.key_order)
    varying = {
        "target_size",
        "time_string",
        "username",
        "seed",
        "is_valid",
        "starting_from",
        "output_filename",
    }
    varying |= {"near_duplicate_review_targets"}  # published fc7 (VGG-16) has no equivalent here
    for key in set(published.metadata) - varying:
        assert result.manifest.metadata[key] == published.metadata[key], key
    assert published.metadata["sampling_function"] == PUBLISHED[name].sampling_function


# --- the rules on examples --------------------------------------------------------------------


def test_round_histogram_gives_the_published_example():
    assert round_histogram(np.array([2, 3, 5, 6, 4]), 10).tolist() == [1, 1, 3, 3, 2]


def test_round_histogram_of_an_empty_histogram_is_an_error():
    with pytest.raises(SamplingError):
        round_histogram(np.zeros(5, dtype=int), 10)


def test_bin_index_puts_boundaries_in_the_upper_bin_and_one_in_the_last():
    assert bin_index(np.array([0.0, 0.19, 0.2, 0.6, 0.8, 1.0])).tolist() == [0, 0, 1, 3, 4, 4]


def test_exclusion_codes_name_the_first_reason_in_published_order():
    codes = exclusion_codes(
        blacklisted=np.array([1, 0, 0, 0, 0, 0, 0], bool),
        flagged=np.array([1, 1, 0, 0, 0, 0, 0], bool),
        annotations=np.array([0, 0, 9, 10, 10, 10, 10]),
        min_annotations=10,
        near_duplicate=np.array([1, 1, 1, 1, 1, 0, 0], bool),
        reviewed=np.array([0, 0, 0, 0, 0, 0, 1], bool),
        frequency=np.array([0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9]),
        threshold=np.full(7, 0.7),
    )
    assert codes.tolist() == [1, 2, 3, 4, 5, 6, 0]


def test_matched_frequency_borrows_from_next_higher_bin():
    ids = np.array(["a", "b", "c", "d"])
    bins = np.array([0, 3, 4, 4])
    eligible = np.ones(4, bool)
    selected, borrowed = select_matched_frequency(
        ids, bins, eligible, np.zeros(4, bool), np.array([2, 0, 0, 1, 1]), random.Random(0)
    )
    assert borrowed == 1 and set(selected) == {"a", "b", "c", "d"}


def test_matched_frequency_without_upward_sampling_leaves_the_bin_short():
    ids = np.array(["a", "b", "c"])
    selected, borrowed = select_matched_frequency(
        ids,
        np.array([0, 4, 4]),
        np.ones(3, bool),
        np.zeros(3, bool),
        np.array([2, 0, 0, 0, 1]),
        random.Random(0),
        allow_upward_sampling=False,
    )
    assert borrowed == 0 and len(selected) == 2 and "a" in selected


def test_matched_frequency_borrows_a_previous_revision_image_first():
    ids = np.array(["a", "b", "c", "d"])
    previous = np.array([0, 0, 1, 1], bool)  # c and d were in the previous revision, bin 4 keeps one
    selected, _ = select_matched_frequency(
        ids, np.array([0, 4, 4, 4]), np.ones(4, bool), previous, np.array([2, 0, 0, 0, 1]), random.Random(3)
    )
    assert sorted(selected) == ["a", "c", "d"]


def test_threshold_keeps_previous_images_and_samples_the_rest():
    ids = np.array(["a", "b", "c", "d", "e"])
    previous = np.array([0, 0, 0, 1, 1], bool)
    eligible = np.array([1, 1, 1, 1, 0], bool)
    selected = select_threshold(ids, eligible, previous, 2, random.Random(0))
    assert selected[0] == "d" and len(selected) == 2 and "e" not in selected


def test_top_images_breaks_frequency_ties_by_annotations_then_previous_then_id():
    ids = np.array(["a", "b", "c", "d"])
    selected = select_top_images(
        ids,
        np.array([0.9, 0.9, 0.9, 0.9]),
        np.array([10, 12, 10, 10]),
        np.ones(4, bool),
        np.array([0, 0, 1, 0], bool),
        4,
    )
    assert selected == ["b", "c", "d", "a"]


# --- the stage on a catalog (SQLite and PostgreSQL) --------------------------------------------


def test_threshold_sample_stores_dataset_and_images_in_manifest_order(project, scored_images):
    scored_images(project, candidates(TENCH, [0.9, 0.8, 0.75, 0.7, 0.5]) + candidates(GOLDFISH, [1.0] * 4))
    result = sample(project, Threshold(), name="t", seed=7, per_class=3, classes=[TENCH, GOLDFISH])
    with project.transaction() as session:
        row = session.scalar(select(Dataset).where(Dataset.name == "t-a-0"))
        images = session.execute(
            select(DatasetImage.image_id, DatasetImage.class_key)
            .where(DatasetImage.dataset_id == row.dataset_id)
            .order_by(DatasetImage.position)
        ).all()
        run = session.get(Run, result.run_id)
    assert result.is_valid and row.is_valid and (row.variant, row.revision, row.seed) == ("threshold", 0, 7)
    assert [tuple(i) for i in images] == list(zip(result.manifest.ids, result.manifest.wnids, strict=True))
    assert f"{TENCH}-c04" not in result.manifest.ids  # frequency 0.5 < 0.7
    assert run.stage == "sample" and run.status == "done" and run.counts["images"] == 6
    assert dataset_manifest(project, "t-a-0").to_bytes() == result.manifest.to_bytes()


def test_same_catalog_and_seed_give_a_byte_identical_manifest_on_every_backend(
    project, scored_images, tmp_path
):
    rows = candidates(TENCH, np.linspace(0.7, 1.0, 12).round(3).tolist()) + candidates(GOLDFISH, [0.8] * 12)
    with Project.create(tmp_path / "other") as other:
        manifests = []
        for opened in (project, other):
            scored_images(opened, rows)
            manifests.append(
                sample(opened, Threshold(), name="t", seed=5, per_class=4, classes=[TENCH, GOLDFISH])
            )
    assert manifests[0].manifest.to_bytes() == manifests[1].manifest.to_bytes()


def test_revision_keeps_still_eligible_images_and_counts_up(project, scored_images):
    scored_images(project, candidates(TENCH, [0.9] * 8))
    first = sample(project, Threshold(), name="t", seed=1, per_class=4, classes=[TENCH])
    dropped = first.manifest.ids[0]
    add_to_blacklist(project, [dropped], "drawing")
    second = sample(project, Threshold(), name="t", seed=2, per_class=4, classes=[TENCH], previous="t-a-0")
    assert second.name == "t-a-1" and second.carried_over == 3
    assert (
        set(first.manifest.ids) - {dropped} <= set(second.manifest.ids) and dropped not in second.manifest.ids
    )
    assert second.manifest.metadata["starting_from"] == "t-a-0.json"


def test_revision_carries_the_review_of_classes_whose_images_did_not_change(project, scored_images):
    scored_images(project, candidates(TENCH, [0.9] * 4) + candidates(GOLDFISH, [0.9] * 8))
    first = sample(project, Threshold(), name="t", seed=1, per_class=4, classes=[TENCH, GOLDFISH])
    accept(project, "t-a-0", reviewer="lead")
    goldfish = [i for i, k in zip(first.manifest.ids, first.manifest.wnids, strict=True) if k == GOLDFISH]
    add_to_blacklist(project, goldfish[:1], "drawing")
    sample(project, Threshold(), name="t", seed=2, per_class=4, classes=[TENCH, GOLDFISH], previous="t-a-0")
    with project.transaction() as session:
        carried = session.execute(
            select(ClassReview.class_key, ClassReview.carried_from)
            .join(Dataset, Dataset.dataset_id == ClassReview.dataset_id)
            .where(Dataset.name == "t-a-1")
        ).all()
    assert carried == [(TENCH, "t-a-0")]


def test_short_class_makes_the_set_invalid_and_counts_each_exclusion_reason(project, scored_images):
    rows = candidates(TENCH, [0.9, 0.9, 0.9, 0.9, 0.5, 0.9]) + [(f"{TENCH}-few", "candidate", TENCH, 1.0, 4)]
    scored_images(project, rows)
    scored_images(
        project,
        [(f"{TENCH}-unrev", "candidate", TENCH, 0.9, 10), (f"{TENCH}-x", "candidate", TENCH, None, 0)],
        reviewed=False,
    )
    add_to_blacklist(project, [f"{TENCH}-c00"], "cartoon")
    with project.transaction() as session:
        session.add(ImageFlag(image_id=f"{TENCH}-c01", reason="blurry", reviewer="me", created_at=utcnow()))
        session.add(DuplicateStatus(image_id=f"{TENCH}-c02", component=1, status="duplicate"))
    result = sample(project, Threshold(), name="t", seed=1, per_class=5, classes=[TENCH])
    (short,) = result.shortfalls
    assert not result.is_valid and result.manifest.metadata["is_valid"] is False
    assert short.excluded == {
        "blacklisted": 1,
        "flagged": 1,
        "few_annotations": 2,
        "below_threshold": 1,
        "near_duplicate": 1,
        "unreviewed": 1,
    }
    assert (short.selected, short.eligible) == (2, 2) and "review the near-duplicate" in short.next_step


def test_the_exclusion_report_covers_every_sampled_class_even_when_the_set_is_valid(project, scored_images):
    scored_images(project, candidates(TENCH, [0.9, 0.9, 0.9, 0.5]) + candidates(GOLDFISH, [0.9, 0.9, 0.2]))
    with project.transaction() as session:
        session.add(DuplicateStatus(image_id=f"{GOLDFISH}-c00", component=1, status="reference"))
    result = sample(project, Threshold(), name="t", seed=1, per_class=1, classes=[TENCH, GOLDFISH])
    assert result.is_valid and not result.shortfalls
    assert result.excluded == {
        "blacklisted": 0,
        "flagged": 0,
        "few_annotations": 0,
        "below_threshold": 2,
        "near_duplicate": 1,
        "unreviewed": 0,
    }
    with project.transaction() as session:
        counts = session.scalar(select(Run.counts).where(Run.run_id == result.run_id))
    assert counts["excluded"] == result.excluded


@SQLITE_ONLY
def test_candidates_without_neighbour_results_are_eligible_only_when_review_is_not_required(
    project, scored_images
):
    scored_images(project, candidates(TENCH, [0.9] * 3), reviewed=False)
    strict = sample(project, TopImages(), name="strict", seed=1, per_class=3, classes=[TENCH])
    relaxed = sample(
        project,
        TopImages(),
        name="relaxed",
        seed=1,
        per_class=3,
        classes=[TENCH],
        require_duplicate_review=False,
    )
    assert strict.shortfalls[0].excluded["unreviewed"] == 3 and relaxed.is_valid
    assert relaxed.manifest.metadata["require_duplicate_review"] is False


@SQLITE_ONLY
def test_matched_frequency_follows_the_reference_histogram(project, scored_images):
    references = [(f"val-{i:02d}", "reference", TENCH, f, 10) for i, f in enumerate([0.1] * 5 + [0.9] * 15)]
    pool = candidates(TENCH, [0.05, 0.1, 0.15, 0.3, 0.5, 0.7, 0.85, 0.9, 0.95, 1.0, 1.0])
    scored_images(project, references + pool)
    result = sample(project, MatchedFrequency(), name="m", seed=3, per_class=4, classes=[TENCH])
    frequency = dict((r[0], r[3]) for r in pool)
    bins = bin_index(np.array([frequency[i] for i in result.manifest.ids]))
    assert result.is_valid and np.bincount(bins, minlength=5).tolist() == [1, 0, 0, 0, 3]


@SQLITE_ONLY
def test_matched_frequency_with_too_few_reference_images_is_invalid_and_says_why(project, scored_images):
    scored_images(
        project, [(f"val-{i}", "reference", TENCH, 0.9, 10) for i in range(5)] + candidates(TENCH, [0.9] * 4)
    )
    result = sample(project, MatchedFrequency(), name="m", seed=3, per_class=2, classes=[TENCH])
    assert not result.is_valid and result.shortfalls[0].reference_images == 5
    assert "reference images" in result.shortfalls[0].next_step


@SQLITE_ONLY
def test_top_images_take_the_highest_frequencies(project, scored_images):
    scored_images(project, candidates(TENCH, [0.2, 0.95, 0.4, 0.9, 1.0]))
    result = sample(project, TopImages(), name="c", seed=9, per_class=3, classes=[TENCH])
    assert sorted(result.manifest.ids) == [f"{TENCH}-c01", f"{TENCH}-c03", f"{TENCH}-c04"]


@pytest.fixture(scope="module")
def small_project(tmp_path_factory, scored_images):
    """One SQLite project for the checks that fail before the catalog is touched."""
    with Project.create(tmp_path_factory.mktemp("sampling") / "p") as project:
        scored_images(project, candidates(TENCH, [0.9] * 3))
        yield project


def _nothing_written(project):
    with project.transaction() as session:
        datasets_ = session.scalar(select(func.count()).select_from(Dataset))
        runs = session.scalar(select(func.count()).select_from(Run).where(Run.stage == "sample"))
    return datasets_ == 0 and runs == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"classes": ["n99999999"]}, "missing from the class set"),
        ({"seed": "12"}, "seed must be an integer"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"per_class": 0}, "per_class must be an integer"),
        ({"strategy": Threshold(threshold=1.2)}, "lies in"),
        ({"strategy": Threshold(class_thresholds={"n99999999": 0.5})}, "missing from the class set"),
        ({"strategy": MatchedFrequency(bins=(0.5, 0.2))}, "rise strictly"),
        ({"name": "bad name"}, "not a usable set name"),
    ],
)
def test_bad_input_raises_and_writes_nothing(small_project, options, message):
    arguments = {
        "strategy": Threshold(),
        "name": "t",
        "seed": 1,
        "per_class": 2,
        "classes": [TENCH],
    } | options
    with pytest.raises(SamplingError, match=message):
        sample(small_project, **arguments)
    assert _nothing_written(small_project)


def test_an_unknown_previous_revision_is_refused_and_nothing_written(project, scored_images):
    scored_images(project, candidates(TENCH, [0.9] * 3))
    with pytest.raises(SamplingError, match="no dataset named 'elsewhere-a-0' in this project"):
        sample(project, Threshold(), name="elsewhere", seed=1, per_class=2, previous="elsewhere-a-0")
    assert _nothing_written(project)


@SQLITE_ONLY
def test_frequencies_outside_zero_one_are_refused(project, scored_images):
    scored_images(project, candidates(TENCH, [0.9, 1.5]))
    with pytest.raises(SamplingError, match="outside"):
        sample(project, Threshold(), name="t", seed=1, per_class=1, classes=[TENCH])
    assert _nothing_written(project)


def test_an_existing_name_is_never_overwritten(project, scored_images):
    scored_images(project, candidates(TENCH, [0.9] * 3))
    sample(project, Threshold(), name="t", seed=1, per_class=2, classes=[TENCH])
    with pytest.raises(SamplingError, match="exists already"):
        sample(project, Threshold(), name="t", seed=2, per_class=2, classes=[TENCH])


@SQLITE_ONLY
def test_a_revision_continues_its_own_rule(project, scored_images):
    scored_images(project, candidates(TENCH, [0.9] * 3))
    sample(project, Threshold(), name="t", seed=1, per_class=2, classes=[TENCH])
    with pytest.raises(SamplingError, match="continues its own set and rule"):
        sample(project, TopImages(), name="t", seed=1, per_class=2, classes=[TENCH], previous="t-a-0")
