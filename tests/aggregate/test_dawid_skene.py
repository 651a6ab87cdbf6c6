"""Dawid–Skene on the real ReaL answers and on generated answers with a known truth."""

from __future__ import annotations

import numpy as np
import pytest

from heldout.aggregate import DawidSkene
from heldout.answers import Answers
from heldout.errors import AggregationError


@pytest.fixture(scope="module")
def global_fit(real_answers):
    return DawidSkene().fit(real_answers)


@pytest.fixture(scope="module")
def grouped_fit(real_answers):
    return DawidSkene(grouped_prior=True).fit(real_answers)


def test_global_prior_correlates_with_the_released_scores(global_fit, real_scores):
    assert np.corrcoef(global_fit.scores_, real_scores)[0, 1] >= 0.984


def test_grouped_prior_correlates_better(grouped_fit, real_scores):
    assert np.corrcoef(grouped_fit.scores_, real_scores)[0, 1] >= 0.985


@pytest.mark.parametrize("fit", ["global_fit", "grouped_fit"])
def test_at_least_98_percent_agree_on_the_release_operating_point(fit, request, real_scores):
    scores = request.getfixturevalue(fit).scores_
    assert ((scores > 0.8) == (real_scores > 0.8)).mean() >= 0.98


def test_em_converges_and_records_a_nondecreasing_log_likelihood(global_fit):
    trace = np.array(global_fit.log_likelihood_)
    assert global_fit.converged_ and global_fit.n_iter_ < 200
    assert (np.diff(trace) >= -1e-6 * np.abs(trace[1:])).all()


def test_confusion_matrices_are_row_stochastic(global_fit, real_answers):
    assert global_fit.confusion_.shape == (real_answers.n_workers, 2, 3)
    np.testing.assert_allclose(global_fit.confusion_.sum(axis=2), 1.0)


def test_grouped_prior_is_higher_for_original_labels(grouped_fit):
    other, original = grouped_fit.priors_
    assert original > 0.5 > other


def _synthetic(seed=0, questions=2000, workers=12, answers_per_question=5):
    rng = np.random.default_rng(seed)
    truth = rng.random(questions) < 0.3
    accuracy = np.r_[np.full(workers - 2, 0.9), 0.5, 0.5]  # two spammers
    question = np.repeat(np.arange(questions), answers_per_question)
    worker = np.concatenate(
        [rng.choice(workers, answers_per_question, replace=False) for _ in range(questions)]
    )
    correct = rng.random(len(question)) < accuracy[worker]
    value = np.where(correct, truth[question], ~truth[question]).astype(np.int8)
    return Answers(question, worker, value, np.arange(questions), np.arange(workers), 2), truth


def test_recovers_a_known_truth_better_than_majority():
    answers, truth = _synthetic()
    scores = DawidSkene().fit_predict_proba(answers)
    majority = answers.counts()[:, 1] > answers.counts()[:, 0]
    assert ((scores > 0.5) == truth).mean() > (majority == truth).mean()
    assert ((scores > 0.5) == truth).mean() > 0.97


def test_spammers_get_uninformative_confusion_matrices():
    answers, _ = _synthetic()
    confusion = DawidSkene().fit(answers).confusion_
    informativeness = confusion[:, 1, 1] - confusion[:, 0, 1]
    assert informativeness[-2:].max() < 0.2 < informativeness[:-2].min()


def test_clamped_questions_keep_their_truth():
    answers, truth = _synthetic()
    clamp = np.full(answers.n_questions, -1)
    clamp[:10] = 1
    scores = DawidSkene(clamp=clamp).fit_predict_proba(answers)
    assert (scores[:10] == 1.0).all()


def test_posterior_stopping_rule_stops_when_posteriors_settle():
    answers, _ = _synthetic()
    model = DawidSkene(stop="posterior", tol=1e-6).fit(answers)
    assert model.converged_
    again = DawidSkene(stop="posterior", tol=1e-6, max_iter=model.n_iter_ + 5).fit(answers)
    assert np.abs(again.scores_ - model.scores_).max() < 1e-5


def test_a_single_worker_is_refused():
    answers = Answers(
        np.array([0, 1]), np.array([0, 0]), np.array([1, 0], np.int8), np.arange(2), np.arange(1), 2
    )
    with pytest.raises(AggregationError, match="at least 2 workers"):
        DawidSkene().fit(answers)


def test_same_answers_give_identical_scores():
    answers, _ = _synthetic(seed=3)
    assert np.array_equal(DawidSkene().fit_predict_proba(answers), DawidSkene().fit_predict_proba(answers))
