"""Operating points and label export, checked against the ReaL release.

Expected numbers come from the release and the notes (``shared/notes/real_and_aggregation.md``):
released scores > 0.8 on the 1,135 golden questions give precision 0.898, recall 0.778 and 93.2 %
agreement with the expert majority; ``real.json`` = {label : score > 0.8} on rated images plus the
original label elsewhere; re-derived labels move the original labels' ReaL top-1 from 90.02 % to
88.5 % (global prior) and 91.6 % (prior grouped by original label).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from heldout.aggregate import DawidSkene
from heldout.aggregate.operating import (
    clean_subset,
    label_sets,
    plot_precision_recall,
    precision_recall,
    write_clean_subset,
    write_real_json,
)
from heldout.aggregate.quality import expert_majority
from heldout.answers import Answers, answers_from_onehot
from heldout.datasets import RealLabels, val_file_name
from heldout.errors import AggregationError
from heldout.evaluate import Accuracy, real_topk_correct

VAL_NAMES = val_file_name(np.arange(50_000))


@pytest.fixture(scope="session")
def real_dir(shared_data: Path) -> Path:
    folder = shared_data / "real"
    if not (folder / "scores.npz").is_file():
        pytest.skip(f"ReaL release files not found in {folder}")
    return folder


@pytest.fixture(scope="session")
def questions(real_dir: Path) -> dict[str, np.ndarray]:
    """The 184,962 rated questions: image file, class index, released score."""
    with np.load(real_dir / "scores.npz") as data:
        info, scores = data["info"], data["tensor"]
    return {"image": info[:, 0], "label": info[:, 1].astype(np.int64), "score": scores}


@pytest.fixture(scope="session")
def original_labels(real_dir: Path) -> np.ndarray:
    return np.loadtxt(real_dir / "val_original_labels.txt", dtype=np.int64)


@pytest.fixture(scope="session")
def original(original_labels: np.ndarray) -> dict[str, int]:
    return dict(zip(VAL_NAMES.tolist(), original_labels.tolist(), strict=True))


@pytest.fixture(scope="session")
def released(real_dir: Path) -> list[list[int]]:
    return json.loads((real_dir / "real.json").read_text())


@pytest.fixture(scope="session")
def golden_scores_and_truth(real_dir: Path, questions) -> tuple[np.ndarray, np.ndarray]:
    """Released scores of the 1,135 golden questions and the expert majority (≥ 3 of 5 say yes)."""
    with np.load(real_dir / "golden.npz") as data:
        info = data["info"]
        experts = answers_from_onehot(
            data["tensor"], question_ids=np.arange(len(info)), worker_ids=data["ids"]
        )
    keys = np.char.add(np.char.add(questions["image"], ":"), questions["label"].astype(str))
    golden_keys = np.char.add(np.char.add(info[:, 0], ":"), info[:, 1])
    sorter = np.argsort(keys)
    rows = sorter[np.searchsorted(keys, golden_keys, sorter=sorter)]
    assert (keys[rows] == golden_keys).all()
    return questions["score"][rows], expert_majority(experts)


@pytest.fixture(scope="session")
def released_sets(questions, original):
    return label_sets(questions["image"], questions["label"], questions["score"], 0.8, unrated=original)


@pytest.fixture(scope="session")
def rater_answers(real_dir: Path, questions, original_labels) -> Answers:
    """raters.npz as long-format answers, grouped by "the question's class is the image's original label"."""
    with np.load(real_dir / "raters.npz") as data:
        answers = answers_from_onehot(
            data["tensor"],
            question_ids=np.arange(len(data["info"])),
            worker_ids=data["ids"],
            source="raters.npz",
        )
        assert (data["info"][:, 0] == questions["image"]).all()
    image = np.searchsorted(VAL_NAMES, questions["image"])
    is_original = questions["label"] == original_labels[image]
    return dataclasses.replace(answers, group=is_original.astype(np.int64))


def _original_top1(sets, original_labels: np.ndarray) -> Accuracy:
    """ReaL top-1 of the original val labels used as predictions, against ``sets``."""
    real = RealLabels.from_lists(sets.take(np.searchsorted(sets.image_ids, VAL_NAMES)).to_lists())
    return Accuracy.from_correct(real_topk_correct(original_labels[:, None], real, 1))


# --- precision / recall ----------------------------------------------------------------------


def test_precision_recall_counts_decisions_above_threshold():
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.95])
    truth = np.array([1, 1, 0, 0, 0])
    curve = precision_recall(scores, truth, [0.5, 0.8])
    assert curve.true_positive.tolist() == [2, 1]  # 0.8 is not > 0.8
    assert curve.false_positive.tolist() == [2, 1]
    np.testing.assert_allclose(curve.precision, [0.5, 0.5])
    np.testing.assert_allclose(curve.recall, [1.0, 0.5])
    np.testing.assert_allclose(curve.agreement, [3 / 5, 3 / 5])


def test_precision_recall_skips_unknown_truth():
    curve = precision_recall(np.array([0.9, 0.9, 0.1]), np.array([1, -1, 0]), [0.5])
    assert curve.n_questions == 2
    assert curve.precision.tolist() == [1.0]


def test_precision_recall_default_sweep_spans_full_recall_to_none():
    curve = precision_recall(np.array([0.9, 0.3, 0.6, 0.1]), np.array([1, 0, 1, 0]))
    assert curve.recall[0] == 1.0
    assert curve.recall[-1] == 0.0
    assert (np.diff(curve.recall) <= 0).all()


def test_precision_recall_rejects_mismatched_lengths():
    with pytest.raises(AggregationError, match="same length"):
        precision_recall(np.array([0.5, 0.5]), np.array([1]))


def test_released_scores_at_0_8_match_the_paper_operating_point(golden_scores_and_truth):
    scores, truth = golden_scores_and_truth
    curve = precision_recall(scores, truth, [0.8])
    assert curve.n_questions == 1_135
    assert curve.precision[0] == pytest.approx(0.898, abs=0.001)
    assert curve.recall[0] == pytest.approx(0.778, abs=0.001)
    assert curve.agreement[0] == pytest.approx(0.932, abs=0.001)


def test_curve_at_reads_the_exact_point_of_a_full_sweep(golden_scores_and_truth):
    scores, truth = golden_scores_and_truth
    point = precision_recall(scores, truth).at(0.8)
    exact = precision_recall(scores, truth, [0.8])
    assert point["precision"] == exact.precision[0]
    assert point["recall"] == exact.recall[0]
    assert point["agreement"] == exact.agreement[0]


# --- plot ------------------------------------------------------------------------------------


def test_plot_precision_recall_writes_a_png(tmp_path, golden_scores_and_truth):
    path = plot_precision_recall(
        {"released": precision_recall(*golden_scores_and_truth)}, tmp_path / "pr.png"
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_precision_recall_is_byte_identical_twice(tmp_path, golden_scores_and_truth):
    scores, truth = golden_scores_and_truth
    curves = {"released": precision_recall(scores, truth), "majority": precision_recall(scores > 0.5, truth)}
    first = plot_precision_recall(curves, tmp_path / "a.png").read_bytes()
    second = plot_precision_recall(curves, tmp_path / "b.png").read_bytes()
    assert first == second
    assert b"Software" not in first


# --- label sets and real.json ----------------------------------------------------------------


def test_label_sets_keep_classes_above_threshold_by_descending_score():
    sets = label_sets(
        ["b", "a", "a", "a", "b"], [3, 1, 2, 5, 4], [0.81, 0.9, 0.99, 0.8, 0.1], 0.8, unrated=None
    )
    assert sets.image_ids.tolist() == ["a", "b"]
    assert sets.to_lists() == [[2, 1], [3]]  # 0.8 is not > 0.8


def test_label_sets_give_unrated_images_their_label_and_ignore_it_for_rated_ones():
    sets = label_sets(["b"], [7], [0.1], 0.8, unrated={"a": 1, "b": 2, "c": 3})
    assert sets.to_lists() == [[1], [], [3]]
    assert sets.is_rated.tolist() == [False, True, False]


def test_label_sets_reject_duplicate_questions():
    with pytest.raises(AggregationError, match="more than once"):
        label_sets(["a", "b", "a"], [1, 1, 1], [0.9, 0.5, 0.2], 0.8)


def test_write_real_json_rejects_an_order_missing_images(tmp_path):
    sets = label_sets(["a", "b"], [1, 1], [0.9, 0.9], 0.8)
    with pytest.raises(AggregationError, match="distinct images"):
        write_real_json(sets, tmp_path / "real.json", image_ids=["a"])
    with pytest.raises(AggregationError, match="no label set"):
        write_real_json(sets, tmp_path / "real.json", image_ids=["a", "c"])


def test_label_sets_from_released_scores_reproduce_real_json_as_sets(tmp_path, released_sets, released):
    path = write_real_json(released_sets, tmp_path / "real.json", image_ids=VAL_NAMES)
    ours = json.loads(path.read_text())
    assert len(ours) == 50_000
    assert [set(x) for x in ours] == [set(x) for x in released]
    assert all(len(x) == len(set(x)) for x in ours)


def test_written_real_json_has_the_release_layout(tmp_path, released_sets, real_dir):
    # same sets, same separators, no trailing newline → the same byte count as the release (388,478)
    raw = write_real_json(released_sets, tmp_path / "real.json", image_ids=VAL_NAMES).read_bytes()
    assert len(raw) == (real_dir / "real.json").stat().st_size == 388_478


def test_released_label_sets_count_57553_labels_and_3163_empty_images(released_sets):
    assert int(released_sets.counts.sum()) == 57_553
    assert int((released_sets.counts == 0).sum()) == 3_163
    assert int(released_sets.is_rated.sum()) == 24_889


# --- clean subset ----------------------------------------------------------------------------


def test_clean_subset_is_the_images_whose_set_is_their_original_label(
    released_sets, released, original_labels
):
    clean = clean_subset(released_sets, dict(zip(VAL_NAMES.tolist(), original_labels.tolist(), strict=True)))
    expected = [
        name
        for name, labels, label in zip(VAL_NAMES, released, original_labels, strict=True)
        if labels == [label]
    ]
    assert clean.tolist() == expected
    assert len(clean) == 35_716  # 25,111 unrated images + 10,605 rated ones whose set is {original}


def test_write_clean_subset_writes_one_file_name_per_line(tmp_path):
    path = write_clean_subset(
        np.array(["ILSVRC2012_val_00000001.JPEG", "ILSVRC2012_val_00000003.JPEG"]), tmp_path / "clean.txt"
    )
    assert path.read_text() == "ILSVRC2012_val_00000001.JPEG\nILSVRC2012_val_00000003.JPEG\n"


def test_clean_subset_needs_every_original_label():
    sets = label_sets(["a", "b"], [1, 1], [0.9, 0.9], 0.8)
    with pytest.raises(AggregationError, match="no original label"):
        clean_subset(sets, {"a": 1})


# --- re-derived labels move ReaL accuracy -----------------------------------------------------


def test_released_labels_score_original_labels_90_02(released_sets, original_labels):
    accuracy = _original_top1(released_sets, original_labels)
    assert (accuracy.correct, accuracy.total) == (42_164, 46_837)


def test_global_prior_labels_score_original_labels_88_5(rater_answers, questions, original, original_labels):
    scores = DawidSkene().fit_predict_proba(rater_answers)
    sets = label_sets(questions["image"], questions["label"], scores, 0.8, unrated=original)
    assert _original_top1(sets, original_labels).percent == pytest.approx(88.5, abs=0.3)


def test_grouped_prior_labels_score_original_labels_91_6(rater_answers, questions, original, original_labels):
    scores = DawidSkene(grouped_prior=True).fit_predict_proba(rater_answers)
    sets = label_sets(questions["image"], questions["label"], scores, 0.8, unrated=original)
    assert _original_top1(sets, original_labels).percent == pytest.approx(91.6, abs=0.3)
