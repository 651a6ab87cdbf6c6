"""``heldout evaluate --model``: run models on a folder test set, and refuse bad combinations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from heldout.classes import load_class_set
from heldout.datasets import Manifest

PHOTOS = {"chelsea": 282, "coffee": 967}


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture()
def photo_release(tmp_path, photo_bytes) -> Path:
    """``photos.json`` and its images under ``data/photos`` (the default --images), cwd = tmp_path."""
    imagenet = load_class_set("imagenet-1k")
    manifest = Manifest.create(list(PHOTOS), imagenet.ids[list(PHOTOS.values())]).save(
        tmp_path / "photos.json"
    )
    for name, index in PHOTOS.items():
        folder = tmp_path / "data" / "photos" / str(index)
        folder.mkdir(parents=True)
        (folder / f"{name}.jpeg").write_bytes(photo_bytes[name])
    return manifest


def test_model_run_prints_the_table_and_writes_provenance(
    run_cli, photo_release, lite0, model_cache, monkeypatch
):
    monkeypatch.chdir(photo_release.parent)
    out_json = photo_release.parent / "out.json"
    code, out, _ = run_cli(
        "evaluate",
        "-d",
        photo_release,
        "--model",
        "efficientnet-lite0",
        "--cache",
        model_cache,
        "--json",
        out_json,
    )
    assert code == 0
    assert "efficientnet-lite0" in out and "100.00" in out
    (result,) = json.loads(out_json.read_text())["results"]
    assert result["provenance"]["model_fingerprint"] == lite0.fingerprint
    assert result["provenance"]["preprocessing"]["crop_pct"] == 0.875


def test_csv_row_carries_fingerprint_and_preprocessing(run_cli, photo_release, lite0, model_cache, tmp_path):
    out_csv = tmp_path / "out.csv"
    images = photo_release.parent / "data" / "photos"
    code, _, _ = run_cli(
        "evaluate",
        "-d",
        photo_release,
        "-m",
        "efficientnet-lite0",
        "--images",
        images,
        "--cache",
        model_cache,
        "--csv",
        out_csv,
    )
    assert code == 0
    text = out_csv.read_text()
    assert lite0.fingerprint in text and "bicubic" in text


def test_undecodable_image_is_listed_not_fatal(run_cli, photo_release, model_cache, tmp_path):
    images = photo_release.parent / "data" / "photos"
    (images / "967" / "coffee.jpeg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    code, out, _ = run_cli(
        "evaluate",
        "-d",
        photo_release,
        "-m",
        "efficientnet-lite0",
        "--images",
        images,
        "--cache",
        model_cache,
    )
    assert code == 0
    assert "skipped coffee" in " ".join(out.split())


def test_model_without_dataset_exits_2(run_cli):
    code, _, err = run_cli("evaluate", "--model", "efficientnet-lite0")
    assert code == 2 and "--model needs --dataset" in err


def test_model_and_predictions_together_exit_2(run_cli, photo_release, tmp_path):
    code, _, err = run_cli(
        "evaluate", "-d", photo_release, "-m", "efficientnet-lite0", "-p", tmp_path / "x.npy"
    )
    assert code == 2 and "not both" in err


def test_unknown_model_exits_2_naming_the_built_ins(run_cli, photo_release, model_cache):
    code, _, err = run_cli("evaluate", "-d", photo_release, "-m", "resnet50", "--cache", model_cache)
    assert code == 2 and "efficientnet-lite0" in err


def test_missing_image_folder_exits_2(run_cli, photo_release, model_cache, tmp_path):
    shutil.rmtree(photo_release.parent / "data")
    code, _, err = run_cli(
        "evaluate",
        "-d",
        photo_release,
        "-m",
        "efficientnet-lite0",
        "--images",
        tmp_path / "none",
        "--cache",
        model_cache,
    )
    assert code == 2 and "image folder not found" in err


def test_nothing_to_evaluate_exits_2(run_cli):
    code, _, err = run_cli("evaluate")
    assert code == 2 and "nothing to evaluate" in err
