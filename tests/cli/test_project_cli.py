"""``heldout init/collect/ingest/status/check/blacklist/add-reference`` through the command line."""

from __future__ import annotations

import csv
import re
import shutil

import pytest

from heldout.blacklist import list_blacklist
from heldout.collect import FolderSource, collect
from heldout.ingest import ingest
from heldout.project import Project

CAT, COFFEE = "n02123045", "n07920052"
CHELSEA = "0001085a51ca7bcb1ea8f9ff5f08b69694c64ef7"  # any 40-hex id will do for the blacklist


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def squeezed(text: str) -> str:
    """Output without any white space (rich wraps long paths anywhere)."""
    return "".join(text.split())


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """An ImageNet-1k project made once; tests get a copy (quicker than writing 1,000 classes each time)."""
    root = tmp_path_factory.mktemp("template") / "project"
    Project.create(root).close()
    return root


@pytest.fixture()
def project_dir(template, tmp_path):
    return shutil.copytree(template, tmp_path / "project")


@pytest.fixture()
def ingested(project_dir, photo_folder):
    """The project with photo_folder collected and ingested: 4 stored candidates."""
    with Project.open(project_dir) as project:
        collect(project, FolderSource(photo_folder))
        assert ingest(project).stored == 4
    return project_dir


@pytest.fixture()
def elsewhere(tmp_path, monkeypatch):
    """The working folder is an empty folder without a project, and HELDOUT_PROJECT is unset."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("HELDOUT_PROJECT", raising=False)
    return folder


def test_init_creates_the_config_and_a_catalog(tmp_path, run_cli):
    code, out, err = run_cli("init", tmp_path / "new")
    assert (code, err) == (0, "")
    assert (tmp_path / "new" / "heldout.toml").is_file()
    assert (tmp_path / "new" / "catalog.sqlite").is_file()
    assert "1000 classes" in flat(out)
    with Project.open(tmp_path / "new") as project:
        assert len(project.classes) == 1000


def test_init_refuses_an_existing_project(project_dir, run_cli):
    config = (project_dir / "heldout.toml").read_bytes()
    code, out, err = run_cli("init", project_dir, "--classes", "other.csv")
    assert code == 2
    assert "a project already exists here" in flat(err)
    assert (project_dir / "heldout.toml").read_bytes() == config


def test_init_with_a_missing_class_file_writes_nothing(tmp_path, elsewhere, run_cli):
    code, out, err = run_cli("init", tmp_path / "new", "--classes", "missing.csv")
    assert code == 2
    assert "class list file not found" in flat(err)
    assert f"{elsewhere / 'missing.csv'}:" in squeezed(err)  # named from the working folder
    assert not (tmp_path / "new" / "heldout.toml").exists()


def test_init_reads_a_class_file_named_from_the_working_folder(tmp_path, elsewhere, run_cli):
    (elsewhere / "classes.csv").write_text("id,name,synonyms,description\nshirt,Shirt,tee,\nbag,Bag,,\n")
    code, out, err = run_cli("init", tmp_path / "new", "--classes", "classes.csv")
    assert (code, err) == (0, "")
    with Project.open(tmp_path / "new") as project:
        assert project.classes.ids.tolist() == ["shirt", "bag"]


def test_init_with_an_unreachable_catalog_leaves_no_project_behind(tmp_path, run_cli):
    code, out, err = run_cli("init", tmp_path / "new", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/x")
    assert code == 2
    assert "cannot open the catalog" in flat(err)
    assert not (tmp_path / "new").exists()  # so fixing the URL and running init again works


def test_collect_folder_reports_new_and_known_candidates(project_dir, photo_folder, run_cli):
    code, out, err = run_cli("collect", "folder", photo_folder, "-P", project_dir)
    assert code == 0
    assert "4 new, 1 already known, 0 failed" in flat(out)
    with Project.open(project_dir) as project:
        assert project.candidates.count(CAT) == 3 and project.candidates.count(COFFEE) == 1


def test_ingest_writes_the_bad_file_report(project_dir, photo_folder, tmp_path, run_cli):
    (photo_folder / CAT / "broken.jpg").write_bytes(b"this is not a JPEG file")
    assert run_cli("collect", "folder", photo_folder, "-P", project_dir)[0] == 0
    code, out, err = run_cli("ingest", "-P", project_dir, "--report", tmp_path / "bad.csv")
    assert code == 0
    assert "stored 4, bad 1, failed downloads 0" in flat(out)
    with (tmp_path / "bad.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["status"], r["location"]) for r in rows] == [("bad", str(photo_folder / CAT / "broken.jpg"))]
    assert rows[0]["reason"]


def test_status_prints_counts_per_class(ingested, run_cli):
    code, out, err = run_cli("status", "-P", ingested)
    assert code == 0
    assert "candidates per class (2 classes with candidates)" in flat(out)
    assert re.search(rf"{CAT}\W+3\W", out) and re.search(rf"{COFFEE}\W+1\W", out)
    assert re.search(r"total\W+4\W", out)
    assert "last ingest: done" in flat(out)


def test_check_passes_on_a_consistent_project(ingested, run_cli):
    code, out, err = run_cli("check", "-P", ingested)
    assert code == 0
    assert "checked 4 stored images: 0 problem(s)" in flat(out)


def test_check_fails_when_a_rendition_file_is_missing(ingested, run_cli):
    rendition = sorted((ingested / "images" / "500").rglob("*"))[-1]
    rendition.unlink()
    code, out, err = run_cli("check", "-P", ingested)
    assert code == 1
    assert f"{rendition.name}: rendition 500 missing" in flat(out)
    assert "1 problem(s)" in flat(out)


def test_blacklist_add_then_list_shows_the_reason(project_dir, run_cli):
    code, out, _ = run_cli(
        "blacklist", "add", CHELSEA, "--reason", "[drawing] not a photo", "-P", project_dir
    )
    assert code == 0 and "blacklisted 1 new image(s)" in flat(out)
    code, out, _ = run_cli("blacklist", "list", "-P", project_dir)
    assert code == 0
    assert out.splitlines() == [f"{CHELSEA}\t[drawing] not a photo"]  # tab-separated, reason verbatim


def test_blacklist_remove_takes_an_image_off_the_list(project_dir, run_cli):
    run_cli("blacklist", "add", CHELSEA, "--reason", "a drawing", "-P", project_dir)
    code, out, _ = run_cli("blacklist", "remove", CHELSEA, "-P", project_dir)
    assert code == 0 and "removed 1 image(s)" in flat(out)
    assert run_cli("blacklist", "list", "-P", project_dir)[1] == ""


def test_blacklist_add_without_a_reason_is_refused(project_dir, run_cli):
    code, out, err = run_cli("blacklist", "add", CHELSEA, "--reason", "  ", "-P", project_dir)
    assert code == 2 and "needs a reason" in flat(err)
    with Project.open(project_dir) as project:
        assert list_blacklist(project) == []


def test_add_reference_adds_a_registered_set_as_metadata(project_dir, run_cli):
    code, out, err = run_cli("add-reference", "--dataset", "imagenet-annotatedval20k-0", "-P", project_dir)
    assert code == 0
    assert "added 20000 reference image(s) (val)" in flat(out)
    code, out, err = run_cli("status", "-P", project_dir)
    assert "reference val: 20000 metadata" in flat(out)


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["check"],
        ["ingest"],
        ["collect", "folder", "."],
        ["collect", "urls", "urls.csv"],
        ["blacklist", "list"],
        ["blacklist", "add", CHELSEA, "--reason", "blurry"],
        ["add-reference", "--dataset", "imagenet-annotatedval20k-0"],
    ],
    ids=" ".join,
)
def test_commands_outside_a_project_say_to_run_init(command, elsewhere, run_cli):
    (elsewhere / "urls.csv").write_text("url,class\n")
    code, out, err = run_cli(*command)
    assert code == 2
    assert "no heldout.toml here" in flat(err) and "run `heldout init DIR` first" in flat(err)
    assert not (elsewhere / "heldout.toml").exists() and not (elsewhere / "catalog.sqlite").exists()


def test_heldout_project_names_the_project_when_no_option_is_given(
    project_dir, photo_folder, elsewhere, monkeypatch, run_cli
):
    monkeypatch.setenv("HELDOUT_PROJECT", str(project_dir))
    code, out, err = run_cli("collect", "folder", photo_folder)
    assert code == 0 and "4 new" in flat(out)
    code, out, err = run_cli("status")
    assert code == 0 and re.search(rf"{CAT}\W+3\W", out)
    assert not (elsewhere / "catalog.sqlite").exists()
