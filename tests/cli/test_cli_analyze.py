"""``heldout analyze`` on the published ImageNetV2 predictions, and bad input that exits 2."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    """Error messages are printed by rich; a wide console keeps long paths on one line."""
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture()
def four_models(predictions_dir, tmp_path):
    """The published layout with four models only: fast enough for the option and error paths."""
    root = tmp_path / "predictions"
    for folder in ("imagenet-validation-original", "imagenetv2-a-44", "imagenetv2-c-12"):
        (root / folder).mkdir(parents=True)
        for model in ("resnet50", "vgg16", "densenet121", "alexnet"):
            (root / folder / f"{model}.npy").symlink_to(predictions_dir / folder / f"{model}.npy")
    return root


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_published_predictions_give_a_report_and_plots(run_cli, predictions_dir, tmp_path):
    out = tmp_path / "report.html"
    code, stdout, _ = run_cli(
        "analyze", "--predictions", predictions_dir, "--original", "val", "--new", "b-33",
        "--reference", "testbed", "--out", out,
    )  # fmt: skip
    assert code == 0
    assert "slope 0.9680" in stdout and "testbed/matched-frequency (85 models): slope 0.962" in stdout
    assert "adjacent pairs in the ranking are not significantly different" in stdout
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["report-real.png", "report.html", "report.png"]
    assert "resnet50" in out.read_text()


def test_features_add_the_shift_check(run_cli, four_models, tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(80, 3)))
    np.save(tmp_path / "b.npy", rng.normal(size=(80, 3)))
    code, stdout, _ = run_cli(
        "analyze", "-p", four_models, "--new", "c-12", "--models", "resnet50,vgg16",
        "--models", "densenet121", "--features-original", tmp_path / "a.npy",
        "--features-new", tmp_path / "b.npy", "--out", tmp_path / "r.html",
    )  # fmt: skip
    assert code == 0
    assert "n = 3" in stdout and "shift check: AUC" in stdout


def test_two_declared_models_exit_2_saying_a_line_needs_three(run_cli, four_models, tmp_path):
    code, _, err = run_cli(
        "analyze",
        "-p",
        four_models,
        "--new",
        "c-12",
        "--models",
        "resnet50,vgg16",
        "--out",
        tmp_path / "r.html",
    )
    assert code == 2
    assert "a line needs at least 3 models" in _flat(err)
    assert not (tmp_path / "r.html").exists()


def test_unknown_set_exits_2_listing_the_sets(run_cli, four_models, tmp_path):
    code, _, err = run_cli("analyze", "-p", four_models, "--new", "z-99", "--out", tmp_path / "r.html")
    assert code == 2
    assert "no set matches 'z-99'" in _flat(err) and "imagenetv2-c-12" in err


def test_timm_reference_for_threshold_set_exits_2(run_cli, four_models, tmp_path):
    code, _, err = run_cli(
        "analyze", "-p", four_models, "--new", "a-44", "--reference", "timm", "--models",
        "resnet50,vgg16,alexnet", "--out", tmp_path / "r.html",
    )  # fmt: skip
    assert code == 2
    assert "timm publishes no threshold0.7 line" in _flat(err)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--transform", "log", "--transform must be one of probit, logit, linear"),
        ("--reference", "paper", "unknown --reference 'paper'"),
        ("--confidence", "0.95", "--confidence is a percentage"),
        ("--features-original", "x.npy", "needs both --features-original and --features-new"),
    ],
)
def test_bad_options_exit_2_before_any_scoring(run_cli, tmp_path, option, value, message):
    code, _, err = run_cli("analyze", "--new", "b-33", option, value, "--out", tmp_path / "r.html")
    assert code == 2
    assert message in _flat(err)
