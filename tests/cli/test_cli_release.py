"""``heldout release``, ``heldout verify`` and ``heldout datasets import|export`` end to end."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from heldout.catalog import Dataset, DatasetImage, Image
from heldout.collect import FolderSource, collect
from heldout.ingest import ingest
from heldout.project import Project


@pytest.fixture()
def project_dir(tmp_path, photo_folder):
    """A project whose 4 ingested photos form the sampled set ``photos-c-0`` (licenses not recorded)."""
    with Project.create(tmp_path / "project") as project:
        images = project.config.images.model_copy(update={"workers": 1})  # a thread: no process start-up
        project.config = project.config.model_copy(update={"images": images})
        collect(project, FolderSource(photo_folder))
        ingest(project)
        with project.transaction() as session:
            pairs = session.execute(select(Image.image_id, Image.class_key).order_by(Image.image_id)).all()
            manifest = {
                "sampling_function": "sample_best",
                "seed": 3,
                "image_filenames": [list(p) for p in pairs],
            }
            dataset = Dataset(
                name="photos-c-0",
                variant="c",
                revision=0,
                seed=3,
                is_valid=True,
                manifest=manifest,
                created_at=datetime(2026, 1, 1),
            )
            session.add(dataset)
            session.flush()
            session.add_all(
                DatasetImage(dataset_id=dataset.dataset_id, position=i, image_id=p[0], class_key=p[1])
                for i, p in enumerate(pairs)
            )
    return tmp_path / "project"


def test_release_then_verify_exits_0(run_cli, project_dir, tmp_path):
    code, out, _ = run_cli(
        "release", "photos-c-0", "--out", tmp_path / "rel", "-f", "tar.gz", "-l", "unknown", "-P", project_dir
    )
    assert code == 0 and "4 images as files" in " ".join(out.split())
    code, out, _ = run_cli("verify", tmp_path / "rel")
    assert code == 0 and "0 changed, 0 missing, 0 extra, 0 renamed" in " ".join(out.split())


def test_default_licenses_withhold_photos_without_a_license(run_cli, project_dir, tmp_path):
    code, out, _ = run_cli(
        "release", "photos-c-0", "--out", tmp_path / "rel", "-f", "tar.gz", "-P", project_dir
    )
    assert code == 0 and "4 URL-only because: license" in " ".join(out.split())


def test_verify_exits_1_and_names_each_difference(run_cli, project_dir, tmp_path):
    run_cli(
        "release", "photos-c-0", "--out", tmp_path / "rel", "-f", "tar.gz", "-l", "unknown", "-P", project_dir
    )
    images = sorted((tmp_path / "rel" / "images").rglob("*.jpeg"))
    data = bytearray(images[0].read_bytes())
    data[100] ^= 0xFF
    images[0].write_bytes(bytes(data))
    images[1].rename(images[1].with_name("renamed.jpeg"))
    images[2].unlink()
    code, out, _ = run_cli("verify", tmp_path / "rel")
    flat = " ".join(out.split())
    assert code == 1 and "1 changed, 1 missing, 0 extra, 1 renamed" in flat
    assert images[1].with_name("renamed.jpeg").relative_to(tmp_path / "rel").as_posix() in flat


def test_bad_input_exits_2_and_writes_nothing(run_cli, project_dir, tmp_path):
    (tmp_path / "rel").mkdir()
    (tmp_path / "rel" / "x").write_text("x")
    assert run_cli("release", "photos-c-0", "--out", tmp_path / "rel", "-P", project_dir)[0] == 2
    code, _, err = run_cli("release", "photos-x-0", "--out", tmp_path / "new", "-P", project_dir)
    assert code == 2 and "no sampled dataset named 'photos-x-0'" in err and not (tmp_path / "new").exists()
    assert run_cli("verify", tmp_path / "missing")[0] == 2
    assert run_cli("release", "photos-c-0", "--out", tmp_path / "new", "-f", "zip", "-P", project_dir)[0] == 2


def test_datasets_import_then_export_gives_the_published_bytes(run_cli, tmp_path, shared_data):
    Project.create(tmp_path / "p").close()
    code, out, _ = run_cli("datasets", "import", "imagenetv2-c-12", "-P", tmp_path / "p")
    assert code == 0 and "added imagenetv2-c-12" in out
    code, _, _ = run_cli(
        "datasets", "export", "imagenetv2-c-12", "--out", tmp_path / "c.json", "-P", tmp_path / "p"
    )
    published = shared_data / "imagenetv2" / "datasets" / "imagenetv2-c-12.json"
    assert code == 0 and (tmp_path / "c.json").read_bytes() == published.read_bytes()
