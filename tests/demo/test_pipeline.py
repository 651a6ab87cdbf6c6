"""End to end: ``heldout demo --small`` builds and analyses Fashion-MNIST-V2 through every stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from heldout.catalog import Run
from heldout.datasets import load_dataset
from heldout.datasets.verify import verify
from heldout.demo.fashion import DEBIAN_FOLDER
from heldout.demo.pipeline import STAGES
from heldout.project import Project

# The small demo is budgeted at under 4 minutes on 2 idle cores; the module runs it twice (the
# second run reuses every stage), and the limit leaves room for a busy machine.
pytestmark = pytest.mark.timeout(900)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One run of ``heldout demo --small`` (the slow part, shared), then a second, resumed run."""
    if not DEBIAN_FOLDER.is_dir():
        pytest.skip(
            f"Fashion-MNIST is not installed at {DEBIAN_FOLDER} (apt-get install dataset-fashion-mnist)"
        )
    from typer.testing import CliRunner

    from heldout.cli import app

    out = tmp_path_factory.mktemp("demo") / "fmnist-v2"
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--small", "--out", str(out)], env={"COLUMNS": "200"})
    second = runner.invoke(app, ["demo", "--small", "--out", str(out)], env={"COLUMNS": "200"})
    return out, first, second


def _released(out: Path) -> dict[str, Path]:
    return {folder.name: folder for folder in sorted((out / "releases").iterdir())}


def test_demo_exits_0_and_ends_with_the_drop_and_the_report_path(demo):
    out, first, _ = demo
    assert first.exit_code == 0, first.output
    assert "average drop" in first.output
    assert str(out / "report" / "index.html") in " ".join(first.output.split())


def test_demo_says_the_crowd_is_simulated_and_how(demo):
    _, first, _ = demo
    text = " ".join(first.output.split())
    assert "SIMULATED crowd" in text and "ReaL raters" in text and "'maybe'" in text


def test_every_released_set_verifies(demo):
    out, _, _ = demo
    releases = _released(out)
    assert len(releases) == 3
    for folder in releases.values():
        assert verify(folder).ok, folder


def _contamination(out: Path, *kinds: str) -> set[str]:
    manifest = json.loads((out / "sources" / "contamination.json").read_text())
    return {image_id for image_id, entry in manifest.items() if entry["kind"] in kinds}


def _released_ids(out: Path) -> dict[str, set[str]]:
    return {name: set(load_dataset(folder).ids.tolist()) for name, folder in _released(out).items()}


def test_no_exact_copy_is_in_any_released_set(demo):
    out, _, _ = demo
    exact = _contamination(out, "exact")
    assert len(exact) == 20
    for name, ids in _released_ids(out).items():
        assert not ids & exact, name


def test_no_digit_is_in_the_threshold_or_top_images_set(demo):
    out, _, _ = demo
    digits = _contamination(out, "digit")
    for name, ids in _released_ids(out).items():
        if name.endswith(("-a-0", "-c-0")):
            assert not ids & digits, name


def test_at_least_95_percent_of_near_copies_are_kept_out_of_every_released_set(demo):
    out, first, _ = demo
    near = _contamination(out, "jpeg", "resized", "shifted")
    released = set().union(*_released_ids(out).values())
    assert len(near) == 30 and len(near & released) <= 0.05 * len(near)
    assert "near copies found" in " ".join(first.output.split())


def test_every_set_was_sampled_after_a_full_duplicate_review_in_three_metrics(demo):
    out, first, _ = demo
    for folder in _released(out).values():
        metadata = json.loads((folder / "manifest.json").read_text())
        assert metadata["require_duplicate_review"] is True
        assert set(metadata["near_duplicate_review_targets"]) == {"dssim", "efficientnet-lite0", "l2"}
    assert "DSSIM on their first 3 neighbours" in " ".join(first.output.split())


def test_each_set_reports_why_candidates_were_excluded(demo):
    _, first, _ = demo
    lines = [line for line in first.output.splitlines() if "candidates excluded:" in line]
    assert len(lines) == 3 and all("near duplicate" in line for line in lines)
    assert "below threshold" in lines[0]  # only the Threshold rule (a) has one


def test_every_stage_left_its_run_record(demo):
    out, _, _ = demo
    with Project.open(out / "project") as project, project.transaction() as session:
        done = set(session.scalars(select(Run.stage).where(Run.status == "done")))
    assert {f"demo-{name}" for name, *_ in STAGES} <= done
    assert {"collect", "ingest", "crowd-grid", "aggregate", "dedup-neighbours", "dedup-resolve"} <= done


def test_a_second_run_reuses_every_finished_stage(demo):
    _, _, second = demo
    assert second.exit_code == 0, second.output
    assert second.output.count("reused") >= len(STAGES)


def test_the_report_loads_in_chromium_without_console_errors(demo, browser):
    out, _, _ = demo
    ARTIFACTS.mkdir(exist_ok=True)
    reports = [out / "report" / "index.html", *sorted((out / "report").glob("fashion-mnist-v2-*.html"))]
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    for report in reports:
        page.goto(report.as_uri())
        assert page.locator("h1").count() >= 1
    page.goto((out / "report" / "fashion-mnist-v2-b-0.html").as_uri())  # MatchedFrequency, for the README
    page.screenshot(path=ARTIFACTS / "demo-report.png", full_page=True)
    page.close()
    assert len(reports) == 4
    assert errors == []


def test_demo_without_fashion_mnist_exits_2_saying_how_to_get_it(run_cli, tmp_path):
    code, out, err = run_cli(
        "demo", "--small", "--fashion-mnist", tmp_path / "none", "--out", tmp_path / "out"
    )
    message = " ".join(err.split())
    assert code == 2
    assert "Fashion-MNIST was not found" in message
    assert "apt-get install dataset-fashion-mnist" in message and "--fashion-mnist DIR" in message
    assert not (tmp_path / "out").exists()


def test_average_drop_is_the_mean_accuracy_difference_with_a_bootstrap_interval():
    from heldout.demo.pipeline import average_drop

    rng = np.random.default_rng(0)
    original = {m: rng.random(2000) < 0.8 for m in ("a", "b")}
    new = {m: rng.random(500) < 0.7 for m in ("a", "b")}
    drop, low, high = average_drop(original, new, seed=0)
    assert drop == pytest.approx(10.0, abs=3.0)
    assert low < drop < high
    assert average_drop(original, new, seed=0) == (drop, low, high)
