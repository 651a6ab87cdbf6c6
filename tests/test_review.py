"""Final review: the per-class overview and its histograms, decisions in one transaction, reviews
carried over between revisions, scripted acceptance, and the predictions browser's queue."""

from __future__ import annotations

import shutil
import uuid

import numpy as np
import pytest
from sqlalchemy import select

from heldout.catalog import (
    Blacklist,
    ClassReview,
    Dataset,
    DatasetImage,
    DuplicatePair,
    DuplicateStatus,
    ImageFlag,
    LabelReview,
    Run,
)
from heldout.collect import FolderSource, collect
from heldout.errors import PredictionsMismatchError, ReviewError, UnknownDatasetError
from heldout.evaluate import Predictions
from heldout.ingest import ingest
from heldout.project import Project, utcnow
from heldout.review import (
    accept,
    carry_over_reviews,
    class_overview,
    disputed_images,
    record_label_review,
    review_status,
    select_candidates,
    update_class,
)
from heldout.sampling import bin_index
from reviewtools import ESPRESSO, TABBY, add_images, make_dataset, set_frequencies

CANDIDATES = [f"c{i:02d}" for i in range(14)]
REFERENCES = [f"r{i:02d}" for i in range(21)]
ESPRESSOS = [f"e{i:02d}" for i in range(10)]
# 20 reference frequencies with bin counts [2, 3, 5, 6, 4]
REFERENCE_FREQUENCIES = [0.1] * 2 + [0.3] * 3 + [0.5] * 5 + [0.7] * 6 + [0.9] * 4
FIRST = [(i, TABBY) for i in CANDIDATES[:10]] + [(i, ESPRESSO) for i in ESPRESSOS]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded_template(request, tmp_path_factory) -> tuple[str, str]:
    """A seeded catalog per backend, made once per module and copied for each test (a SQLite
    project folder, or a PostgreSQL template database): tabby has 14 candidates (c10
    blacklisted, c11 with 5 annotations, c12 a near duplicate, c13 unlabelled) and 21 reference
    images (r20 with too few annotations); espresso 10 candidates; revision ``t-b-0`` samples
    c00..c09 and the espressos."""
    root = tmp_path_factory.mktemp("review") / "project"
    url, name = None, ""
    if request.param == "postgresql":
        name = _create_database(request, "review_template_" + uuid.uuid4().hex[:8])
        url = f"{request.getfixturevalue('postgres_server')}/{name}"
    with Project.create(root, catalog_url=url) as project:
        _seed(project)
    return request.param, name or str(root)


def _seed(project: Project) -> None:
    add_images(project, CANDIDATES, role="candidate", class_key=TABBY)
    add_images(project, REFERENCES, role="reference", class_key=TABBY)
    add_images(project, ESPRESSOS, role="candidate", class_key=ESPRESSO)
    candidate_frequencies = {c: (round(0.05 + 0.07 * n, 2), 10) for n, c in enumerate(CANDIDATES[:13])}
    candidate_frequencies["c11"] = (0.9, 5)
    set_frequencies(project, TABBY, candidate_frequencies)
    references = zip(REFERENCES[:20], REFERENCE_FREQUENCIES, strict=True)
    set_frequencies(project, TABBY, {r: (f, 10) for r, f in references})
    set_frequencies(project, TABBY, {"r20": (0.95, 3)})
    set_frequencies(project, ESPRESSO, {e: (0.8, 10) for e in ESPRESSOS})
    with project.transaction() as session:
        session.add(Blacklist(image_id="c10", reason="drawing", created_at=utcnow()))
        session.add(DuplicateStatus(image_id="c12", component=1, status="duplicate"))
    make_dataset(project, "t-b-0", FIRST, per_class=10)


def _create_database(request, name: str, template: str | None = None) -> str:
    import psycopg

    admin = request.getfixturevalue("postgres_server").replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(admin + "/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return name


@pytest.fixture()
def seeded(seeded_template, tmp_path, request):
    """A fresh copy of the seeded catalog."""
    backend, source = seeded_template
    root = tmp_path / "project"
    if backend == "sqlite":
        shutil.copytree(source, root)
        project = Project.open(root)
    else:
        name = _create_database(request, "review_" + uuid.uuid4().hex[:8], template=source)
        project = Project.create(root, catalog_url=f"{request.getfixturevalue('postgres_server')}/{name}")
    yield project
    project.close()


@pytest.fixture(scope="module")
def template_project(seeded_template, tmp_path_factory, request):
    backend, source = seeded_template
    if backend == "sqlite":
        project = Project.open(source)
    else:
        url = f"{request.getfixturevalue('postgres_server')}/{source}"
        project = Project.create(tmp_path_factory.mktemp("review-view") / "project", catalog_url=url)
    yield project
    project.close()


@pytest.fixture()
def view(template_project):
    """The seeded catalog itself, for tests that only read; its connections are closed after each
    test, so it can still be copied as a template."""
    yield template_project
    template_project.engine.dispose()


def _review_rows(project, dataset_name: str) -> dict[str, tuple[str, str, str | None]]:
    with project.transaction() as session:
        dataset_id = session.scalar(select(Dataset.dataset_id).where(Dataset.name == dataset_name))
        rows = session.scalars(select(ClassReview).where(ClassReview.dataset_id == dataset_id))
        return {r.class_key: (r.status, r.reviewer, r.carried_from) for r in rows}


# --- histograms ----------------------------------------------------------------------------------


# --- class overview ------------------------------------------------------------------------------


def test_class_overview_lists_the_sampled_images_in_manifest_order(view):
    overview = class_overview(view, "t-b-0", TABBY)
    assert [i.image_id for i in overview.sampled] == CANDIDATES[:10]
    assert all(i.in_dataset for i in overview.sampled)
    assert overview.name == "tabby" and overview.status == "unreviewed"


def test_class_overview_histograms_reference_target_and_eligible(view):
    overview = class_overview(view, "t-b-0", TABBY)
    assert overview.reference_histogram.tolist() == [2, 3, 5, 6, 4]  # r20 has too few annotations
    assert overview.reference_count == 20
    assert overview.target_histogram.tolist() == [1, 1, 3, 3, 2]
    # c00..c09 and c12 are labelled; c12 is a near duplicate: c00..c09 only
    expected = np.bincount(bin_index(np.array([0.05 + 0.07 * n for n in range(10)])), minlength=5)
    assert overview.eligible_histogram.tolist() == expected.tolist()


def test_class_overview_marks_blacklisted_near_duplicate_and_unlabelled_candidates(view):
    pool = {i.image_id: i for i in class_overview(view, "t-b-0", TABBY).candidates}
    assert len(pool) == 14
    assert pool["c10"].is_blacklisted and not pool["c09"].is_blacklisted
    assert pool["c12"].is_near_duplicate and not pool["c11"].is_near_duplicate
    assert pool["c13"].frequency is None and pool["c13"].annotations == 0
    assert pool["c11"].annotations == 5


def test_class_overview_shows_the_same_reference_images_for_the_same_seed(view):
    first = [i.image_id for i in class_overview(view, "t-b-0", TABBY, seed=7).references]
    again = [i.image_id for i in class_overview(view, "t-b-0", TABBY, seed=7).references]
    other = [i.image_id for i in class_overview(view, "t-b-0", TABBY, seed=8).references]
    assert first == again and len(first) == 10 and set(first) <= set(REFERENCES)
    assert other != first


def test_class_overview_takes_the_annotation_minimum_from_the_manifest(seeded):
    make_dataset(seeded, "t-b-1", FIRST, per_class=10, fields={"min_num_annotations": 5})
    default = class_overview(seeded, "t-b-0", TABBY).eligible_histogram
    lowered = class_overview(seeded, "t-b-1", TABBY).eligible_histogram
    assert (lowered - default).tolist() == [0, 0, 0, 0, 1]  # c11: 5 annotations, frequency 0.9


def test_class_overview_target_is_empty_without_reference_images(view):
    overview = class_overview(view, "t-b-0", ESPRESSO)
    assert overview.reference_count == 0 and overview.target_histogram.tolist() == [0] * 5


def test_class_overview_of_an_unknown_dataset_says_to_sample_first(view):
    with pytest.raises(UnknownDatasetError, match="heldout sample"):
        class_overview(view, "t-b-9", TABBY)


def test_class_overview_knows_stored_images_from_metadata_only_ones(project, photo_folder):
    collect(project, FolderSource(photo_folder))
    ingest(project)
    stored = project.images.ids(class_key=TABBY, status="stored")
    make_dataset(project, "photos-b-0", [(i, TABBY) for i in stored])
    add_images(project, ["meta"], role="candidate", class_key=TABBY)
    pool = {i.image_id: i.has_bytes for i in class_overview(project, "photos-b-0", TABBY).candidates}
    assert pool == {**{i: True for i in stored}, "meta": False}


def test_select_candidates_filters_by_flags_and_bin_and_sorts(view):
    pool = class_overview(view, "t-b-0", TABBY).candidates
    clean = select_candidates(pool, blacklisted=False, near_duplicate=False)
    assert {"c10", "c12"}.isdisjoint(i.image_id for i in clean) and len(clean) == 12
    assert [i.image_id for i in select_candidates(pool, blacklisted=True)] == ["c10"]
    by_frequency = select_candidates(pool, sort="frequency")
    assert by_frequency[0].image_id == "c11" and by_frequency[-1].image_id == "c13"  # unlabelled last
    assert {i.bin for i in select_candidates(pool, frequency_bin=2)} == {2}


# --- decisions -----------------------------------------------------------------------------------


def test_update_class_stores_every_decision_with_its_reviewer(seeded):
    result = update_class(
        seeded,
        "t-b-0",
        TABBY,
        blacklist_add=["c01"],
        flag_add=["c02"],
        duplicate_sets=[["c03", "c13", "c04"]],
        status="reviewed",
        reviewer="ada",
    )
    assert (result.blacklisted, result.flagged, result.duplicate_pairs) == (1, 1, 2)
    with seeded.transaction() as session:
        assert "ada" in session.get(Blacklist, "c01").reason
        assert session.get(ImageFlag, "c02").reviewer == "ada"
        pairs = session.execute(
            select(DuplicatePair.image_id, DuplicatePair.other_id, DuplicatePair.origin)
        ).all()
    assert sorted(pairs) == [("c03", "c04", "final-review"), ("c03", "c13", "final-review")]
    assert _review_rows(seeded, "t-b-0") == {TABBY: ("reviewed", "ada", None)}


def test_update_class_removes_blacklist_entries_and_flags(seeded):
    update_class(seeded, "t-b-0", TABBY, flag_add=["c02"], reviewer="ada")
    result = update_class(
        seeded, "t-b-0", TABBY, blacklist_remove=["c10"], flag_remove=["c02"], reviewer="ada"
    )
    assert (result.unblacklisted, result.unflagged) == (1, 1)
    pool = {i.image_id: i for i in class_overview(seeded, "t-b-0", TABBY).candidates}
    assert not pool["c10"].is_blacklisted and not pool["c02"].is_flagged


def test_update_class_writes_nothing_when_one_decision_is_bad(seeded):
    with pytest.raises(ReviewError, match="unknown image"):
        update_class(
            seeded, "t-b-0", TABBY, blacklist_add=["c01"], duplicate_sets=[["c03", "nope"]], reviewer="ada"
        )
    with seeded.transaction() as session:
        assert session.get(Blacklist, "c01") is None


def test_update_class_refuses_a_class_outside_the_dataset(seeded):
    with pytest.raises(ReviewError, match="no images"):
        update_class(seeded, "t-b-0", "n01440764", status="reviewed", reviewer="ada")


def test_update_class_needs_a_reviewer(view):
    with pytest.raises(ReviewError, match="reviewer"):
        update_class(view, "t-b-0", TABBY, status="reviewed", reviewer=" ")


def test_marking_a_class_unreviewed_clears_its_review(seeded):
    update_class(seeded, "t-b-0", TABBY, status="problematic", reviewer="ada")
    update_class(seeded, "t-b-0", TABBY, status="unreviewed", reviewer="ada")
    assert _review_rows(seeded, "t-b-0") == {}


# --- revisions and scripted use ------------------------------------------------------------------


def test_carry_over_keeps_reviewed_classes_whose_images_are_unchanged(seeded):
    update_class(seeded, "t-b-0", TABBY, status="reviewed", reviewer="ada")
    update_class(seeded, "t-b-0", ESPRESSO, status="reviewed", reviewer="bo")
    add_images(seeded, ["e10"], role="candidate", class_key=ESPRESSO)
    shuffled = list(reversed([(i, TABBY) for i in CANDIDATES[:10]]))
    make_dataset(
        seeded, "t-b-1", shuffled + [(i, ESPRESSO) for i in [*ESPRESSOS[1:], "e10"]], starting_from="t-b-0"
    )
    assert carry_over_reviews(seeded, "t-b-1") == [TABBY]
    assert _review_rows(seeded, "t-b-1") == {TABBY: ("reviewed", "ada", "t-b-0")}
    assert carry_over_reviews(seeded, "t-b-1") == []  # running it again changes nothing


def test_carry_over_does_not_carry_problematic_classes(seeded):
    update_class(seeded, "t-b-0", TABBY, status="problematic", reviewer="ada")
    make_dataset(seeded, "t-b-1", FIRST, starting_from="t-b-0")
    assert carry_over_reviews(seeded, "t-b-1") == []
    assert review_status(seeded, "t-b-1").unreviewed == 2


def test_review_status_counts_each_state(seeded):
    update_class(seeded, "t-b-0", ESPRESSO, status="problematic", reviewer="ada")
    status = review_status(seeded, "t-b-0")
    assert (status.reviewed, status.problematic, status.unreviewed) == (0, 1, 1)
    assert [c.class_key for c in status.classes] == [TABBY, ESPRESSO]  # class-index order
    assert [c.images for c in status.classes] == [10, 10] and not status.is_complete


def test_accept_marks_unreviewed_classes_as_automatic_and_records_the_run(seeded):
    update_class(seeded, "t-b-0", ESPRESSO, status="problematic", reviewer="ada")
    assert accept(seeded, "t-b-0", "demo") == [TABBY]
    assert _review_rows(seeded, "t-b-0") == {
        TABBY: ("reviewed", "auto:demo", None),
        ESPRESSO: ("problematic", "ada", None),
    }
    assert review_status(seeded, "t-b-0").automatic == 1
    with seeded.transaction() as session:
        run = session.scalar(select(Run).where(Run.stage == "review-accept"))
    assert run.parameters == {"dataset": "t-b-0", "reviewer": "demo"} and run.counts == {"accepted": 1}


# --- predictions browser -------------------------------------------------------------------------


def _ranked(seeded, top1_keys: list[str]) -> np.ndarray:
    return seeded.classes.indices(top1_keys)[:, None]


def test_disputed_images_are_those_most_models_get_wrong(view):
    truth = [k for _, k in FIRST]
    persian = "n02123394"
    models = {name: _ranked(view, truth) for name in ("m1", "m2", "m3")}
    models["m1"][[0, 5]] = view.classes.index(persian)
    models["m2"][[0, 5]] = view.classes.index(persian)
    models["m3"][0] = view.classes.index("n02124075")
    disputed = disputed_images(view, "t-b-0", models)
    assert [(d.image_id, d.wrong, d.models) for d in disputed] == [("c00", 3, 3), ("c05", 2, 3)]
    first = disputed[0].predictions
    assert [(p.class_key, p.models, p.is_label) for p in first] == [
        (TABBY, 0, True),
        (persian, 2, False),
        ("n02124075", 1, False),
    ]
    assert [d.image_id for d in disputed_images(view, "t-b-0", models, min_models=3)] == ["c00"]


def test_disputed_images_align_predictions_by_image_id(view):
    ids = np.array([i for i, _ in FIRST])[::-1]
    ranked = _ranked(view, [k for _, k in FIRST])[::-1].copy()
    ranked[-1] = view.classes.index(ESPRESSO)  # c00, last row after reversing
    predictions = Predictions.from_array(ranked, model="m1", ids=ids)
    assert [d.image_id for d in disputed_images(view, "t-b-0", [predictions])] == ["c00"]


def test_disputed_images_refuse_predictions_of_another_length(view):
    with pytest.raises(PredictionsMismatchError, match="19 predictions for 20 images"):
        disputed_images(view, "t-b-0", {"m1": np.zeros((19, 5), dtype=np.int64)})


def test_label_review_records_a_verdict_and_leaves_the_label_alone(seeded):
    record_label_review(seeded, "c00", TABBY, "unclear", "ada")
    record_label_review(seeded, "c00", TABBY, "wrong", "bo")
    with seeded.transaction() as session:
        review = session.get(LabelReview, ("c00", TABBY))
        label = session.scalar(select(DatasetImage.class_key).where(DatasetImage.image_id == "c00"))
    assert (review.state, review.reviewer, label) == ("wrong", "bo", TABBY)
    models = {"m1": _ranked(seeded, [ESPRESSO] + [k for _, k in FIRST[1:]])}
    assert disputed_images(seeded, "t-b-0", models)[0].predictions[0].state == "wrong"


def test_label_review_refuses_an_unknown_state(view):
    with pytest.raises(ReviewError, match="correct, wrong or unclear"):
        record_label_review(view, "c00", TABBY, "maybe", "ada")
