"""Selection frequency (ImageNetV2's rule) and majority vote."""

from __future__ import annotations

import numpy as np

from heldout.aggregate import MajorityVote, SelectionFrequency
from heldout.answers import Answers


def _answers(rows, n_questions):
    question, worker, value = np.array(rows).T
    return Answers(
        question, worker, value.astype(np.int8), np.arange(n_questions), np.arange(worker.max() + 1)
    )


def test_frequency_is_the_share_of_yes_among_valid_answers():
    answers = _answers([(0, 0, 2), (0, 1, 0), (0, 2, 2), (1, 0, 0)], 3)
    model = SelectionFrequency().fit(answers)
    assert model.scores_.tolist() == [2 / 3, 0.0, 0.0]
    assert model.annotations_.tolist() == [3, 1, 0]


def test_maybe_counts_only_when_asked():
    answers = _answers([(0, 0, 1), (0, 1, 2)], 1)
    assert SelectionFrequency().fit_predict_proba(answers).tolist() == [0.5]
    assert SelectionFrequency(positive=(1, 2)).fit_predict_proba(answers).tolist() == [1.0]


def test_frequency_threshold_is_imagenetv2s_0_7():
    answers = _answers([(0, w, 2) for w in range(7)] + [(0, w, 0) for w in range(7, 10)], 1)
    assert SelectionFrequency().fit_predict(answers).tolist() == [True]


def test_majority_ties_are_not_a_yes():
    answers = _answers([(0, 0, 0), (0, 1, 2)], 1)
    model = MajorityVote().fit(answers)
    assert model.labels_.tolist() == [0]


def test_majority_on_real_answers_agrees_with_published_scores_mostly(real_answers, real_scores):
    decided = MajorityVote().fit_predict(real_answers)
    assert ((real_scores > 0.5) == decided).mean() > 0.9
    assert np.isclose(MajorityVote().fit_predict_proba(real_answers).mean(), (78_942 + 116_444) / 924_810)
