"""heldout answers import-real / aggregate / workers / labels export, end to end on a project."""

from __future__ import annotations

import json

import pytest


@pytest.fixture()
def sliced_project(tmp_path, real_slice, run_cli):
    code, _, err = run_cli("init", tmp_path / "p")
    assert code == 0, err
    code, out, err = run_cli("answers", "import-real", real_slice, "-P", tmp_path / "p")
    assert code == 0, err
    return tmp_path / "p", out


def test_import_real_reports_counts(sliced_project):
    _, out = sliced_project
    assert "3000 questions" in out and "raters 15,000" in out


def test_dawid_skene_reports_convergence_and_the_released_labels_note(sliced_project, run_cli):
    project, _ = sliced_project
    code, out, _ = run_cli("aggregate", "dawid-skene", "--grouped-prior", "-P", project)
    assert code == 0 and "converged" in out and "released labels" in out


def test_frequency_and_majority_run(sliced_project, run_cli):
    project, _ = sliced_project
    for method in ("frequency", "majority"):
        code, out, _ = run_cli("aggregate", method, "-P", project)
        assert code == 0 and "3,000 questions scored" in out


def test_labels_export_writes_real_json_format(sliced_project, run_cli, tmp_path):
    project, _ = sliced_project
    run_cli("aggregate", "dawid-skene", "-P", project)
    code, out, _ = run_cli("labels", "export", tmp_path / "labels.json", "-P", project)
    lists = json.loads((tmp_path / "labels.json").read_text())
    assert code == 0 and "wrote" in out
    assert all(isinstance(x, list) for x in lists) and len(lists) == int(
        out.split(": ")[1].split(" ")[0].replace(",", "")
    )


def test_labels_export_without_scores_says_to_aggregate_first(sliced_project, run_cli, tmp_path):
    project, _ = sliced_project
    code, _, err = run_cli("labels", "export", tmp_path / "labels.json", "-P", project)
    assert code == 2 and "heldout aggregate dawid-skene" in err
    assert not (tmp_path / "labels.json").exists()


def test_workers_table_flags_rater_145_on_the_full_release(real_project, run_cli, tmp_path):
    project, _ = real_project
    code, out, _ = run_cli("workers", "-P", project.root, "--csv", tmp_path / "workers.csv")
    rows = (tmp_path / "workers.csv").read_text().splitlines()
    assert code == 0 and "likely spammer" in out
    assert rows[0].startswith("worker_id,answers,correct,accuracy") and len(rows) == 1 + 81


def test_import_real_of_a_missing_folder_exits_2(tmp_path, run_cli):
    run_cli("init", tmp_path / "p")
    code, _, err = run_cli("answers", "import-real", tmp_path / "nowhere", "-P", tmp_path / "p")
    assert code == 2 and "not found" in err
