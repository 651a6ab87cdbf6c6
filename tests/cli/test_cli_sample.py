"""heldout sample threshold|matched-frequency|top-images on a project of metadata-only scored images."""

from __future__ import annotations

import pytest

from heldout.project import Project
from heldout.sampling import dataset_manifest

TENCH, GOLDFISH = "n01440764", "n01443537"
CLASSES = f"{TENCH},{GOLDFISH}"


@pytest.fixture()
def scored_project(tmp_path, run_cli, scored_images):
    code, _, err = run_cli("init", tmp_path / "p")
    assert code == 0, err
    rows = [(f"{key}-{i}", "candidate", key, 0.5 + i / 20, 10) for key in (TENCH, GOLDFISH) for i in range(8)]
    references = [
        (f"val-{key}-{i:02d}", "reference", key, 0.9, 10) for key in (TENCH, GOLDFISH) for i in range(20)
    ]
    with Project.open(tmp_path / "p") as project:
        scored_images(project, rows)
        scored_images(project, [(f"{TENCH}-late", "candidate", TENCH, 0.9, 3), *references], reviewed=False)
    return tmp_path / "p"


def test_threshold_writes_the_stored_manifest_and_says_valid(scored_project, run_cli, tmp_path):
    out = tmp_path / "t-a-0.json"
    code, stdout, err = run_cli(
        "sample", "threshold", "--name", "t", "--seed", 11, "--per-class", 2, "--classes", CLASSES,
        "--out", out, "-P", scored_project,
    )  # fmt: skip
    assert code == 0, err
    assert "t-a-0: 4 images, valid" in stdout and "wrote" in stdout
    assert "excluded candidates: 0 blacklisted" in stdout and "1 few annotations" in stdout
    with Project.open(scored_project) as project:
        assert out.read_bytes() == dataset_manifest(project, "t-a-0").to_bytes()


def test_a_short_class_exits_1_and_prints_reasons_and_next_step(scored_project, run_cli):
    code, stdout, _ = run_cli(
        "sample", "threshold", "--name", "t", "--seed", 1, "--per-class", 6, "--classes", CLASSES,
        "-P", scored_project,
    )  # fmt: skip
    assert code == 1 and "INVALID: 2 classes could not be filled" in stdout
    assert "few annotations" in stdout and "below threshold" in stdout
    assert f"{TENCH}: collect annotations for 1 candidates" in stdout and "heldout collect" in stdout


def test_matched_frequency_starts_from_the_previous_revision(scored_project, run_cli):
    base = ("--name", "m", "--per-class", 2, "--classes", CLASSES, "-P", scored_project)
    assert run_cli("sample", "matched-frequency", "--seed", 3, *base)[0] == 0
    code, stdout, err = run_cli("sample", "matched-frequency", "--seed", 4, "--from", "m-b-0", *base)
    assert code == 0, err
    assert "m-b-1: 4 images, valid" in stdout and "4 carried over" in stdout


def test_top_images_without_duplicate_review_are_recorded_as_such(scored_project, run_cli, tmp_path):
    code, _, err = run_cli(
        "sample", "top-images", "--name", "c", "--seed", 5, "--per-class", 1, "--classes", TENCH,
        "--no-duplicate-review", "--out", tmp_path / "c.json", "-P", scored_project,
    )  # fmt: skip
    assert code == 0, err
    assert '"require_duplicate_review": false' in (tmp_path / "c.json").read_text()
    assert f'"{TENCH}-late"' not in (tmp_path / "c.json").read_text()  # 3 annotations


@pytest.fixture(scope="module")
def untouched_project(tmp_path_factory, scored_images):
    """One project for the commands that must fail before writing anything."""
    root = tmp_path_factory.mktemp("sample-cli") / "p"
    with Project.create(root) as project:
        scored_images(project, [(f"{TENCH}-{i}", "candidate", TENCH, 0.9, 10) for i in range(3)])
    return root


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--seed", "abc"), "--seed"),
        (("--seed", 1, "--from", "other-a-0"), "no dataset named 'other-a-0'"),
        (("--seed", 1, "--class-threshold", "n03804744:0.5"), "not CLASS=VALUE"),
        (("--seed", 1, "--classes", "n99999999"), "missing from the class set"),
    ],
)
def test_bad_input_exits_2_with_a_message(untouched_project, run_cli, arguments, message):
    code, _, err = run_cli("sample", "threshold", "--name", "t", *arguments, "-P", untouched_project)
    assert code == 2 and message in err


def test_an_existing_revision_is_not_overwritten(scored_project, run_cli):
    base = ("sample", "top-images", "--name", "c", "--seed", 1, "--classes", TENCH, "--per-class", 1)
    assert run_cli(*base, "-P", scored_project)[0] == 0
    code, _, err = run_cli(*base, "-P", scored_project)
    assert code == 2 and "exists already" in err
