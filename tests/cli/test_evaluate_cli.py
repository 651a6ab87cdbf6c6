"""``heldout evaluate``: tables, result files, and bad input that exits 2 without partial files."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from heldout.datasets import load_dataset

B33 = "imagenetv2-b-33"
VAL = "imagenet-validation-original"


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    """Error messages are printed by rich; a wide console keeps long paths on one line."""
    monkeypatch.setenv("COLUMNS", "400")


def _flat(text: str) -> str:
    """Text with every run of whitespace (including rich's line wrapping) made one space."""
    return " ".join(text.split())


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _table_row(out: str, model: str) -> str:
    (line,) = [line for line in out.splitlines() if re.match(rf"^\W*{re.escape(model)}\s", line)]
    return line


@pytest.fixture(scope="session")
def resnet50_b33(predictions_dir: Path) -> Path:
    return predictions_dir / B33 / "resnet50.npy"


# --- success -------------------------------------------------------------------------------------


def test_published_folder_prints_a_models_by_sets_table_with_real_columns(run_cli, predictions_dir):
    code, out, _ = run_cli("evaluate", "-p", predictions_dir, "--real")
    assert code == 0
    assert "ReaL" in out
    row = _table_row(out, "resnet50")
    for number in ("76.13", "63.33", "72.70", "82.96"):
        assert number in row


def test_published_folder_marks_fv_16k_as_flagged(run_cli, predictions_dir):
    code, out, _ = run_cli("evaluate", "-p", predictions_dir)
    assert code == 0
    assert "⚠" in out
    flagged = {m.group(1) for m in re.finditer(r"flag (\S+) on imagenetv2-", _flat(out))}
    assert flagged == {"fv_16k"}


def test_val_with_real_writes_a_csv_row_with_real_top1(run_cli, predictions_dir, tmp_path):
    out_csv = tmp_path / "out.csv"
    code, out, _ = run_cli(
        "evaluate",
        "-d",
        "imagenet-val",
        "-p",
        predictions_dir / VAL / "resnet50.npy",
        "--real",
        "--csv",
        out_csv,
    )
    assert code == 0
    (row,) = _rows(out_csv)
    assert row["dataset"] == VAL and row["model"] == "resnet50"
    assert float(row["real_top1"]) == pytest.approx(82.96, abs=0.005)
    assert "wrote" in out and out_csv.name in out.replace("\n", "")


def test_single_set_prints_top1_and_top5_with_intervals(run_cli, resnet50_b33):
    code, out, _ = run_cli("evaluate", "-d", B33, "-p", resnet50_b33)
    assert code == 0
    row = _table_row(out, "resnet50")
    assert "63.33" in row and "84.65" in row and "10000" in row


def test_json_output_carries_provenance(run_cli, resnet50_b33, shared_data, tmp_path):
    code, _, _ = run_cli("evaluate", "-d", B33, "-p", resnet50_b33, "--json", tmp_path / "r.json")
    assert code == 0
    (result,) = json.loads((tmp_path / "r.json").read_text())["results"]
    manifest = shared_data / "imagenetv2" / "datasets" / f"{B33}.json"
    assert result["provenance"]["manifest_sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert result["provenance"]["predictions_sha256"] == hashlib.sha256(resnet50_b33.read_bytes()).hexdigest()


def test_same_run_twice_gives_byte_identical_csv_and_json(run_cli, resnet50_b33, tmp_path):
    for run in ("a", "b"):
        code, _, _ = run_cli(
            "evaluate",
            "-d",
            B33,
            "-p",
            resnet50_b33,
            "--csv",
            tmp_path / f"{run}.csv",
            "--json",
            tmp_path / f"{run}.json",
        )
        assert code == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_folder_of_model_files_with_a_dataset_scores_every_file(run_cli, predictions_dir, tmp_path):
    code, _, _ = run_cli("evaluate", "-d", B33, "-p", predictions_dir / B33, "--csv", tmp_path / "all.csv")
    assert code == 0
    assert len(_rows(tmp_path / "all.csv")) == 67


def test_classes_option_scores_only_the_subset_and_records_the_policy(run_cli, resnet50_b33, tmp_path):
    (tmp_path / "subset.txt").write_text("\n".join(str(i) for i in range(200)) + "\n")
    code, _, _ = run_cli(
        "evaluate",
        "-d",
        B33,
        "-p",
        resnet50_b33,
        "--classes",
        tmp_path / "subset.txt",
        "--subset-policy",
        "membership",
        "--csv",
        tmp_path / "r.csv",
    )
    assert code == 0
    (row,) = _rows(tmp_path / "r.csv")
    assert row["excluded_subset"] == "8000" and row["top1_images"] == "2000"
    assert row["subset_policy"] == "membership"


def test_model_names_are_shown_literally_not_as_markup(run_cli, resnet50_b33, tmp_path):
    path = tmp_path / "net[v2].npy"
    path.write_bytes(resnet50_b33.read_bytes())
    code, out, _ = run_cli("evaluate", "-d", B33, "-p", path)
    assert code == 0
    assert "net[v2]" in out


# --- bad input: exit 2, a message naming the file, no result files ------------------------------


def _bad_files(rows: np.ndarray, ids: np.ndarray) -> dict[str, tuple[object, str]]:
    """name -> (content, phrase the error message must contain)."""
    out_of_range = rows.copy()
    out_of_range[5, 1] = 1000
    negative = rows.astype(np.int64)
    negative[5, 1] = -1
    nan_logits = np.zeros((len(rows), 1000), dtype=np.float32)
    nan_logits[3, 3] = np.nan
    inf_logits = np.zeros((len(rows), 1000), dtype=np.float32)
    inf_logits[4, 2] = np.inf
    wrong_ids = ids.copy()
    wrong_ids[0] = "0" * 40
    csv_lines = ["image_id,pred_1,pred_2,pred_3,pred_4,pred_5"]
    csv_lines += [f"{i}," + ",".join(map(str, r)) for i, r in zip(wrong_ids, rows, strict=True)]
    return {
        "three_d.npy": (np.zeros((len(rows), 5, 2), dtype=np.int64), "shape"),
        "empty.npy": (np.zeros((0, 5), dtype=np.int64), "empty"),
        "out_of_range.npy": (out_of_range, "class index 1000 is out of range"),
        "negative.npy": (negative, "negative class index -1"),
        "nan.npy": (nan_logits, "NaN or infinite"),
        "inf.npy": (inf_logits, "NaN or infinite"),
        "fewer.npy": (rows[:-1], f"{len(rows) - 1} prediction rows for {len(rows)} images"),
        "more.npy": (
            np.concatenate([rows, rows[:1]]),
            f"{len(rows) + 1} prediction rows for {len(rows)} images",
        ),
        "ids.csv": ("\n".join(csv_lines) + "\n", "have no prediction"),
        "top3.npy": (rows[:, :3], "top-5 needs at least 5"),
    }


BAD = [
    "three_d.npy",
    "empty.npy",
    "out_of_range.npy",
    "negative.npy",
    "nan.npy",
    "inf.npy",
    "fewer.npy",
    "more.npy",
    "ids.csv",
    "top3.npy",
]


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory, resnet50_b33) -> dict[str, tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("bad")
    made = {}
    for name, (content, phrase) in _bad_files(np.load(resnet50_b33), load_dataset(B33).ids).items():
        if isinstance(content, str):
            (folder / name).write_text(content)
        else:
            np.save(folder / name, content)
        made[name] = (folder / name, phrase)
    return made


@pytest.mark.parametrize("name", BAD)
def test_bad_predictions_exit_2_naming_the_file_and_the_problem(
    run_cli, resnet50_b33, bad_inputs, name, tmp_path
):
    bad, phrase = bad_inputs[name]
    code, _, err = run_cli("evaluate", "-d", B33, "-p", resnet50_b33, "-p", bad)
    assert code == 2
    assert str(bad) in err.replace("\n", "")
    assert phrase in _flat(err)


@pytest.mark.parametrize("name", BAD)
def test_bad_predictions_leave_no_result_files(run_cli, resnet50_b33, bad_inputs, name, tmp_path):
    out = tmp_path / "out"
    code, _, _ = run_cli(
        "evaluate",
        "-d",
        B33,
        "-p",
        resnet50_b33,
        "-p",
        bad_inputs[name][0],
        "--csv",
        out / "out.csv",
        "--json",
        out / "out.json",
    )
    assert code == 2
    assert not (out / "out.csv").exists() and not (out / "out.json").exists()
    assert not out.exists() or list(out.iterdir()) == []


def test_failed_run_leaves_an_existing_result_file_unchanged(run_cli, resnet50_b33, bad_inputs, tmp_path):
    out_csv, out_json = tmp_path / "out.csv", tmp_path / "out.json"
    assert run_cli("evaluate", "-d", B33, "-p", resnet50_b33, "--csv", out_csv, "--json", out_json)[0] == 0
    before = out_csv.read_bytes(), out_json.read_bytes()
    bad = bad_inputs["fewer.npy"][0]
    code, _, _ = run_cli(
        "evaluate", "-d", B33, "-p", resnet50_b33, "-p", bad, "--csv", out_csv, "--json", out_json
    )
    assert code == 2
    assert (out_csv.read_bytes(), out_json.read_bytes()) == before


def test_unknown_test_set_exits_2_naming_it_without_result_files(run_cli, resnet50_b33, tmp_path):
    code, _, err = run_cli("evaluate", "-d", "imagenetv2-zz", "-p", resnet50_b33, "--csv", tmp_path / "o.csv")
    assert code == 2
    assert "imagenetv2-zz" in err and "heldout datasets list" in _flat(err)
    assert not (tmp_path / "o.csv").exists()


def test_missing_prediction_file_exits_2_naming_it(run_cli, tmp_path):
    missing = tmp_path / "missing.npy"
    code, _, err = run_cli("evaluate", "-d", B33, "-p", missing)
    assert code == 2
    assert str(missing) in err.replace("\n", "") and "no such prediction file" in _flat(err)


def test_folder_that_is_not_the_published_layout_exits_2(run_cli, resnet50_b33, tmp_path):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "resnet50.npy").write_bytes(resnet50_b33.read_bytes())
    code, _, err = run_cli("evaluate", "-p", tmp_path / "flat")
    assert code == 2
    assert "no dataset folders" in _flat(err) and "--dataset" in _flat(err)


@pytest.mark.parametrize(
    ("option", "value", "phrase"),
    [
        ("--topk", "1,x", "--topk"),
        ("--topk", "0,1", "--topk"),
        ("--subset-policy", "argmax", "--subset-policy"),
    ],
)
def test_bad_option_values_exit_2_naming_the_option(run_cli, resnet50_b33, option, value, phrase):
    code, _, err = run_cli("evaluate", "-d", B33, "-p", resnet50_b33, option, value)
    assert code == 2
    assert phrase in err


def test_classes_without_a_dataset_exits_2(run_cli, predictions_dir, tmp_path):
    (tmp_path / "subset.txt").write_text("1\n2\n")
    code, _, err = run_cli("evaluate", "-p", predictions_dir, "--classes", tmp_path / "subset.txt")
    assert code == 2
    assert "--classes needs --dataset" in err
