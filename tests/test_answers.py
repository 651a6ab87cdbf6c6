"""Answers as arrays: one-hot conversion, validation, counts, loading from the catalog."""

from __future__ import annotations

import numpy as np
import pytest

from heldout.answers import Answers, answers_from_onehot
from heldout.errors import AggregationError


def _onehot(values):
    """(workers, questions) codes, -1 = no answer → one-hot tensor."""
    values = np.asarray(values)
    tensor = np.zeros((*values.shape, 3))
    w, q = np.nonzero(values >= 0)
    tensor[w, q, values[w, q]] = 1
    return tensor


def test_onehot_becomes_long_format_sorted_by_question_then_worker():
    answers = answers_from_onehot(
        _onehot([[2, -1, 0], [1, 0, -1]]), question_ids=np.arange(3), worker_ids=np.array(["a", "b"])
    )
    assert answers.question.tolist() == [0, 0, 1, 2]
    assert answers.worker.tolist() == [0, 1, 1, 0]
    assert answers.value.tolist() == [2, 1, 0, 0]


def test_two_categories_set_in_one_row_is_an_error():
    tensor = _onehot([[2, 0]])
    tensor[0, 1, 2] = 1
    with pytest.raises(AggregationError, match="two categories set"):
        answers_from_onehot(tensor, question_ids=np.arange(2), worker_ids=np.array([7]))


def test_nan_in_the_tensor_is_an_error():
    tensor = _onehot([[2, 0]])
    tensor[0, 0, 0] = np.nan
    with pytest.raises(AggregationError, match="NaN"):
        answers_from_onehot(tensor, question_ids=np.arange(2), worker_ids=np.array([7]))


def test_shape_disagreeing_with_ids_is_an_error():
    with pytest.raises(AggregationError, match="disagrees"):
        answers_from_onehot(_onehot([[2, 0]]), question_ids=np.arange(3), worker_ids=np.array([7]))


def test_empty_answers_are_an_error():
    with pytest.raises(AggregationError, match="no answers"):
        answers_from_onehot(_onehot([[-1, -1]]), question_ids=np.arange(2), worker_ids=np.array([7]))


def test_unknown_worker_index_is_an_error():
    with pytest.raises(AggregationError, match="worker index out of range"):
        Answers(np.array([0]), np.array([3]), np.array([1], np.int8), np.arange(1), np.arange(2))


def test_counts_and_collapse():
    answers = Answers(
        np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([1, 2, 0], np.int8), np.arange(2), np.arange(2)
    )
    assert answers.counts().tolist() == [[0, 1, 1], [1, 0, 0]]
    binary = answers.collapse((0, 1, 1))
    assert binary.n_categories == 2 and binary.counts().tolist() == [[0, 2], [1, 0]]


def test_real_raters_file_has_the_published_answer_counts(real_answers):
    assert len(real_answers) == 924_810 and real_answers.n_questions == 184_962
    assert np.bincount(real_answers.value).tolist() == [729_424, 78_942, 116_444]
    assert (np.bincount(real_answers.question) == 5).all()
