"""heldout dedup ..., end to end on projects: real photos, and the published ImageNetV2 files."""

from __future__ import annotations

import json
import shutil

import pytest

from heldout.collect import FolderSource, collect
from heldout.ingest import ingest
from heldout.project import Project


@pytest.fixture()
def photo_project(tmp_path, photo_folder, run_cli):
    code, _, err = run_cli("init", tmp_path / "p")
    assert code == 0, err
    with Project.open(tmp_path / "p") as project:
        collect(project, FolderSource(photo_folder), classes=["n02123045", "n07920052"])
        ingest(project)
        ids = project.images.ids(role="candidate")
    return tmp_path / "p", ids


def test_neighbours_threshold_review_accept_and_resolve(photo_project, run_cli):
    project, ids = photo_project
    code, out, err = run_cli(
        "dedup", "neighbours", "l2", "--against", "candidates", "--k", "2", "-P", project
    )
    assert code == 0 and f"{len(ids)} candidate(s) searched" in out, err
    code, out, _ = run_cli("dedup", "threshold", "l2", "1e13", "-P", project)
    assert code == 0 and out.splitlines() == ["dssim\t0.2205", "l2\t1e+13"]
    code, out, _ = run_cli("dedup", "review", "-P", project)
    assert code == 0 and f"{len(ids)} row(s) need review" in out
    code, out, _ = run_cli(
        "dedup", "review", "--accept", ids[0], "--duplicate", ids[1], "--reviewer", "ana", "-P", project
    )
    assert code == 0 and "1 duplicate(s)" in out
    code, out, _ = run_cli("dedup", "review", "-P", project)
    assert f"{len(ids) - 1} row(s) need review" in out
    code, out, _ = run_cli("dedup", "resolve", "-P", project)
    assert code == 0 and "1 component(s): 1 kept, 1 duplicate, 0 reference" in out


def test_unknown_metric_exits_2_with_the_fix(photo_project, run_cli):
    project, _ = photo_project
    code, _, err = run_cli("dedup", "neighbours", "fc7", "-P", project)
    assert code == 2 and "unknown metric" in err and "efficientnet-lite0" in err


def test_dssim_on_a_shortlist_of_l2_neighbours(photo_project, run_cli):
    project, ids = photo_project
    code, out, err = run_cli("dedup", "neighbours", "dssim", "--shortlist", "l2", "-P", project)
    assert code == 2 and "no l2 neighbours" in err and "heldout dedup neighbours l2" in err
    run_cli("dedup", "neighbours", "l2", "--against", "candidates", "--k", "2", "-P", project)
    code, out, err = run_cli(
        "dedup", "neighbours", "dssim", "--shortlist", "l2", "--shortlist-depth", "1", "-P", project
    )
    assert code == 0 and f"{len(ids)} candidate(s) searched, {len(ids)} neighbour rows" in out, err


def test_import_report_and_export_of_the_published_files(tmp_path, shared_data, run_cli):
    metadata = shared_data / "imagenetv2" / "metadata"
    if not metadata.is_dir():
        pytest.skip(f"published ImageNetV2 metadata not found in {metadata}")
    folder = (
        tmp_path / "metadata"
    )  # the duplicates and overrides only: the reviews and blacklist import slowly
    folder.mkdir()
    for name in ("near_duplicates.json", "near_duplicate_resolution_override.json"):
        shutil.copy(metadata / name, folder / name)
    run_cli("init", tmp_path / "p")
    code, out, err = run_cli("dedup", "import", folder, "-P", tmp_path / "p")
    assert code == 0 and "16361 duplicates" in out, err
    code, out, _ = run_cli("dedup", "report", "-P", tmp_path / "p")
    assert (
        code == 0
        and "dfc2eea7c7e0d6bdb3e300f959ece20c37ad4bf7" in out
        and "720af39de565400540e8c9c9e306c768b287f622" in out
    )
    code, out, _ = run_cli("dedup", "export", tmp_path / "out", "-P", tmp_path / "p")
    assert code == 0
    assert json.loads((tmp_path / "out" / "near_duplicate_resolution_override.json").read_text()) == [
        "15ff82dcf40eb6a12ea128a57e06fc938ef719a6"
    ]
