"""Grid, control and verify task builders, on real ImageNetV2 candidate ids and ImageNet val images."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import numpy as np
import pytest
from sqlalchemy import func, select

from heldout.blacklist import add_to_blacklist
from heldout.catalog import Answer, Assignment, Image, Question, Run, Task, TaskQuestion, Worker
from heldout.classes import ClassSet
from heldout.collect.reference import add_reference
from heldout.crowd.hits_import import load_hits
from heldout.crowd.tasks import (
    build_control_tasks,
    build_grid_tasks,
    build_verify_tasks,
    plan_grid_chunks,
    propose_labels,
)
from heldout.datasets import Manifest, load_dataset
from heldout.errors import ConfigError
from heldout.project import Project, utcnow

sqlite_only = pytest.mark.parametrize("catalog_url", [None], ids=["sqlite"])
"""Run a test on SQLite only (the builders' queries run on both backends in the other tests)."""

CLASS = "n02090379"  # 3 published HITs: 118 distinct candidates
SHORT = "n02093859"  # 1 published HIT of 22 candidates
IMAGENET = ClassSet.imagenet1k()


@pytest.fixture(scope="module")
def published(shared_data) -> dict[str, list[str]]:
    """Published candidate ids per class, in order of first appearance."""
    by_class: dict[str, dict[str, None]] = {}
    for record in load_hits(shared_data / "imagenetv2" / "mturk" / "hits_2018-09-17.json"):
        by_class.setdefault(record["wnid"], {}).update(dict.fromkeys(record["images_to_label"]))
    return {wnid: list(ids) for wnid, ids in by_class.items()}


@pytest.fixture(scope="module")
def val_class(shared_data) -> dict[str, str]:
    """ImageNet val file name → wnid, from val_original_labels.txt (independent of the package)."""
    labels = np.loadtxt(shared_data / "real" / "val_original_labels.txt", dtype=np.int64)
    return {f"ILSVRC2012_val_{i + 1:08d}.JPEG": IMAGENET.ids[label] for i, label in enumerate(labels)}


@pytest.fixture(scope="module")
def most_similar(shared_data) -> dict[str, str]:
    data = json.loads(
        (shared_data / "imagenetv2" / "metadata" / "wnid_to_most_similar_wnids.json").read_text()
    )
    return {wnid: similar[1] for wnid, similar in data.items()}


def add_candidates(project: Project, wnid: str, ids: list[str]) -> None:
    """Metadata-only candidates, as a published import leaves them."""
    now = utcnow()
    with project.transaction() as session:
        session.add_all(
            Image(
                image_id=i,
                role="candidate",
                class_key=wnid,
                status="metadata",
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            for i in ids
        )


def add_val_references(project: Project, tmp_path, wnids: list[str]) -> None:
    """The ImageNet val images of ``wnids`` as metadata-only reference images (via add_reference)."""
    val = load_dataset("imagenet-val")
    keep = np.isin(val.manifest.wnids, wnids)
    path = tmp_path / f"val-{'-'.join(wnids)}.json"
    Manifest.create(val.ids[keep], val.manifest.wnids[keep]).save(path)
    add_reference(project, split="val", dataset=str(path))


def setup_class(project, tmp_path, wnid, candidates):
    add_candidates(project, wnid, candidates)
    add_val_references(project, tmp_path, [wnid, IMAGENET.most_similar(wnid, 1)[0]])


def shown(project: Project, task_ids: list[int]) -> list[list[tuple[str, str, str]]]:
    """Per task, (image, class, role) in display order."""
    with project.transaction() as session:
        rows = session.execute(
            select(TaskQuestion.task_id, Question.image_id, Question.class_key, TaskQuestion.role)
            .join(Question, Question.question_id == TaskQuestion.question_id)
            .where(TaskQuestion.task_id.in_(task_ids))
            .order_by(TaskQuestion.task_id, TaskQuestion.position)
        ).all()
    tasks: dict[int, list] = {t: [] for t in task_ids}
    for task_id, image, key, role in rows:
        tasks[task_id].append((image, key, role))
    return [tasks[t] for t in task_ids]


def give_answers(project: Project, questions: list[tuple[str, str]], workers: int, status: str = "approved"):
    """``workers`` crowd workers each answer yes to every (image, class) question, in one imported task."""
    now = utcnow()
    with project.transaction() as session:
        task = Task(uuid=str(uuid.uuid4()), kind="imported", payload={}, created_at=now)
        session.add(task)
        ids = []
        for image, key in questions:
            question = session.scalar(
                select(Question).where(Question.image_id == image, Question.class_key == key)
            ) or Question(image_id=image, class_key=key)
            session.add(question)
            session.flush()
            ids.append(question.question_id)
        for number in range(workers):
            worker = session.scalar(select(Worker).where(Worker.external_id == f"w{number}"))
            if worker is None:
                worker = Worker(external_id=f"w{number}", created_at=now)
                session.add(worker)
                session.flush()
            assignment = Assignment(task_id=task.task_id, worker_id=worker.worker_id, status=status)
            session.add(assignment)
            session.flush()
            session.add_all(
                Answer(
                    assignment_id=assignment.assignment_id, question_id=q, worker_id=worker.worker_id, value=2
                )
                for q in ids
            )


# --- planning -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "shapes"),
    [
        (42, [(48, 42, 3, 3)]),
        (30, [(48, 30, 9, 9)]),
        (22, [(48, 22, 13, 13)]),
        (9, [(48, 9, 20, 19)]),
        (118, [(48, 42, 3, 3)] * 3),
    ],
)
def test_plan_gives_every_task_48_images(count, shapes):
    chunks = plan_grid_chunks([f"c{i:03d}" for i in range(count)], rng=np.random.default_rng(0))
    assert [c.shape for c in chunks] == shapes


def test_plan_pads_a_short_last_chunk_from_earlier_chunks():
    ids = [f"c{i:03d}" for i in range(118)]
    chunks = plan_grid_chunks(ids, rng=np.random.default_rng(0))
    last = chunks[-1]
    assert last.padded == 8 and last.candidates[:34] == tuple(ids[84:])
    assert set(last.candidates[34:]) <= set(ids[:84]) and len(set(last.candidates)) == 42


# --- grid tasks -----------------------------------------------------------------------------


def test_grid_task_is_42_candidates_3_positives_3_negatives(
    project, tmp_path, published, val_class, most_similar
):
    setup_class(project, tmp_path, CLASS, published[CLASS][:42])
    (task_id,) = build_grid_tasks(project, seed=0, classes=[CLASS])
    (questions,) = shown(project, [task_id])
    roles = Counter(role for _i, _k, role in questions)
    assert len(questions) == 48 and roles == {"candidate": 42, "positive": 3, "negative": 3}
    assert {key for _i, key, _r in questions} == {CLASS}
    assert {i for i, _k, r in questions if r == "candidate"} == set(published[CLASS][:42])
    assert all(val_class[i] == CLASS for i, _k, r in questions if r == "positive")
    assert all(val_class[i] == most_similar[CLASS] for i, _k, r in questions if r == "negative")


@sqlite_only
def test_grid_task_images_are_shuffled(project, tmp_path, published):
    setup_class(project, tmp_path, CLASS, published[CLASS][:42])
    (questions,) = shown(project, build_grid_tasks(project, seed=0, classes=[CLASS]))
    controls = [p for p, (_i, _k, role) in enumerate(questions) if role != "candidate"]
    assert controls != list(range(42, 48))
    assert [i for i, _k, r in questions if r == "candidate"] != sorted(published[CLASS][:42])


@sqlite_only
def test_grid_task_records_seed_counts_and_assignments(project, tmp_path, published):
    setup_class(project, tmp_path, CLASS, published[CLASS][:42])
    (task_id,) = build_grid_tasks(project, seed=7, classes=[CLASS], assignments=9)
    with project.transaction() as session:
        task = session.get(Task, task_id)
        run = session.scalars(select(Run).where(Run.stage == "crowd-grid")).one()
    assert (task.kind, task.class_key, task.status, task.max_assignments) == ("grid", CLASS, "open", 9)
    assert task.payload["seed"] == 7 and task.payload["counts"]["positive"] == 3
    assert (run.seed, run.status, run.counts["tasks"]) == (7, "done", 1)


def test_same_seed_builds_identical_tasks(project, tmp_path, published):
    setup_class(project, tmp_path, CLASS, published[CLASS])
    with Project.create(tmp_path / "twin") as twin:
        setup_class(twin, tmp_path, CLASS, published[CLASS])
        first = shown(project, build_grid_tasks(project, seed=3, classes=[CLASS]))
        second = shown(twin, build_grid_tasks(twin, seed=3, classes=[CLASS]))
    assert first == second


@sqlite_only
def test_different_seed_changes_the_order(project, tmp_path, published):
    setup_class(project, tmp_path, CLASS, published[CLASS][:42])
    with Project.create(tmp_path / "twin") as twin:
        setup_class(twin, tmp_path, CLASS, published[CLASS][:42])
        first = shown(project, build_grid_tasks(project, seed=3, classes=[CLASS]))
        second = shown(twin, build_grid_tasks(twin, seed=4, classes=[CLASS]))
    assert [i for i, _k, _r in first[0]] != [i for i, _k, _r in second[0]]


def test_short_last_chunk_is_padded_with_earlier_candidates(project, tmp_path, published):
    candidates = published[CLASS]
    setup_class(project, tmp_path, CLASS, candidates)
    tasks = shown(project, build_grid_tasks(project, seed=0, classes=[CLASS]))
    per_task = [[i for i, _k, r in t if r == "candidate"] for t in tasks]
    assert [len(t) for t in tasks] == [48, 48, 48] and [len(c) for c in per_task] == [42, 42, 42]
    ordered = sorted(candidates)  # chunks follow image ids
    assert set(per_task[0]) == set(ordered[:42]) and set(per_task[1]) == set(ordered[42:84])
    padding = set(per_task[2]) - set(ordered[84:])
    assert len(padding) == 8 and padding <= set(ordered[:84])


def test_class_with_30_candidates_gets_9_positives_and_9_negatives(project, tmp_path, published, val_class):
    setup_class(project, tmp_path, CLASS, published[CLASS][:30])
    (questions,) = shown(project, build_grid_tasks(project, seed=0, classes=[CLASS]))
    assert Counter(r for _i, _k, r in questions) == {"candidate": 30, "positive": 9, "negative": 9}
    assert len({i for i, _k, _r in questions}) == 48


@sqlite_only
def test_blacklisted_candidates_are_skipped(project, tmp_path, published):
    setup_class(project, tmp_path, CLASS, published[CLASS][:44])
    add_to_blacklist(project, published[CLASS][:2], "blurry")
    (questions,) = shown(project, build_grid_tasks(project, seed=0, classes=[CLASS]))
    assert {i for i, _k, r in questions if r == "candidate"} == set(published[CLASS][2:44])


def test_candidates_with_ten_valid_answers_are_skipped(project, tmp_path, published):
    ids = published[CLASS][:45]
    setup_class(project, tmp_path, CLASS, ids)
    give_answers(project, [(i, CLASS) for i in ids[:3]], workers=10)
    give_answers(project, [(ids[3], CLASS)], workers=9)  # one answer short
    give_answers(project, [(ids[4], CLASS)], workers=12, status="rejected")  # rejected answers do not count
    (questions,) = shown(project, build_grid_tasks(project, seed=0, classes=[CLASS]))
    assert {i for i, _k, r in questions if r == "candidate"} == set(ids[3:])


@sqlite_only
def test_excluded_near_duplicates_are_skipped(project, tmp_path, published):
    setup_class(project, tmp_path, CLASS, published[CLASS][:43])
    (questions,) = shown(
        project, build_grid_tasks(project, seed=0, classes=[CLASS], exclude={published[CLASS][0]})
    )
    assert published[CLASS][0] not in {i for i, _k, _r in questions}


@sqlite_only
def test_building_again_schedules_nothing_twice(project, tmp_path, published):
    setup_class(project, tmp_path, CLASS, published[CLASS][:42])
    assert len(build_grid_tasks(project, seed=0, classes=[CLASS])) == 1
    assert build_grid_tasks(project, seed=1, classes=[CLASS]) == []


@sqlite_only
def test_class_without_reference_images_is_refused(project, published):
    add_candidates(project, CLASS, published[CLASS][:42])
    with pytest.raises(ConfigError, match="lack val reference images"):
        build_grid_tasks(project, seed=0, classes=[CLASS])
    with project.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 0


@sqlite_only
def test_golden_questions_are_mixed_into_grids(project, tmp_path, published):
    setup_class(project, tmp_path, CLASS, published[CLASS][:42])
    val = load_dataset("imagenet-val")
    golden = val.ids[val.manifest.wnids == CLASS][:4].tolist()
    with project.transaction() as session:
        session.add_all(Question(image_id=i, class_key=CLASS, is_golden=True) for i in golden)
    (questions,) = shown(project, build_grid_tasks(project, seed=0, classes=[CLASS], golden_per_task=2))
    roles = Counter(r for _i, _k, r in questions)
    assert roles == {"candidate": 42, "positive": 3, "negative": 3, "golden": 2}
    assert {i for i, _k, r in questions if r == "golden"} <= set(golden)
    assert len({i for i, _k, _r in questions}) == 50


# --- control tasks --------------------------------------------------------------------------


def test_control_tasks_appear_where_a_class_lacks_20_annotated_references(
    project, tmp_path, published, val_class
):
    setup_class(project, tmp_path, CLASS, published[CLASS][:42])
    setup_class(project, tmp_path, SHORT, published[SHORT])
    val = load_dataset("imagenet-val")
    annotated = val.ids[val.manifest.wnids == CLASS][:20].tolist()
    give_answers(project, [(i, CLASS) for i in annotated], workers=10)
    tasks = shown(project, build_control_tasks(project, seed=0, classes=[CLASS, SHORT]))
    assert len(tasks) == 2  # ceil(20 / 16) tasks for SHORT, none for CLASS
    for questions in tasks:
        assert Counter(r for _i, _k, r in questions) == {"candidate": 16, "positive": 16, "negative": 16}
        assert {k for _i, k, _r in questions} == {SHORT}
        assert all(val_class[i] == SHORT for i, _k, r in questions if r == "positive")
    positives = [i for t in tasks for i, _k, r in t if r == "positive"]
    assert len(set(positives)) == 32


@sqlite_only
def test_scheduled_positives_count_towards_the_20(project, tmp_path, published):
    setup_class(project, tmp_path, SHORT, published[SHORT])
    (grid,) = build_grid_tasks(project, seed=0, classes=[SHORT])  # 13 positives scheduled
    tasks = shown(project, build_control_tasks(project, seed=0, classes=[SHORT]))
    scheduled = {i for i, _k, r in shown(project, [grid])[0] if r == "positive"}
    assert len(tasks) == 1 and not scheduled & {i for i, _k, r in tasks[0] if r == "positive"}


# --- verify tasks ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def val_predictions(predictions_dir):
    """Three models' top-5 on the first 300 val images (manifest order), and those images."""
    val = load_dataset("imagenet-validation-original")
    models = ("resnet50", "vgg16", "densenet121")
    ranked = [np.load(predictions_dir / "imagenet-validation-original" / f"{m}.npy")[:300] for m in models]
    return val.ids[:300], val.labels[:300], ranked


def test_proposals_are_union_of_top_k_and_original_label(val_predictions, val_class):
    ids, _labels, ranked = val_predictions
    original = IMAGENET.indices([val_class[i] for i in ids])
    proposals = propose_labels(ranked, original, k=3)
    for row, labels in enumerate(proposals):
        expected = {int(original[row])} | {int(c) for r in ranked for c in r[row, :3]}
        assert labels.tolist() == sorted(expected)
    assert 1 < np.mean([len(p) for p in proposals]) < 7


@sqlite_only
def test_verify_task_asks_about_each_proposed_label(project, tmp_path, val_predictions, val_class):
    ids, labels, ranked = val_predictions
    path = tmp_path / "val300.json"
    Manifest.create(ids, IMAGENET.ids[labels]).save(path)
    add_reference(project, split="val", dataset=str(path))
    proposals = dict(zip(ids.tolist(), propose_labels(ranked, labels, k=2), strict=True))
    task_ids = build_verify_tasks(project, proposals=proposals, seed=0)
    tasks = shown(project, task_ids)
    assert len(tasks) == 300
    by_image = {t[0][0]: t for t in tasks}
    for image, wanted in proposals.items():
        questions = by_image[image]
        assert {i for i, _k, _r in questions} == {image} and {r for *_x, r in questions} == {"candidate"}
        assert sorted(IMAGENET.index(k) for _i, k, _r in questions) == wanted.tolist()
    with project.transaction() as session:
        flagged = session.execute(
            select(Question.image_id, Question.class_key).where(Question.is_original_label)
        ).all()
        kinds = set(session.scalars(select(Task.kind).where(Task.task_id.in_(task_ids))))
    assert kinds == {"verify"} and sorted(flagged) == sorted((i, val_class[i]) for i in ids.tolist())


@sqlite_only
def test_verify_refuses_images_not_in_the_catalog(project):
    with pytest.raises(ConfigError, match="not in the catalog"):
        build_verify_tasks(project, proposals={"ILSVRC2012_val_00000001.JPEG": ["n01751748"]}, seed=0)


@sqlite_only
def test_golden_verify_tasks_are_mixed_in(project, tmp_path, val_predictions):
    ids, labels, ranked = val_predictions
    path = tmp_path / "val300.json"
    Manifest.create(ids, IMAGENET.ids[labels]).save(path)
    add_reference(project, split="val", dataset=str(path))
    with project.transaction() as session:
        session.add_all(
            Question(image_id=i, class_key=IMAGENET.ids[label], is_golden=True)
            for i, label in zip(ids[:5], labels[:5], strict=True)
        )
    proposals = {i: [int(label)] for i, label in zip(ids[5:25].tolist(), labels[5:25], strict=True)}
    tasks = shown(project, build_verify_tasks(project, proposals=proposals, seed=0, golden_tasks=3))
    golden = [t for t in tasks if t[0][2] == "golden"]
    assert len(tasks) == 23 and len(golden) == 3
    assert {t[0][0] for t in golden} <= set(ids[:5].tolist())


@sqlite_only
def test_cli_build_grid_needs_a_seed_and_builds(project, tmp_path, published):
    from typer.testing import CliRunner

    from heldout.cli.crowd_tasks import app

    setup_class(project, tmp_path, CLASS, published[CLASS][:42])
    runner = CliRunner()
    assert runner.invoke(app, ["build", "grid", "-P", str(project.root)]).exit_code == 2
    result = runner.invoke(app, ["build", "grid", "--seed", "0", "--classes", CLASS, "-P", str(project.root)])
    assert result.exit_code == 0 and "built 1 grid task(s)" in result.output
