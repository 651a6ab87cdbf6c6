"""Project: create, open, transactions, runs, classes — on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from heldout.catalog import Blacklist, ImageClass, Run
from heldout.config import ProjectConfig
from heldout.errors import ConfigError, ProjectError, ProjectNotFoundError
from heldout.project import Project, utcnow


def test_create_writes_config_and_fills_the_class_table(project):
    assert (project.root / "heldout.toml").is_file()
    with project.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ImageClass)) == 1000
        assert session.get(ImageClass, 0).key == "n01440764"


def test_open_finds_the_same_catalog(project):
    with project.transaction() as session:
        session.add(Blacklist(image_id="x", reason="test", created_at=utcnow()))
    reopened = Project.open(project.root)
    with reopened.transaction() as session:
        assert session.get(Blacklist, "x").reason == "test"
    reopened.close()


def test_transaction_rolls_back_on_error(project):
    with pytest.raises(RuntimeError), project.transaction() as session:
        session.add(Blacklist(image_id="y", reason="r", created_at=utcnow()))
        session.flush()
        raise RuntimeError("boom")
    with project.transaction() as session:
        assert session.get(Blacklist, "y") is None


def test_nested_transaction_rolls_back_only_the_inner_part(project):
    with project.transaction() as session:
        session.add(Blacklist(image_id="outer", reason="r", created_at=utcnow()))
        with pytest.raises(RuntimeError), project.transaction() as inner:
            inner.add(Blacklist(image_id="inner", reason="r", created_at=utcnow()))
            inner.flush()
            raise RuntimeError("inner fails")
    with project.transaction() as session:
        assert session.get(Blacklist, "outer") is not None
        assert session.get(Blacklist, "inner") is None


def test_run_inside_a_transaction_keeps_its_counts(project):
    with project.transaction(), project.run("review-accept", {}) as run:
        run.counts["classes"] = 10
    with project.transaction() as session:
        assert session.scalars(select(Run)).one().counts == {"classes": 10}


def test_outer_rollback_undoes_a_released_savepoint(project):
    with pytest.raises(RuntimeError), project.transaction():
        with project.transaction() as inner:  # the first write of the transaction is in a savepoint
            inner.add(Blacklist(image_id="saved", reason="r", created_at=utcnow()))
        raise RuntimeError("outer fails")
    with project.transaction() as session:
        assert session.get(Blacklist, "saved") is None


def test_run_records_parameters_version_and_failure(project):
    with pytest.raises(ValueError), project.run("collect", {"source": "folder"}, seed=7) as run:
        run.counts["added"] = 3
        raise ValueError("bad")
    with project.transaction() as session:
        record = session.scalars(select(Run)).one()
    assert (record.stage, record.status, record.seed, record.counts) == ("collect", "failed", 7, {"added": 3})
    assert "ValueError: bad" in record.error and record.finished_at is not None


def test_create_refuses_an_existing_project(project):
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(project.root)


def test_open_without_config_says_to_init(tmp_path):
    with pytest.raises(ProjectNotFoundError, match="heldout init"):
        Project.open(tmp_path)


def test_user_class_set_from_csv(tmp_path):
    (tmp_path / "classes.csv").write_text(
        "id,name,synonyms,description\nshirt,Shirt,tee;top,a garment\nbag,Bag,,\n"
    )
    with Project.create(tmp_path / "p", classes=tmp_path / "classes.csv") as project:
        assert project.classes.ids.tolist() == ["shirt", "bag"]
        assert project.classes["shirt"].names == ("Shirt", "tee", "top")


def test_config_rejects_a_password_in_the_catalog_url(tmp_path):
    with pytest.raises(ConfigError, match="password"):
        (tmp_path / "heldout.toml").write_text('catalog_url = "postgresql://me:secret@db/x"\n')
        ProjectConfig.load(tmp_path / "heldout.toml")


def test_config_rejects_unknown_settings_with_the_field_name(tmp_path):
    (tmp_path / "heldout.toml").write_text("[images]\nmin_side = 3\n")
    with pytest.raises(ConfigError, match="images.min_side"):
        ProjectConfig.load(tmp_path / "heldout.toml")


def test_config_defaults_work_without_a_file(tmp_path):
    config = ProjectConfig.load(tmp_path / "missing.toml")
    assert config.images.min_side_px == 75 and str(config.flickr.min_taken_date) == "2012-07-11"


def test_project_on_s3_store(tmp_path, s3_url):
    with Project.create(tmp_path / "p", store_url=s3_url) as project:
        assert project.store.is_remote
        project.store.put(project.store.key("ab" * 32), b"bytes")
        assert project.store.get(project.store.key("ab" * 32)) == b"bytes"


def test_create_with_an_unreachable_catalog_leaves_no_project_behind(tmp_path):
    with pytest.raises(ProjectError):
        Project.create(tmp_path / "p", catalog_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert not (tmp_path / "p").exists()
