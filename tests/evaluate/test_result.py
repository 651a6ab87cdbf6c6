"""Result files: CSV and JSON with provenance, byte-identical for the same inputs."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

import heldout
from heldout.datasets import load_dataset
from heldout.evaluate import (
    evaluate,
    load_predictions,
    pivot,
    results_to_csv,
    results_to_json,
    write_results,
)

VAL = "imagenet-validation-original"
B33 = "imagenetv2-b-33"
C12 = "imagenetv2-c-12"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="session")
def b33_file(predictions_dir: Path) -> Path:
    return predictions_dir / B33 / "resnet50.npy"


@pytest.fixture(scope="session")
def b33_result(b33_file: Path):
    return evaluate(load_dataset(B33), load_predictions(b33_file))


@pytest.fixture(scope="session")
def val_result(predictions_dir: Path):
    return evaluate(load_dataset(VAL), load_predictions(predictions_dir / VAL / "resnet50.npy"), real=True)


@pytest.fixture(scope="session")
def written(tmp_path_factory, b33_result, val_result) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("results")
    write_results([b33_result, val_result], csv_path=out / "r.csv", json_path=out / "r.json")
    return out / "r.csv", out / "r.json"


# --- provenance ---------------------------------------------------------------------------------


def test_manifest_sha256_is_the_hash_of_the_published_manifest_file(b33_result, shared_data):
    published = shared_data / "imagenetv2" / "datasets" / f"{B33}.json"
    assert b33_result.provenance["manifest_sha256"] == _sha256(published)


def test_predictions_sha256_is_the_hash_of_the_prediction_file(b33_result, b33_file):
    assert b33_result.provenance["predictions_sha256"] == _sha256(b33_file)
    assert b33_result.provenance["predictions"] == "resnet50.npy"


def test_provenance_records_the_installed_heldout_version(b33_result):
    assert b33_result.provenance["heldout_version"] == heldout.__version__ == version("heldout")


def test_provenance_records_the_real_file_hash_when_real_is_scored(val_result):
    assert len(val_result.provenance["real_sha256"]) == 64


def test_csv_rows_carry_the_provenance(written, b33_file, shared_data):
    (row, _) = _rows(written[0].read_text())
    assert row["dataset"] == B33 and row["model"] == "resnet50"
    assert row["manifest_sha256"] == _sha256(shared_data / "imagenetv2" / "datasets" / f"{B33}.json")
    assert row["predictions_sha256"] == _sha256(b33_file)
    assert row["heldout_version"] == heldout.__version__


def test_json_results_carry_the_provenance(written, b33_file, shared_data):
    first = json.loads(written[1].read_text())["results"][0]
    provenance = first["provenance"]
    assert provenance["manifest_sha256"] == _sha256(shared_data / "imagenetv2" / "datasets" / f"{B33}.json")
    assert provenance["predictions_sha256"] == _sha256(b33_file)
    assert provenance["heldout_version"] == heldout.__version__
    assert provenance["dataset"] == B33


def test_csv_records_the_subset_policy(b33_file, tmp_path):
    result = evaluate(load_dataset(B33), load_predictions(b33_file), subset=np.arange(200))
    (row,) = _rows(results_to_csv([result]))
    assert row["subset_policy"] == "restrict" and row["subset_exact"] == "False"
    assert int(row["excluded_subset"]) == 8_000


# --- content ------------------------------------------------------------------------------------


def test_csv_metrics_are_percent_with_interval_and_image_count(written):
    (b33, val) = _rows(written[0].read_text())
    assert float(b33["top1"]) == pytest.approx(63.33, abs=0.005)
    assert float(b33["top1_low"]) < float(b33["top1"]) < float(b33["top1_high"])
    assert b33["top1_images"] == "10000"
    assert float(val["real_top1"]) == pytest.approx(82.96, abs=0.005)
    assert val["real_top1_images"] == "46837" and val["excluded_real"] == "3163"


def test_csv_columns_are_the_union_over_results(written):
    (b33, val) = _rows(written[0].read_text())
    assert b33["real_top1"] == "" and val["real_top1"] != ""


def test_json_metrics_give_percent_counts_and_interval(written):
    top1 = json.loads(written[1].read_text())["results"][0]["metrics"]["top1"]
    assert (top1["correct"], top1["images"]) == (6_333, 10_000)
    assert top1["percent"] == pytest.approx(63.33)
    assert top1["ci95"][0] < top1["percent"] < top1["ci95"][1]


def test_json_is_strict_with_null_for_classes_without_images(b33_file):
    result = evaluate(load_dataset(B33), load_predictions(b33_file), subset=np.arange(200))

    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")

    (entry,) = json.loads(results_to_json([result]), parse_constant=refuse)["results"]
    per_class = entry["per_class_top1"]
    assert len(per_class) == 1000
    assert per_class[200:] == [None] * 800
    assert all(isinstance(v, float) for v in per_class[:200])


def test_json_per_class_top1_matches_the_result(written, b33_result):
    per_class = json.loads(written[1].read_text())["results"][0]["per_class_top1"]
    np.testing.assert_allclose(per_class, b33_result.per_class, atol=5e-5)


def test_flags_are_written_to_csv_and_json(predictions_dir):
    result = evaluate(load_dataset(C12), load_predictions(predictions_dir / C12 / "fv_16k_model.npy"))
    (row,) = _rows(results_to_csv([result]))
    assert row["model"] == "fv_16k" and "broken" in row["flags"]
    assert json.loads(results_to_json([result]))["results"][0]["flags"] == list(result.flags)


# --- files ----------------------------------------------------------------------------------------


def test_same_inputs_twice_give_byte_identical_csv_and_json(tmp_path, predictions_dir, b33_file):
    for run in ("a", "b"):
        results = [
            evaluate(load_dataset(B33), load_predictions(b33_file)),
            evaluate(load_dataset(VAL), load_predictions(predictions_dir / VAL / "resnet50.npy"), real=True),
        ]
        write_results(results, csv_path=tmp_path / run / "r.csv", json_path=tmp_path / run / "r.json")
    assert (tmp_path / "a" / "r.csv").read_bytes() == (tmp_path / "b" / "r.csv").read_bytes()
    assert (tmp_path / "a" / "r.json").read_bytes() == (tmp_path / "b" / "r.json").read_bytes()


def test_write_results_writes_only_the_files_asked_for(tmp_path, b33_result):
    written = write_results([b33_result], json_path=tmp_path / "only.json")
    assert written == [tmp_path / "only.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["only.json"]


def test_write_results_replaces_an_existing_file_whole(tmp_path, b33_result):
    target = tmp_path / "r.csv"
    target.write_text("old content that is longer than nothing\n" * 1000)
    write_results([b33_result], csv_path=target)
    assert target.read_text() == results_to_csv([b33_result])


def test_result_indexing_gives_the_percent(b33_result):
    assert b33_result["top5"] == b33_result.metrics["top5"].percent == pytest.approx(84.65)


def test_pivot_is_models_by_sets_with_nan_where_not_scored(b33_result, val_result):
    models, datasets, table = pivot([b33_result, val_result], "real_top1")
    assert models == ["resnet50"] and datasets == [B33, VAL]
    assert math.isnan(table[0, 0])
    assert table[0, 1] == pytest.approx(82.96, abs=0.005)
