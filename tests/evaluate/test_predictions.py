"""Prediction files: formats, ranking of scores, checks on bad arrays, the published layout."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from heldout.datasets import load_dataset
from heldout.errors import EvaluationError, HeldoutError, PredictionsMismatchError
from heldout.evaluate import (
    Predictions,
    evaluate,
    find_prediction_files,
    known_issue,
    load_predictions,
    model_name,
    read_published_layout,
)
from heldout.evaluate.predictions import rank_scores

B33 = "imagenetv2-b-33"


@pytest.fixture(scope="session")
def b33():
    return load_dataset(B33)


@pytest.fixture(scope="session")
def resnet50_b33_file(predictions_dir: Path) -> Path:
    return predictions_dir / B33 / "resnet50.npy"


@pytest.fixture(scope="session")
def resnet50_b33(resnet50_b33_file: Path) -> np.ndarray:
    """The published top-5 rows (uint16) of resnet50 on MatchedFrequency."""
    return np.load(resnet50_b33_file)


@pytest.fixture(scope="session")
def logits_like_resnet50(resnet50_b33: np.ndarray) -> np.ndarray:
    """(N, 1000) float32 scores whose top-5 order is exactly the published rows."""
    rng = np.random.default_rng(0)
    logits = rng.uniform(-1.0, 1.0, size=(len(resnet50_b33), 1000)).astype(np.float32)
    rows = np.arange(len(resnet50_b33))[:, None]
    logits[rows, resnet50_b33.astype(np.int64)] = np.arange(10, 5, -1, dtype=np.float32)
    return logits


def _same_scores(a, b) -> None:
    assert {k: (v.correct, v.total) for k, v in a.metrics.items()} == {
        k: (v.correct, v.total) for k, v in b.metrics.items()
    }
    np.testing.assert_array_equal(a.per_class, b.per_class)


# --- formats -----------------------------------------------------------------------------------


def test_published_npy_loads_as_integer_ranked_rows_with_model_and_sha256(resnet50_b33_file, resnet50_b33):
    preds = load_predictions(resnet50_b33_file)
    assert preds.model == "resnet50"
    assert np.issubdtype(preds.ranked.dtype, np.signedinteger)  # room for -1 ("no prediction")
    np.testing.assert_array_equal(preds.ranked, resnet50_b33)
    assert preds.sha256 == hashlib.sha256(resnet50_b33_file.read_bytes()).hexdigest()


def test_top1_only_npy_becomes_one_column(tmp_path, resnet50_b33):
    path = tmp_path / "top1.npy"
    np.save(path, resnet50_b33[:, 0].astype(np.int32))
    assert load_predictions(path).ranked.tolist() == resnet50_b33[:, :1].tolist()


def test_float_logits_are_ranked_best_first_like_argsort(tmp_path, logits_like_resnet50, resnet50_b33):
    path = tmp_path / "logits.npy"
    np.save(path, logits_like_resnet50)
    preds = load_predictions(path)
    expected = np.argsort(-logits_like_resnet50, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(preds.ranked, expected)
    np.testing.assert_array_equal(preds.ranked, resnet50_b33)
    assert preds.scores is not None and preds.scores.shape == (len(resnet50_b33), 1000)


def test_rank_scores_breaks_ties_by_lower_class_index():
    scores = np.array([[1.0, 3.0, 3.0, 0.0, 3.0], [2.0, 2.0, 2.0, 2.0, 2.0]])
    assert rank_scores(scores, 3).tolist() == [[1, 2, 4], [0, 1, 2]]


def test_rank_scores_agrees_with_argsort_on_random_scores():
    scores = np.random.default_rng(1).normal(size=(300, 50))
    for k in (1, 5, 50):
        np.testing.assert_array_equal(rank_scores(scores, k), np.argsort(-scores, axis=1)[:, :k])


def test_every_format_gives_the_same_result_for_the_same_predictions(
    tmp_path, b33, resnet50_b33_file, resnet50_b33, logits_like_resnet50
):
    order = np.random.default_rng(2).permutation(len(b33))
    np.save(tmp_path / "ranked.npy", resnet50_b33.astype(np.int64))
    np.save(tmp_path / "logits.npy", logits_like_resnet50)
    np.savez(tmp_path / "logits.npz", logits=logits_like_resnet50[order], ids=b33.ids[order])
    lines = ["image_id," + ",".join(f"pred_{j}" for j in range(1, 6))]
    lines += [f"{b33.ids[i]}," + ",".join(map(str, resnet50_b33[i])) for i in order]
    (tmp_path / "preds.csv").write_text("\n".join(lines) + "\n")

    reference = evaluate(b33, load_predictions(resnet50_b33_file))
    assert reference["top1"] == pytest.approx(63.33, abs=0.005)
    for name in ("ranked.npy", "logits.npy", "logits.npz", "preds.csv"):
        _same_scores(evaluate(b33, load_predictions(tmp_path / name)), reference)


def test_npz_ids_and_csv_ids_are_read_as_strings(tmp_path, b33, resnet50_b33):
    np.savez(tmp_path / "p.npz", ranked=resnet50_b33[:3].astype(np.int64), ids=b33.ids[:3])
    (tmp_path / "p.csv").write_text(
        "image_id,pred_1\n"
        + "".join(f"{i},{p}\n" for i, p in zip(b33.ids[:3], resnet50_b33[:3, 0], strict=True))
    )
    for name in ("p.npz", "p.csv"):
        assert load_predictions(tmp_path / name).ids.tolist() == b33.ids[:3].tolist()


def test_npz_with_a_single_unnamed_array_is_read(tmp_path, resnet50_b33):
    np.savez(tmp_path / "p.npz", whatever=resnet50_b33[:4].astype(np.int64))
    assert load_predictions(tmp_path / "p.npz").ranked.tolist() == resnet50_b33[:4].tolist()


def test_model_name_comes_from_the_file_name_or_the_argument(tmp_path, resnet50_b33):
    np.save(tmp_path / "my_net.npy", resnet50_b33[:2].astype(np.int64))
    assert load_predictions(tmp_path / "my_net.npy").model == "my_net"
    assert load_predictions(tmp_path / "my_net.npy", model="other").model == "other"


def test_fisher_vector_file_names_are_one_model():
    assert model_name("x/fv_16k_model.npy") == model_name("y/fv_16k.npy") == "fv_16k"
    assert model_name("fv_64k_model.npy") == "fv_64k"


def test_known_issue_flags_fv_16k_everywhere_but_val():
    assert known_issue("fv_16k", "imagenet-validation-original") is None
    for dataset in ("imagenetv2-a-44", "imagenetv2-b-33", "imagenetv2-c-12", "imagenet-annotatedval20k-0"):
        assert known_issue("fv_16k", dataset)
    assert known_issue("resnet50", "imagenetv2-b-33") is None


# --- bad arrays and files: specific errors naming the file ------------------------------------


def _raises_naming(path: Path, error: type[HeldoutError]) -> HeldoutError:
    with pytest.raises(error) as info:
        load_predictions(path)
    assert info.value.where == str(path)
    assert str(path) in str(info.value)
    return info.value


@pytest.mark.parametrize(
    "array",
    [np.zeros((4, 5, 2), dtype=np.int64), np.zeros((4, 1000, 2), dtype=np.float32)],
    ids=["int-3d", "float-3d"],
)
def test_three_dimensional_array_is_an_evaluation_error(tmp_path, array):
    np.save(tmp_path / "bad.npy", array)
    assert "shape" in _raises_naming(tmp_path / "bad.npy", EvaluationError).what


@pytest.mark.parametrize(
    "array", [np.zeros((0, 5), dtype=np.int64), np.zeros((0,), dtype=np.float32)], ids=["int", "float"]
)
def test_empty_array_is_an_evaluation_error(tmp_path, array):
    np.save(tmp_path / "empty.npy", array)
    assert "empty" in _raises_naming(tmp_path / "empty.npy", EvaluationError).what


def test_one_dimensional_scores_are_an_evaluation_error(tmp_path):
    np.save(tmp_path / "scores.npy", np.ones(10, dtype=np.float32))
    assert "(N, C)" in _raises_naming(tmp_path / "scores.npy", EvaluationError).what


def test_negative_class_index_is_a_mismatch_error(tmp_path):
    array = np.ones((6, 5), dtype=np.int64)
    array[3, 2] = -4
    np.save(tmp_path / "neg.npy", array)
    assert "-4" in _raises_naming(tmp_path / "neg.npy", PredictionsMismatchError).what


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_are_an_evaluation_error_naming_the_row(tmp_path, bad):
    scores = np.zeros((5, 10), dtype=np.float32)
    scores[2, 7] = bad
    np.save(tmp_path / "logits.npy", scores)
    error = _raises_naming(tmp_path / "logits.npy", EvaluationError)
    assert "NaN or infinite" in error.what and "row 2" in error.what


def test_unsupported_dtype_is_an_evaluation_error(tmp_path):
    np.save(tmp_path / "strings.npy", np.array([["a", "b"]]))
    assert "dtype" in _raises_naming(tmp_path / "strings.npy", EvaluationError).what


def test_unsupported_suffix_is_an_evaluation_error(tmp_path):
    (tmp_path / "preds.txt").write_text("1\n2\n")
    assert ".txt" in _raises_naming(tmp_path / "preds.txt", EvaluationError).what


def test_missing_file_is_an_evaluation_error(tmp_path):
    assert "not found" in _raises_naming(tmp_path / "nope.npy", EvaluationError).what


def test_corrupt_npy_is_an_evaluation_error(tmp_path):
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    _raises_naming(tmp_path / "broken.npy", EvaluationError)


def test_npz_with_several_unnamed_arrays_is_an_evaluation_error(tmp_path):
    np.savez(tmp_path / "p.npz", a=np.zeros((2, 5), np.int64), b=np.zeros((2, 5), np.int64))
    assert "cannot tell" in _raises_naming(tmp_path / "p.npz", EvaluationError).what


@pytest.mark.parametrize(
    "text",
    [
        "img,pred_1\na,1\n",
        "image_id,pred_1\n",
        "image_id,pred_1,pred_2\na,1,2\nb,3\n",
        "image_id,pred_1\na,x\n",
    ],
    ids=["no-header", "no-rows", "ragged", "not-int"],
)
def test_malformed_csv_is_an_evaluation_error(tmp_path, text):
    (tmp_path / "p.csv").write_text(text)
    _raises_naming(tmp_path / "p.csv", EvaluationError)


def test_ids_of_another_length_than_the_rows_are_an_evaluation_error():
    with pytest.raises(EvaluationError, match="3 ids for 2 rows"):
        Predictions.from_array(np.zeros((2, 5), np.int64), model="m", ids=np.array(["a", "b", "c"]))


def test_prediction_errors_are_heldout_errors():
    assert issubclass(PredictionsMismatchError, EvaluationError)
    assert issubclass(EvaluationError, HeldoutError)


# --- folders and the published layout ----------------------------------------------------------


def test_find_prediction_files_lists_prediction_files_of_a_folder_sorted(tmp_path):
    for name in ("b.npy", "a.csv", "c.npz", "notes.txt"):
        (tmp_path / name).write_text("")
    assert [p.name for p in find_prediction_files(tmp_path)] == ["a.csv", "b.npy", "c.npz"]


def test_find_prediction_files_of_an_empty_folder_is_an_evaluation_error(tmp_path):
    with pytest.raises(EvaluationError, match="no prediction files"):
        find_prediction_files(tmp_path)


def test_published_layout_has_five_sets_of_67_files(predictions_dir):
    layout = read_published_layout(predictions_dir)
    assert sorted(layout) == [
        "imagenet-annotatedval20k-0",
        "imagenet-validation-original",
        "imagenetv2-a-44",
        "imagenetv2-b-33",
        "imagenetv2-c-12",
    ]
    assert {len(files) for files in layout.values()} == {67}


def test_published_layout_names_fv_16k_two_ways(predictions_dir):
    names = {p.name for files in read_published_layout(predictions_dir).values() for p in files}
    assert {"fv_16k.npy", "fv_16k_model.npy"} <= names


def test_layout_without_dataset_folders_is_an_evaluation_error(tmp_path):
    np.save(tmp_path / "resnet50.npy", np.zeros((2, 5), np.int64))
    with pytest.raises(EvaluationError, match="no dataset folders"):
        read_published_layout(tmp_path)
