"""Worker quality: expert majority, control truth, per-worker accuracy, spammer flags, confusion priors.

Real-data tests use the ReaL release's golden set: 78 raters answered all 1,135 golden questions
(``raters_golden.npz``, 88,530 answers) and 5 experts answered them too (``golden.npz``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from heldout.aggregate import DawidSkene
from heldout.aggregate.quality import (
    confusion_prior,
    control_truth,
    expert_majority,
    worker_quality,
)
from heldout.answers import Answers, answers_from_onehot
from heldout.errors import AggregationError

NO, MAYBE, YES = 0, 1, 2


def _answers(rows: list[tuple[int, int, int]], n_questions: int, n_workers: int, k: int = 3) -> Answers:
    question, worker, value = (np.array(c, dtype=np.int64) for c in zip(*rows, strict=True))
    return Answers(
        question, worker, value.astype(np.int8), np.arange(n_questions), np.arange(100, 100 + n_workers), k
    )


@pytest.fixture(scope="session")
def real_dir(shared_data: Path) -> Path:
    folder = shared_data / "real"
    if not (folder / "raters_golden.npz").is_file():
        pytest.skip(f"ReaL release files not found in {folder}")
    return folder


@pytest.fixture(scope="session")
def golden_truth(real_dir: Path) -> np.ndarray:
    with np.load(real_dir / "golden.npz") as data:
        experts = answers_from_onehot(
            data["tensor"], question_ids=np.arange(len(data["info"])), worker_ids=data["ids"]
        )
    return expert_majority(experts)


@pytest.fixture(scope="session")
def golden_raters(real_dir: Path) -> Answers:
    with np.load(real_dir / "raters_golden.npz") as data, np.load(real_dir / "golden.npz") as golden:
        assert (data["info"] == golden["info"]).all()  # same questions, same order
        return answers_from_onehot(
            data["tensor"], question_ids=np.arange(len(data["info"])), worker_ids=data["ids"]
        )


@pytest.fixture(scope="session")
def golden_quality(golden_raters: Answers, golden_truth: np.ndarray):
    return worker_quality(golden_raters, golden_truth)


# --- expert majority -------------------------------------------------------------------------


def test_expert_majority_needs_min_yes_experts():
    # question 0: 2 of 5 yes; question 1: 3 of 5 yes; question 2: nobody answered
    rows = [(0, w, YES if w < 2 else NO) for w in range(5)] + [(1, w, YES if w < 3 else NO) for w in range(5)]
    assert expert_majority(_answers(rows, 3, 5)).tolist() == [0, 1, -1]


def test_expert_majority_ignores_maybe_by_default():
    rows = [(0, w, MAYBE) for w in range(5)]
    assert expert_majority(_answers(rows, 1, 5)).tolist() == [0]


def test_expert_majority_on_real_golden_has_248_positive_questions(golden_truth):
    # notes: per-question expert yes-count histogram → 248 questions with ≥ 3/5 expert yes
    assert len(golden_truth) == 1_135
    assert int((golden_truth == 1).sum()) == 248
    assert int((golden_truth == 0).sum()) == 1_135 - 248


# --- control truth ---------------------------------------------------------------------------


def test_control_truth_maps_roles_to_truth():
    roles = ["candidate", "positive", "negative", "positive"]
    assert control_truth(roles).tolist() == [-1, 1, 0, 1]


def test_control_truth_rejects_unknown_role():
    with pytest.raises(AggregationError, match="unknown question role"):
        control_truth(["positive", "control"])


def test_control_accuracy_is_worker_quality_on_control_truth():
    roles = ["candidate", "positive", "negative", "positive", "negative"]
    # grid answers (K = 2): worker 0 ticks both positives and no negative; worker 1 ticks everything
    rows = [(q, 0, int(q in (1, 3))) for q in range(5)] + [(q, 1, 1) for q in range(5)]
    quality = worker_quality(_answers(rows, 5, 2, k=2), control_truth(roles), positive=(1,))
    assert quality.n_answers.tolist() == [4, 4]  # the candidate question does not count
    assert quality.n_correct.tolist() == [4, 2]
    assert quality.sensitivity.tolist() == [1.0, 1.0]
    assert quality.specificity.tolist() == [1.0, 0.0]


# --- worker quality --------------------------------------------------------------------------


def test_worker_quality_skips_questions_of_unknown_truth():
    rows = [(0, 0, YES), (1, 0, NO), (2, 0, YES)]
    quality = worker_quality(_answers(rows, 3, 1), np.array([1, -1, 0]))
    assert quality.n_answers.tolist() == [2]
    assert quality.n_correct.tolist() == [1]


def test_worker_quality_counts_maybe_as_yes_by_default():
    rows = [(0, 0, MAYBE), (1, 0, MAYBE)]
    answers, truth = _answers(rows, 2, 1), np.array([1, 0])
    assert worker_quality(answers, truth).sensitivity.tolist() == [1.0]
    assert worker_quality(answers, truth, positive=(YES,)).sensitivity.tolist() == [0.0]


def test_worker_quality_rates_are_nan_without_answers():
    rows = [(0, 0, YES)]
    quality = worker_quality(_answers(rows, 1, 2), np.array([1]))
    assert quality.n_answers.tolist() == [1, 0]
    assert np.isnan(quality.accuracy[1]) and np.isnan(quality.accuracy_low[1])
    assert np.isnan(quality.specificity[0])  # worker 0 saw no negative question


def test_worker_quality_rejects_truth_of_wrong_length():
    with pytest.raises(AggregationError, match="truth has shape"):
        worker_quality(_answers([(0, 0, YES)], 2, 1), np.array([1]))


def test_constant_no_worker_is_flagged_despite_high_accuracy():
    truth = np.array([1] * 20 + [0] * 80)
    rows = [(q, 0, NO) for q in range(100)]
    quality = worker_quality(_answers(rows, 100, 1), truth)
    assert quality.accuracy.tolist() == [0.8]
    assert quality.informedness.tolist() == [0.0]
    assert quality.is_likely_spammer.tolist() == [True]


def test_worse_than_coin_worker_is_flagged():
    truth = np.array([1, 0] * 30)
    rows = [(q, 0, NO if truth[q] else YES) for q in range(60)]
    quality = worker_quality(_answers(rows, 60, 1), truth)
    assert quality.accuracy_high[0] < 0.5
    assert quality.is_likely_spammer.tolist() == [True]


def test_informative_worker_with_few_answers_is_not_flagged():
    truth = np.array([1, 0, 0])
    rows = [(0, 0, YES), (1, 0, NO), (2, 0, YES)]
    assert worker_quality(_answers(rows, 3, 1), truth).is_likely_spammer.tolist() == [False]


def test_to_rows_gives_one_json_ready_row_per_worker():
    rows = [(0, 0, YES), (1, 1, NO)]
    table = worker_quality(_answers(rows, 2, 2), np.array([1, 0])).to_rows()
    assert [row["worker_id"] for row in table] == [100, 101]
    assert table[0]["specificity"] is None  # NaN becomes None
    json.dumps(table)


# --- on the ReaL golden set ------------------------------------------------------------------


def test_real_golden_quality_counts_all_88530_answers(golden_quality):
    assert len(golden_quality) == 78
    assert int(golden_quality.n_answers.sum()) == 88_530
    assert int(golden_quality.answer_counts.sum()) == 88_530
    assert (golden_quality.n_answers == 1_135).all()  # every rater answered every golden question


def test_real_golden_intervals_contain_accuracy(golden_quality):
    q = golden_quality
    assert ((q.accuracy_low <= q.accuracy) & (q.accuracy <= q.accuracy_high)).all()
    assert (q.accuracy_high - q.accuracy_low < 0.06).all()  # 1,135 answers each: tight intervals


def test_real_golden_most_raters_are_above_80_percent(golden_quality):
    assert (golden_quality.accuracy > 0.8).mean() >= 0.9


def test_real_golden_rater_127_matches_notes(golden_quality):
    # notes: rater 127 on raters_golden vs expert majority: P(no | wrong) 0.93, P(yes | right) 0.70
    counts = golden_quality.answer_counts[golden_quality.worker_ids.tolist().index(127)]
    assert counts[0, NO] / counts[0].sum() == pytest.approx(0.93, abs=0.005)
    assert counts[1, YES] / counts[1].sum() == pytest.approx(0.70, abs=0.005)


def test_real_golden_flags_few_raters_all_uninformative(golden_quality):
    q = golden_quality
    flagged = q.is_likely_spammer
    assert 0 < flagged.sum() <= 0.05 * len(q)
    assert ((np.abs(q.informedness[flagged]) < 0.2) | (q.accuracy_high[flagged] < 0.5)).all()


# --- confusion prior -------------------------------------------------------------------------


def test_confusion_prior_rows_sum_to_strength():
    rows = [(0, 0, YES), (1, 0, NO), (2, 1, MAYBE)]
    prior = confusion_prior(worker_quality(_answers(rows, 3, 2), np.array([1, 0, 1])), 3, strength=8.0)
    assert prior.shape == (2, 2, 3)
    np.testing.assert_allclose(prior.sum(axis=2), 8.0)


def test_confusion_prior_follows_control_answers():
    truth = np.array([1] * 10 + [0] * 10)
    rows = [(q, 0, YES if truth[q] else NO) for q in range(20)]
    prior = confusion_prior(worker_quality(_answers(rows, 20, 1), truth), 3, strength=13.0)
    np.testing.assert_allclose(prior[0], [[11.0, 1.0, 1.0], [1.0, 1.0, 11.0]])  # (10 + 1) / 13 · 13


def test_confusion_prior_gives_unknown_workers_pooled_rates():
    truth = np.array([1, 0])
    rows = [(0, 0, YES), (1, 0, NO)]
    quality = worker_quality(_answers(rows, 2, 1), truth)
    prior = confusion_prior(quality, 3, worker_ids=np.array([999, 100]))
    own = confusion_prior(quality, 3)
    np.testing.assert_allclose(prior[1], own[0])
    np.testing.assert_allclose(prior[0], 10.0 * np.array([[2, 1, 1], [1, 1, 2]]) / 4)


def test_confusion_prior_rejects_category_mismatch():
    quality = worker_quality(_answers([(0, 0, 1)], 1, 1, k=2), np.array([1]), positive=(1,))
    with pytest.raises(AggregationError, match="categories"):
        confusion_prior(quality, 3)


def test_confusion_prior_pulls_dawid_skene_toward_control_rates(golden_raters, golden_quality):
    prior = confusion_prior(golden_quality, 3, strength=1_000.0, worker_ids=golden_raters.worker_ids)
    control_rates = prior / 1_000.0
    free = DawidSkene().fit(golden_raters).confusion_
    seeded = DawidSkene(alpha=prior).fit(golden_raters).confusion_
    assert np.abs(seeded - control_rates).mean() < 0.5 * np.abs(free - control_rates).mean()
