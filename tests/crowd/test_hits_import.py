"""The 289 published ImageNetV2 grid tasks: import, and the builder reproducing their shapes."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np
import pytest
from sqlalchemy import func, select

from heldout.catalog import Image, Question, Task, TaskQuestion
from heldout.classes import ClassSet
from heldout.crowd.hits_import import import_published_hits, load_hits, reproduce_hit_shape
from heldout.crowd.tasks import build_grid_tasks
from heldout.errors import ConfigError
from heldout.project import Project

IMAGENET = ClassSet.imagenet1k()
SHAPES = {"48/42/3/3": 287, "48/22/13/13": 1, "48/9/20/19": 1}


@pytest.fixture(scope="module")
def mturk(shared_data):
    return shared_data / "imagenetv2" / "mturk"


@pytest.fixture(scope="module")
def records(mturk):
    return load_hits(mturk / "hits_2018-09-17.json")


@pytest.fixture(scope="module")
def blacklisted(mturk) -> set[str]:
    return set(json.loads((mturk / "hit_blacklist_live.json").read_text()))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def imported(request, tmp_path_factory, mturk):
    """One import of the published HITs per backend, shared by the tests that only read it."""
    url = None
    if request.param == "postgresql":
        url = _database(request.getfixturevalue("postgres_server"), "hits_import")
    with Project.create(tmp_path_factory.mktemp("hits") / "project", catalog_url=url) as project:
        yield project, _import(project, mturk)
    if url:
        _drop(url)


def _import(project, mturk):
    return import_published_hits(
        project, mturk / "hits_2018-09-17.json", blacklist_path=mturk / "hit_blacklist_live.json"
    )


def _database(server: str, name: str) -> str:
    import psycopg

    admin = server.replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def _drop(url: str) -> None:
    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(
        server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True
    ) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def task_contents(project) -> dict[str, list[tuple[str, str, str]]]:
    """uuid → (image, class, role) in display order."""
    with project.transaction() as session:
        rows = session.execute(
            select(Task.uuid, Question.image_id, Question.class_key, TaskQuestion.role)
            .join(TaskQuestion, TaskQuestion.task_id == Task.task_id)
            .join(Question, Question.question_id == TaskQuestion.question_id)
            .order_by(Task.task_id, TaskQuestion.position)
        ).all()
    tasks = defaultdict(list)
    for uuid, image, key, role in rows:
        tasks[uuid].append((image, key, role))
    return tasks


def test_published_hit_file_has_289_tasks_in_three_shapes(records):
    shapes = Counter(
        f"{len(r['images_all'])}/{len(r['images_to_label'])}/{len(r['images_pos_control'])}/{len(r['images_neg_control'])}"
        for r in records
    )
    assert len(records) == 289 and shapes == SHAPES


def test_every_published_hit_imports_with_its_images_positions_and_roles(imported, records, blacklisted):
    project, report = imported
    tasks = task_contents(project)
    kept = [r for r in records if r["uuid"] not in blacklisted]
    assert report.tasks == len(tasks) == len(kept) == 285
    for record in kept:
        role = {
            **dict.fromkeys(record["images_to_label"], "candidate"),
            **dict.fromkeys(record["images_pos_control"], "positive"),
            **dict.fromkeys(record["images_neg_control"], "negative"),
        }
        assert tasks[record["uuid"]] == [(i, record["wnid"], role[i]) for i in record["images_all"]]


def test_blacklisted_hits_are_skipped(imported, blacklisted):
    project, report = imported
    assert report.skipped_blacklisted == len(blacklisted) == 4
    assert not blacklisted & set(task_contents(project))


def test_imported_tasks_keep_the_mturk_provenance(imported, records):
    project, _report = imported
    with project.transaction() as session:
        task = session.scalars(select(Task).where(Task.uuid == records[0]["uuid"])).one()
    assert (task.kind, task.class_key, task.status, task.max_assignments) == (
        "grid",
        records[0]["wnid"],
        "done",
        10,
    )
    for key in ("hit_id", "hit_type_id", "user", "time"):
        assert task.payload[key] == records[0][key]


def test_images_are_added_as_metadata_only_candidates_and_val_references(imported, records, shared_data):
    project, report = imported
    labels = np.loadtxt(shared_data / "real" / "val_original_labels.txt", dtype=np.int64)
    with project.transaction() as session:
        images = {i.image_id: i for i in session.scalars(select(Image))}
    assert len(images) == report.candidates_added + report.references_added
    assert {i.status for i in images.values()} == {"metadata"}
    for image in images.values():
        if image.role == "reference":
            assert image.split == "val"
            assert image.class_key == IMAGENET.ids[labels[int(image.image_id[15:23]) - 1]]
    candidates = {c: r["wnid"] for r in records for c in r["images_to_label"]}
    assert all(
        images[c].role == "candidate" and images[c].class_key == w
        for c, w in candidates.items()
        if c in images
    )


def test_controls_belong_to_the_class_and_its_most_similar_class(imported, records, blacklisted, shared_data):
    """Checked against val_original_labels.txt and ImageNetV2's most-similar table: all of them hold."""
    _project, report = imported
    labels = np.loadtxt(shared_data / "real" / "val_original_labels.txt", dtype=np.int64)
    similar = json.loads(
        (shared_data / "imagenetv2" / "metadata" / "wnid_to_most_similar_wnids.json").read_text()
    )

    def val_class(name: str) -> str:
        return IMAGENET.ids[labels[int(name[15:23]) - 1]]

    kept = [r for r in records if r["uuid"] not in blacklisted]
    positives = [val_class(c) == r["wnid"] for r in kept for c in r["images_pos_control"]]
    negatives = [val_class(c) == similar[r["wnid"]][1] for r in kept for c in r["images_neg_control"]]
    assert np.mean(positives) == report.positives_of_class == 1.0
    assert np.mean(negatives) == report.negatives_of_similar == 1.0


def test_importing_again_adds_nothing(imported, mturk):
    project, _report = imported
    again = _import(project, mturk)
    assert (again.tasks, again.skipped_existing, again.candidates_added) == (0, 285, 0)


@pytest.mark.parametrize("catalog_url", [None], ids=["sqlite"])
def test_a_malformed_record_is_refused_and_nothing_is_imported(project, records, tmp_path):
    broken = [dict(records[0]), {**records[1], "images_all": records[1]["images_all"][:-1]}]
    path = tmp_path / "hits.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ConfigError, match="images_all is not the union"):
        import_published_hits(project, path)
    with project.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 0


def test_builder_reproduces_every_published_hit_shape(mturk):
    result = reproduce_hit_shape(mturk / "hits_2018-09-17.json")
    assert result.shapes == SHAPES
    assert result.matched == len(result.hits) == 289


@pytest.mark.parametrize("catalog_url", [None], ids=["sqlite"])
def test_builder_on_the_imported_catalog_makes_the_published_shapes(project, mturk, records):
    """Two short classes (22 and 9 candidates) and a three-task class, rebuilt from the catalog."""
    _import(project, mturk)
    before = set(task_contents(project))
    wnids = ["n02093859", "n02099429", "n02090379"]
    build_grid_tasks(project, seed=0, classes=wnids)
    for wnid in wnids:
        built = [t for uuid, t in task_contents(project).items() if uuid not in before and t[0][1] == wnid]
        published = [r for r in records if r["wnid"] == wnid]
        assert sorted(map(shape_of, built)) == sorted(
            (48, len(r["images_to_label"]), len(r["images_pos_control"]), len(r["images_neg_control"]))
            for r in published
        )


def shape_of(task: list[tuple[str, str, str]]) -> tuple[int, int, int, int]:
    roles = Counter(role for _image, _key, role in task)
    return (len(task), roles["candidate"], roles["positive"], roles["negative"])


@pytest.mark.parametrize("catalog_url", [None], ids=["sqlite"])
def test_cli_import_hits_prints_shapes_and_the_control_check(project, mturk):
    from typer.testing import CliRunner

    from heldout.cli.crowd_tasks import app

    args = [
        "import-hits",
        str(mturk / "hits_2018-09-17.json"),
        "--blacklist",
        str(mturk / "hit_blacklist_live.json"),
    ]
    result = CliRunner().invoke(app, [*args, "-P", str(project.root)])
    assert result.exit_code == 0, result.output
    assert "285 tasks imported; skipped 4 blacklisted" in result.output and "48/22/13/13" in result.output
