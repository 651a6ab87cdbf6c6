"""The published manifests a-44, b-33 and c-12 import into a project and export byte-identical."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from heldout.catalog import Dataset, DatasetImage, Image
from heldout.datasets import Manifest
from heldout.datasets.project_manifests import PUBLISHED_MANIFESTS, export_manifest, import_manifests
from heldout.datasets.release import release
from heldout.errors import DatasetError, ManifestError
from heldout.project import Project


def test_published_manifests_round_trip_byte_identical(project, shared_data, tmp_path):
    report = import_manifests(project)
    assert report.added == PUBLISHED_MANIFESTS and report.images_added == 20_683
    for name in PUBLISHED_MANIFESTS:
        exported = export_manifest(project, name, tmp_path / f"{name}.json").read_bytes()
        assert exported == (shared_data / "imagenetv2" / "datasets" / f"{name}.json").read_bytes()


@pytest.fixture()
def tiny_manifest(shared_data, tmp_path):
    """The first 5 images of the published c-12, as revision ``tiny-c-0`` (published keys and format)."""
    published = json.loads((shared_data / "imagenetv2" / "datasets" / "imagenetv2-c-12.json").read_bytes())
    published["image_filenames"] = published["image_filenames"][:5]
    published["output_filename"] = "tiny-c-0.json"
    path = tmp_path / "tiny-c-0.json"
    path.write_text(json.dumps(published, indent=2))
    return path


def test_imported_images_are_metadata_only_and_rows_keep_order(tmp_path, tiny_manifest):
    with Project.create(tmp_path / "p") as project:
        import_manifests(project, [tiny_manifest])
        with project.transaction() as session:
            dataset = session.scalar(select(Dataset).where(Dataset.name == "tiny-c-0"))
            ids = session.scalars(
                select(DatasetImage.image_id)
                .where(DatasetImage.dataset_id == dataset.dataset_id)
                .order_by(DatasetImage.position)
            ).all()
            statuses = dict(session.execute(select(Image.status, func.count()).group_by(Image.status)).all())
    assert list(ids) == Manifest.load(tiny_manifest).ids.tolist() and statuses == {"metadata": 5}
    assert (dataset.variant, dataset.revision, dataset.seed, dataset.starting_from) == (
        "top-images",
        0,
        940573347,
        "imagenetv2-c-11",
    )


def test_a_rerun_imports_nothing_new(tmp_path, tiny_manifest):
    with Project.create(tmp_path / "p") as project:
        import_manifests(project, [tiny_manifest])
        again = import_manifests(project, [tiny_manifest])
    assert (again.added, again.already_present, again.images_added) == ((), ("tiny-c-0",), 0)


def test_manifest_with_classes_outside_the_project_is_refused(tmp_path):
    with Project.create(tmp_path / "p", classes="fashion-mnist") as project:
        with pytest.raises(ManifestError, match="not in fashion-mnist"):
            import_manifests(project, ["imagenetv2-b-33"])
        with project.transaction() as session:
            assert session.scalar(select(func.count()).select_from(Dataset)) == 0


def test_a_manifest_file_needs_a_revision_name(tmp_path):
    path = Manifest.create(["a1"], ["n01440764"], {"output_filename": "photos.json"}).save(
        tmp_path / "photos.json"
    )
    with (
        Project.create(tmp_path / "p") as project,
        pytest.raises(DatasetError, match="<set>-<letter>-<revision>"),
    ):
        import_manifests(project, [path])


def test_an_imported_manifest_releases_as_url_only_entries(tmp_path, tiny_manifest):
    with Project.create(tmp_path / "p") as project:
        import_manifests(project, [tiny_manifest])
        report = release(project, "tiny-c-0", tmp_path / "out", formats=())
    assert (report.images, report.url_only, report.withheld) == (0, 5, {"no stored bytes": 5})
