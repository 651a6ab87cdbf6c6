"""``heldout review status|accept|carry-over`` on a project with two sampled revisions."""

from __future__ import annotations

import pytest

from heldout.project import Project
from heldout.review import update_class
from reviewtools import ESPRESSO, TABBY, add_images, make_dataset

IMAGES = [(f"t{i}", TABBY) for i in range(3)] + [(f"e{i}", ESPRESSO) for i in range(3)]


@pytest.fixture()
def root(tmp_path):
    """Revision ``cli-b-0`` (3 tabby, 3 espresso metadata-only images) and ``cli-b-1``, which
    differs in one espresso image; tabby is reviewed in ``cli-b-0``."""
    with Project.create(tmp_path / "project") as project:
        add_images(project, [i for i, k in IMAGES if k == TABBY], role="candidate", class_key=TABBY)
        add_images(
            project, [i for i, k in IMAGES if k == ESPRESSO] + ["e3"], role="candidate", class_key=ESPRESSO
        )
        make_dataset(project, "cli-b-0", IMAGES)
        make_dataset(project, "cli-b-1", [*IMAGES[:5], ("e3", ESPRESSO)], starting_from="cli-b-0")
        update_class(project, "cli-b-0", TABBY, status="reviewed", reviewer="ada")
    return tmp_path / "project"


def test_review_status_exits_1_while_classes_are_unreviewed(run_cli, root):
    code, out, _ = run_cli("review", "status", "cli-b-0", "-P", root)
    assert code == 1
    assert "1 reviewed" in out and "1 unreviewed" in out


def test_review_status_lists_each_class_with_its_reviewer(run_cli, root):
    _, out, _ = run_cli("review", "status", "cli-b-0", "--classes", "-P", root)
    tabby_line = next(line for line in out.splitlines() if TABBY in line)
    assert "tabby" in tabby_line and "reviewed" in tabby_line and "ada" in tabby_line


def test_review_accept_marks_the_rest_reviewed_as_automatic(run_cli, root):
    code, out, _ = run_cli("review", "accept", "cli-b-0", "--reviewer", "demo", "-P", root)
    assert code == 0 and "accepted 1" in out and "auto:demo" in out
    code, out, _ = run_cli("review", "status", "cli-b-0", "-P", root)
    assert code == 0 and "2 reviewed" in out and "1 automatic" in out


def test_review_carry_over_keeps_only_unchanged_classes(run_cli, root):
    code, out, _ = run_cli("review", "carry-over", "cli-b-1", "-P", root)
    assert code == 0 and "carried over 1" in out
    _, out, _ = run_cli("review", "status", "cli-b-1", "-P", root)
    assert "1 reviewed (1 carried over" in out and "1 unreviewed" in out


def test_review_of_an_unknown_dataset_exits_2_with_a_fix(run_cli, root):
    code, _, err = run_cli("review", "status", "nope-b-0", "-P", root)
    assert code == 2 and "heldout sample" in err
