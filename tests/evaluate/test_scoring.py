"""Scoring on the published data: reproduce the released numbers, align rows, subsets, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from heldout.classes import ClassSet
from heldout.datasets import Manifest, RealLabels, TestSet, load_dataset, val_file_name
from heldout.errors import (
    ClassSetError,
    EvaluationError,
    PredictionsMismatchError,
    UnknownDatasetError,
)
from heldout.evaluate import (
    Predictions,
    evaluate,
    evaluate_files,
    evaluate_published,
    load_class_subset,
    load_predictions,
)

VAL = "imagenet-validation-original"
B33 = "imagenetv2-b-33"

RESNET50_TOP1 = {VAL: 76.13, B33: 63.33, "imagenetv2-a-44": 72.70, "imagenetv2-c-12": 78.09}


@pytest.fixture(scope="session")
def val(shared_data):
    return load_dataset(VAL)


@pytest.fixture(scope="session")
def b33(shared_data):
    return load_dataset(B33)


@pytest.fixture(scope="session")
def published(predictions_dir: Path):
    return evaluate_published(predictions_dir, real=True)


@pytest.fixture(scope="session")
def resnet50_val(predictions_dir: Path, val):
    return evaluate(val, _load(predictions_dir, VAL, "resnet50"), real=True)


@pytest.fixture(scope="session")
def original_labels(shared_data: Path) -> np.ndarray:
    """Line i (1-based) = original class of ILSVRC2012_val_{i:08d}.JPEG."""
    text = (shared_data / "real" / "val_original_labels.txt").read_text()
    return np.array(text.split(), dtype=np.int64)


@pytest.fixture(scope="session")
def real_json(shared_data: Path) -> list[list[int]]:
    return json.loads((shared_data / "real" / "real.json").read_text())


def _load(predictions_dir: Path, dataset: str, model: str) -> Predictions:
    return load_predictions(predictions_dir / dataset / f"{model}.npy")


def _tiny_set(labels: list[int]) -> TestSet:
    """A test set of len(labels) made-up images over the ImageNet-1k classes."""
    classes = ClassSet.imagenet1k()
    manifest = Manifest.create(
        np.array([f"img{i}" for i in range(len(labels))]), classes.ids[np.array(labels)]
    )
    return TestSet("tiny", manifest, classes)


# --- the published numbers ---------------------------------------------------------------------


@pytest.mark.parametrize("dataset", list(RESNET50_TOP1))
def test_resnet50_top1_reproduces_the_published_number(predictions_dir, dataset):
    result = evaluate(load_dataset(dataset), _load(predictions_dir, dataset, "resnet50"))
    assert result["top1"] == pytest.approx(RESNET50_TOP1[dataset], abs=0.005)


def test_resnet50_top5_on_val_reproduces_the_published_number(resnet50_val):
    assert resnet50_val["top5"] == pytest.approx(92.86, abs=0.005)


def test_resnet50_real_top1_on_val_reproduces_the_published_number(resnet50_val):
    assert resnet50_val["real_top1"] == pytest.approx(82.96, abs=0.005)


def test_real_leaves_out_images_with_empty_label_sets(resnet50_val, real_json):
    scored = sum(1 for x in real_json if x)
    assert resnet50_val.metrics["real_top1"].total == scored == 46_837
    assert resnet50_val.excluded["real"] == 50_000 - scored


def test_real_top1_equals_a_per_image_check_on_real_json(predictions_dir, resnet50_val, real_json):
    ranked = np.load(predictions_dir / VAL / "resnet50.npy")
    lists = [real_json[int(name[15:23]) - 1] for name in load_dataset(VAL).ids]
    hits = [int(row[0]) in x for row, x in zip(ranked, lists, strict=True) if x]
    assert resnet50_val.metrics["real_top1"].correct == sum(hits)


def test_original_labels_as_predictions_get_the_published_real_top1(val, original_labels):
    preds = Predictions.from_array(original_labels, model="original", ids=val_file_name(np.arange(50_000)))
    result = evaluate(val, preds, real=True, topk=(1,))
    assert result["real_top1"] == pytest.approx(90.02, abs=0.005)


def test_original_labels_aligned_by_file_name_get_100_percent_top1(val, original_labels):
    names = val_file_name(np.arange(50_000))
    assert (val.ids != names).any()  # the val manifest is sorted by wnid: rows must move
    result = evaluate(val, Predictions.from_array(original_labels, model="original", ids=names), topk=(1,))
    assert result["top1"] == 100.0
    assert result.provenance["aligned_by"] == "image id"


def test_shuffled_rows_with_ids_give_the_same_numbers_as_manifest_order(predictions_dir, val, resnet50_val):
    ranked = np.load(predictions_dir / VAL / "resnet50.npy")
    order = np.random.default_rng(0).permutation(len(val))
    shuffled = Predictions.from_array(ranked[order], model="resnet50", ids=val.ids[order])
    result = evaluate(val, shuffled, real=True)
    assert {k: v.correct for k, v in result.metrics.items()} == {
        k: v.correct for k, v in resnet50_val.metrics.items()
    }


def test_real_on_a_shuffled_subset_of_val_equals_a_per_image_check(
    predictions_dir, val, real_json, shared_data
):
    ranked = np.load(predictions_dir / VAL / "resnet50.npy").astype(np.int64)
    rows = np.random.default_rng(1).choice(len(val), size=1_000, replace=False)
    ids = val.ids[rows]
    real = RealLabels.load(shared_data / "real" / "real.json").align(ids)
    subset = TestSet("val-1000", Manifest.create(ids, val.manifest.wnids[rows]), val.classes, real)
    result = evaluate(subset, Predictions.from_array(ranked[rows], model="resnet50"), real=True)
    lists = [real_json[int(name[15:23]) - 1] for name in ids]
    hits = [int(r[0]) in x for r, x in zip(ranked[rows], lists, strict=True) if x]
    assert (result.metrics["real_top1"].correct, result.metrics["real_top1"].total) == (sum(hits), len(hits))


def test_real_is_silently_absent_on_sets_without_real_labels(predictions_dir, b33):
    result = evaluate(b33, _load(predictions_dir, B33, "resnet50"), real=True)
    assert set(result.metrics) == {"top1", "top5"}
    assert "real" not in result.excluded


def test_result_carries_a_clopper_pearson_interval_around_the_percent(resnet50_val):
    acc = resnet50_val.metrics["top1"]
    assert acc.low < acc.percent < acc.high
    assert acc.high - acc.low < 1.0  # 50,000 images: the 95 % interval is well under a point


def test_per_class_top1_averages_to_the_top1_on_a_balanced_set(predictions_dir, b33):
    result = evaluate(b33, _load(predictions_dir, B33, "resnet50"))
    assert result.per_class.shape == (1000,)
    assert np.nanmean(result.per_class) == pytest.approx(result["top1"])


# --- the whole published layout ----------------------------------------------------------------


def test_published_layout_gives_67_models_on_5_sets(published):
    assert len(published) == 335
    models = {r.model for r in published}
    assert len(models) == 67
    assert all(sum(r.model == m for r in published) == 5 for m in models)


def test_fv_16k_files_are_one_model(published):
    assert not any(r.model.endswith("_model") for r in published)
    assert {r.dataset for r in published if r.model == "fv_16k"} == {
        VAL,
        "imagenet-annotatedval20k-0",
        "imagenetv2-a-44",
        B33,
        "imagenetv2-c-12",
    }


def test_fv_16k_is_flagged_on_every_set_but_val(published):
    flagged = {r.dataset: bool(r.flags) for r in published if r.model == "fv_16k"}
    assert flagged.pop(VAL) is False
    assert all(flagged.values()) and len(flagged) == 4


def test_fv_16k_is_scored_not_hidden_where_it_is_broken(published):
    broken = [r for r in published if r.model == "fv_16k" and r.dataset != VAL]
    assert all(r["top1"] < 5.0 for r in broken)


def test_only_fv_16k_is_flagged(published):
    assert {r.model for r in published if r.flags} == {"fv_16k"}


def test_published_real_columns_exist_only_for_val_sets(published):
    with_real = {r.dataset for r in published if "real_top1" in r.metrics}
    assert with_real == {VAL, "imagenet-annotatedval20k-0"}


def test_published_resnet50_matches_single_evaluation(published, resnet50_val):
    (row,) = [r for r in published if r.model == "resnet50" and r.dataset == VAL]
    assert row["real_top1"] == resnet50_val["real_top1"]


def test_unknown_set_folder_in_a_layout_is_an_unknown_dataset_error(tmp_path):
    (tmp_path / "imagenetv2-zz").mkdir()
    np.save(tmp_path / "imagenetv2-zz" / "m.npy", np.zeros((2, 5), np.int64))
    with pytest.raises(UnknownDatasetError, match="imagenetv2-zz"):
        evaluate_published(tmp_path)


def test_unknown_set_name_is_an_unknown_dataset_error(tmp_path):
    np.save(tmp_path / "m.npy", np.zeros((2, 5), np.int64))
    with pytest.raises(UnknownDatasetError, match="imagenetv2-zz"):
        evaluate_files("imagenetv2-zz", [tmp_path / "m.npy"])


def test_evaluate_files_scores_every_file_of_a_folder(predictions_dir):
    results = evaluate_files(B33, [predictions_dir / B33])
    assert len(results) == 67
    assert {r.dataset for r in results} == {B33}


# --- rows that do not line up with the test set ------------------------------------------------


@pytest.mark.parametrize("rows", [9_999, 10_001])
def test_wrong_number_of_rows_is_a_mismatch_error_naming_the_file(b33, rows):
    preds = Predictions.from_array(np.zeros((rows, 5), np.int64), model="m", source="dir/m.npy")
    with pytest.raises(PredictionsMismatchError, match=f"{rows} prediction rows for 10000 images") as info:
        evaluate(b33, preds)
    assert info.value.where == "dir/m.npy"


def test_ids_that_do_not_match_the_manifest_are_a_mismatch_error(b33):
    ids = b33.ids.copy()
    ids[17] = "not-an-image-of-this-set"
    preds = Predictions.from_array(np.zeros((len(ids), 5), np.int64), model="m", ids=ids, source="m.csv")
    with pytest.raises(PredictionsMismatchError, match="1 image") as info:
        evaluate(b33, preds)
    assert b33.ids[17] in info.value.what and info.value.where == "m.csv"


def test_ids_of_a_subset_of_the_manifest_are_a_mismatch_error(b33):
    ids = b33.ids[:-5]
    preds = Predictions.from_array(np.zeros((len(ids), 5), np.int64), model="m", ids=ids)
    with pytest.raises(PredictionsMismatchError, match="5 image"):
        evaluate(b33, preds)


def test_repeated_ids_are_a_mismatch_error(b33):
    ids = b33.ids.copy()
    ids[1] = ids[0]
    preds = Predictions.from_array(np.zeros((len(ids), 5), np.int64), model="m", ids=ids)
    with pytest.raises(PredictionsMismatchError, match="more than once"):
        evaluate(b33, preds)


def test_class_index_out_of_range_is_a_mismatch_error(b33):
    ranked = np.zeros((len(b33), 5), np.int64)
    ranked[42, 3] = 1000
    with pytest.raises(PredictionsMismatchError, match="class index 1000 is out of range"):
        evaluate(b33, Predictions.from_array(ranked, model="m", source="m.npy"))


def test_scores_for_another_number_of_classes_are_a_mismatch_error(b33):
    scores = np.random.default_rng(2).normal(size=(len(b33), 10)).astype(np.float32)
    with pytest.raises(PredictionsMismatchError, match="10 classes"):
        evaluate(b33, Predictions.from_array(scores, model="m", source="m.npy"))


@pytest.mark.parametrize(("columns", "topk"), [(1, (1, 5)), (5, (1, 10)), (5, (0,))])
def test_topk_beyond_the_ranked_columns_is_an_evaluation_error(b33, columns, topk):
    preds = Predictions.from_array(np.zeros((len(b33), columns), np.int64), model="m", source="m.npy")
    with pytest.raises(EvaluationError, match="top-") as info:
        evaluate(b33, preds, topk=topk)
    assert not isinstance(info.value, PredictionsMismatchError)
    assert info.value.where == "m.npy"


# --- class subsets -----------------------------------------------------------------------------

SUBSET = np.array([1, 2, 3])


@pytest.fixture(scope="module")
def subset_case():
    """Labels 1, 2, 3, 7 with subset {1, 2, 3}.

    Image 0: argmax 500 (outside), best subset class 1 = label -> restrict right, membership wrong.
    Image 1: argmax 2 = label -> right either way. Image 2: argmax 3, label 1 -> wrong either way.
    Image 3: label 7 is outside the subset -> left out.
    """
    scores = np.zeros((4, 1000), dtype=np.float32)
    scores[0, [500, 1, 2]] = [9.0, 5.0, 4.0]
    scores[1, [2, 1]] = [9.0, 1.0]
    scores[2, [3, 1]] = [9.0, 2.0]
    scores[3, [7, 1]] = [9.0, 1.0]
    return _tiny_set([1, 2, 1, 7]), Predictions.from_array(scores, model="m")


def test_restrict_on_logits_lets_only_subset_classes_compete(subset_case):
    testset, preds = subset_case
    result = evaluate(testset, preds, subset=SUBSET, subset_policy="restrict", topk=(1,))
    assert result.metrics["top1"].correct == 2 and result.metrics["top1"].total == 3


def test_membership_on_logits_needs_the_argmax_over_all_classes(subset_case):
    testset, preds = subset_case
    result = evaluate(testset, preds, subset=SUBSET, subset_policy="membership", topk=(1,))
    assert result.metrics["top1"].correct == 1 and result.metrics["top1"].total == 3


def test_images_outside_the_subset_are_left_out_and_counted(subset_case):
    testset, preds = subset_case
    for policy in ("restrict", "membership"):
        result = evaluate(testset, preds, subset=SUBSET, subset_policy=policy, topk=(1,))
        assert result.excluded["subset"] == 1
        assert result.metrics["top1"].total == 3


@pytest.mark.parametrize("policy", ["restrict", "membership"])
def test_subset_policy_is_recorded_as_exact_with_scores(subset_case, policy):
    testset, preds = subset_case
    result = evaluate(testset, preds, subset=SUBSET, subset_policy=policy, topk=(1,))
    assert result.provenance["subset_policy"] == policy
    assert result.provenance["subset_exact"] is True
    assert result.provenance["subset_size"] == 3


def test_restrict_on_ranked_topk_files_is_recorded_as_not_exact(predictions_dir, b33):
    result = evaluate(
        b33, _load(predictions_dir, B33, "resnet50"), subset=np.arange(200), subset_policy="restrict"
    )
    assert result.provenance["subset_policy"] == "restrict"
    assert result.provenance["subset_exact"] is False


def test_membership_on_ranked_topk_files_is_recorded_as_exact(predictions_dir, b33):
    result = evaluate(
        b33, _load(predictions_dir, B33, "resnet50"), subset=np.arange(200), subset_policy="membership"
    )
    assert result.provenance["subset_exact"] is True


def test_restrict_on_ranked_rows_takes_the_first_subset_class_given(predictions_dir, b33):
    subset = np.arange(0, 1000, 5)
    ranked = np.load(predictions_dir / B33 / "resnet50.npy").astype(np.int64)
    result = evaluate(b33, _load(predictions_dir, B33, "resnet50"), subset=subset, subset_policy="restrict")
    members = set(subset.tolist())
    kept = [i for i, label in enumerate(b33.labels) if label in members]
    first = [next((int(p) for p in ranked[i] if p in members), -1) for i in kept]
    expected = sum(f == b33.labels[i] for f, i in zip(first, kept, strict=True))
    assert result.metrics["top1"].correct == expected
    assert result.excluded["subset"] == len(b33) - len(kept)


def test_restrict_on_ranked_rows_counts_rows_without_subset_classes_as_wrong():
    testset = _tiny_set([1, 2])
    ranked = np.array([[500, 501, 502], [600, 2, 601]])
    result = evaluate(testset, Predictions.from_array(ranked, model="m"), subset=SUBSET, topk=(1, 3))
    assert result.metrics["top1"].total == 2  # row 0 has no subset class: still scored, as wrong
    assert [result.metrics["top1"].correct, result.metrics["top3"].correct] == [1, 1]


def test_restrict_on_logits_with_fewer_subset_classes_than_k_scores_top_k(subset_case):
    testset, preds = subset_case
    result = evaluate(testset, preds, subset=SUBSET, subset_policy="restrict", topk=(1, 5))
    assert result["top5"] == 100.0  # the three subset classes are all the model can answer


def test_load_class_subset_reads_wnids_and_indices_alike(tmp_path):
    classes = ClassSet.imagenet1k()
    (tmp_path / "wnids.txt").write_text("\n".join(classes.ids[[900, 3, 5]]) + "\n\n")
    (tmp_path / "indices.txt").write_text("5\n900\n3\n3\n")
    expected = [3, 5, 900]
    assert load_class_subset(tmp_path / "wnids.txt", classes).tolist() == expected
    assert load_class_subset(tmp_path / "indices.txt", classes).tolist() == expected


def test_load_class_subset_rejects_an_index_out_of_range(tmp_path):
    (tmp_path / "indices.txt").write_text("5\n1000\n")
    with pytest.raises(ClassSetError, match="1000"):
        load_class_subset(tmp_path / "indices.txt", ClassSet.imagenet1k())


def test_load_class_subset_rejects_an_unknown_wnid(tmp_path):
    (tmp_path / "wnids.txt").write_text("n01440764\nn99999999\n")
    with pytest.raises(ClassSetError, match="n99999999"):
        load_class_subset(tmp_path / "wnids.txt", ClassSet.imagenet1k())


def test_load_class_subset_rejects_an_empty_file(tmp_path):
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ClassSetError, match="empty"):
        load_class_subset(tmp_path / "empty.txt", ClassSet.imagenet1k())
