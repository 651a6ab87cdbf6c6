"""The simulated crowd: real raters' behaviour, truth by pixels, answers through the live app."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from heldout.catalog import Answer, Assignment
from heldout.collect import FolderSource, collect
from heldout.collect.reference import add_reference
from heldout.config import CONFIG_FILE, ProjectConfig
from heldout.crowd.tasks import build_grid_tasks
from heldout.demo.crowd import (
    CrowdSettings,
    SimulatedWorker,
    draw_workers,
    load_raters,
    pixel_key,
    run_crowd,
    served_key,
    truth_table,
)
from heldout.demo.fashion import DEBIAN_FOLDER, load_fashion_mnist, png_bytes
from heldout.images import prepare
from heldout.ingest import ingest
from heldout.project import Project


def test_load_raters_gives_the_85_real_raters_with_row_stochastic_confusions():
    raters = load_raters()
    assert raters.confusion.shape == (85, 2, 3)
    assert np.allclose(raters.confusion.sum(axis=2), 1, atol=1e-3)
    assert raters.answers.sum() == 924_810


def test_draw_workers_is_seeded():
    first = draw_workers(load_raters(), 10, np.random.default_rng(1))
    again = draw_workers(load_raters(), 10, np.random.default_rng(1))
    assert [w.rater_id for w in first] == [w.rater_id for w in again]


def test_a_worker_ticks_by_its_confusion_matrix_with_maybe_as_a_coin_flip():
    confusion = np.array([[0.9, 0.1, 0.0], [0.2, 0.4, 0.4]])
    worker = SimulatedWorker("w", 1, confusion)
    rng = np.random.default_rng(0)
    fits = np.ones(20_000, dtype=bool)
    assert worker.ticks(fits, rng, maybe_tick=0.5).mean() == pytest.approx(0.6, abs=0.02)
    assert worker.ticks(~fits, rng, maybe_tick=0.5).mean() == pytest.approx(0.05, abs=0.01)


def test_maybe_counts_as_a_tick_by_default():
    assert CrowdSettings().maybe_tick == 1.0


def test_pixel_key_depends_on_pixels_and_shape_not_on_the_encoding():
    pixels = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    png, bmp = io.BytesIO(), io.BytesIO()
    Image.fromarray(pixels).save(png, "PNG")
    Image.fromarray(pixels).save(bmp, "BMP")
    assert served_key(png.getvalue()) == served_key(bmp.getvalue()) == pixel_key(pixels)
    assert pixel_key(pixels.reshape(8, 2, 3)) != pixel_key(pixels)


def test_truth_table_keys_the_rendition_ingest_serves():
    pixels = (np.arange(28 * 28) % 251).astype(np.uint8).reshape(28, 28)
    data = png_bytes(pixels)
    table = truth_table([(data, "bag"), (png_bytes(255 - pixels), None)], jpeg_quality=90, workers=1)
    served = prepare(data, min_side_px=16, jpeg_quality=90).renditions["500"]
    assert table[served_key(served)] == "bag"
    assert list(table.values()).count(None) == 1


@pytest.fixture(scope="module")
def crowd_project(tmp_path_factory):
    """A real project: 20 trouser candidates, 10 reference images each of trouser and dress,
    ingested, with grid tasks of 12 images (2 + 2 controls), 3 assignments each."""
    if not DEBIAN_FOLDER.is_dir():
        pytest.skip(
            f"Fashion-MNIST is not installed at {DEBIAN_FOLDER} (apt-get install dataset-fashion-mnist)"
        )
    fashion = load_fashion_mnist()
    root = tmp_path_factory.mktemp("crowd")
    sources = []
    for folder, images, labels, count in (
        ("reference", fashion.test_images, fashion.test_labels, 10),
        ("pool", fashion.train_images, fashion.train_labels, 20),
    ):
        for label, key in ((1, "trouser"), (3, "dress")):
            if folder == "pool" and key == "dress":
                continue
            for index in np.flatnonzero(labels == label)[:count].tolist():
                path = root / folder / key / f"{folder}-{index}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(png_bytes(images[index]))
                sources.append((path.read_bytes(), key))
    project = Project.create(root / "project", classes="fashion-mnist")
    config = ProjectConfig.load(project.root / CONFIG_FILE)
    config.model_copy(update={"images": config.images.model_copy(update={"min_side_px": 16})}).save(
        project.root / CONFIG_FILE
    )
    project.close()
    project = Project.open(root / "project")
    add_reference(project, split="test", folder=root / "reference")
    collect(project, FolderSource(root / "pool"))
    ingest(project)
    build_grid_tasks(
        project,
        seed=0,
        images_per_task=12,
        positive_controls=2,
        negative_controls=2,
        assignments=3,
        reference_split="test",
    )
    truth = truth_table(sources, jpeg_quality=project.config.images.jpeg_quality, workers=1)
    report = run_crowd(project.root, project.classes, truth, settings=CrowdSettings(workers=6, seed=0))
    yield project, report
    project.close()


def test_run_crowd_submits_every_assignment_through_the_app(crowd_project):
    project, report = crowd_project
    with project.transaction() as session:
        submitted = session.scalar(select(func.count()).where(Assignment.status == "submitted"))
        answers = session.scalar(select(func.count()).select_from(Answer))
    assert report.assignments == submitted >= 3 * 3
    assert answers == 12 * submitted


def test_run_crowd_recognises_every_served_image_by_its_pixels(crowd_project):
    _, report = crowd_project
    assert report.images_loaded == 12 * report.assignments
    assert report.unknown_images == 0


def test_run_crowd_says_the_crowd_is_simulated_and_how(crowd_project):
    _, report = crowd_project
    text = report.describe(CrowdSettings())
    assert text.startswith("SIMULATED crowd")
    assert "ReaL raters" in text and "'maybe' = a tick with probability 1" in text
