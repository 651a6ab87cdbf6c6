"""Adaptive answers: the policy on hand-built answers, the replay on generated and real answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from heldout.aggregate import DawidSkene
from heldout.aggregate.adaptive import AdaptivePolicy, replay
from heldout.answers import Answers, answers_from_onehot
from heldout.errors import AggregationError

NO, MAYBE, YES = 0, 1, 2
# three workers of the same quality: P(answer | truth) for truth 0 (does not fit) and 1 (fits)
CONFUSION = np.tile(np.array([[0.90, 0.06, 0.04], [0.10, 0.20, 0.70]]), (3, 1, 1))
PRIORS = np.array([0.2])
TWO = AdaptivePolicy(min_answers=2)
"""The hand-built cases look at questions from their second answer on."""


def make_answers(
    rows: list[tuple[int, int, int]], n_questions: int, *, n_workers: int = 3, group=None
) -> Answers:
    question, worker, value = (np.array(column, dtype=np.int64) for column in zip(*rows, strict=True))
    return Answers(
        question,
        worker,
        value.astype(np.int8),
        np.arange(n_questions),
        np.arange(n_workers),
        group=None if group is None else np.asarray(group),
    )


def generated(n_questions: int = 4000, n_workers: int = 30, per_question: int = 5, *, seed: int = 0):
    """Answers with a known truth: 25 % of classes fit; workers of varying quality, 5 distinct per question."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(n_questions) < 0.25).astype(np.int64)
    skill = rng.uniform(0.6, 1.0, n_workers)
    confusion = np.empty((n_workers, 2, 3))
    confusion[:, 0] = np.stack([0.70 + 0.25 * skill, 0.20 - 0.15 * skill, 0.12 - 0.10 * skill], axis=1)
    confusion[:, 1] = np.stack([0.40 - 0.35 * skill, np.full(n_workers, 0.20), 0.40 + 0.35 * skill], axis=1)
    confusion /= confusion.sum(axis=2, keepdims=True)
    workers = np.argsort(rng.random((n_questions, n_workers)), axis=1)[:, :per_question]
    question = np.repeat(np.arange(n_questions), per_question)
    worker = workers.ravel()
    cumulative = confusion[worker, truth[question]].cumsum(axis=1)
    value = (rng.random(len(worker))[:, None] > cumulative).sum(axis=1).clip(0, 2)
    answers = Answers(question, worker, value.astype(np.int8), np.arange(n_questions), np.arange(n_workers))
    return answers, truth


# -- the policy ------------------------------------------------------------------------------------


def test_policy_settles_unanimous_no_after_two_answers():
    answers = make_answers([(0, 0, NO), (0, 1, NO), (1, 0, NO), (1, 1, YES)], 2)
    settled = TWO.settled(answers, confusion=CONFUSION, priors=PRIORS)
    assert settled[0]


def test_policy_settles_unanimous_yes_when_two_no_cannot_undo_it():
    answers = make_answers([(0, 0, YES), (0, 1, YES), (0, 2, YES)], 1)
    settled = TWO.settled(answers, confusion=CONFUSION, priors=PRIORS)
    assert settled[0]


def test_policy_keeps_contested_question_open():
    answers = make_answers([(0, 0, NO), (0, 1, NO), (1, 0, NO), (1, 1, YES)], 2)
    settled = TWO.settled(answers, confusion=CONFUSION, priors=PRIORS)
    assert not settled[1]


def test_policy_keeps_questions_below_min_answers_open():
    answers = make_answers([(0, 0, NO), (1, 0, NO), (1, 1, NO), (1, 2, NO)], 2)
    settled = AdaptivePolicy(min_answers=3).settled(answers, confusion=CONFUSION, priors=PRIORS)
    assert settled.tolist() == [False, True]


def test_policy_settles_questions_with_max_answers_whatever_they_say():
    rows = [(0, w, v) for w, v in zip(range(3), (NO, YES, MAYBE), strict=True)]
    answers = make_answers(rows, 1)
    settled = AdaptivePolicy(max_answers=3).settled(answers, confusion=CONFUSION, priors=PRIORS)
    assert settled[0]


def test_zero_flip_probability_settles_only_when_remaining_answers_cannot_cross():
    # two "no": three "yes" could still cross 0.8; four "no": one more answer cannot
    rows = [(0, 0, NO), (0, 1, NO)] + [(1, w % 3, NO) for w in range(4)]
    answers = make_answers(rows, 2)
    settled = AdaptivePolicy(min_answers=2, max_flip_probability=0.0).settled(
        answers, confusion=CONFUSION, priors=PRIORS
    )
    assert settled.tolist() == [False, True]


def test_epsilon_settles_decisive_posteriors():
    # no, maybe: posterior ≈ 0.07, decisive at epsilon 0.1 but not at the default flip rule
    answers = make_answers([(0, 0, NO), (0, 1, MAYBE)], 1)
    loose = AdaptivePolicy(min_answers=2, max_flip_probability=0.0, epsilon=0.1)
    strict = AdaptivePolicy(min_answers=2, max_flip_probability=0.0)
    assert loose.settled(answers, confusion=CONFUSION, priors=PRIORS)[0]
    assert not strict.settled(answers, confusion=CONFUSION, priors=PRIORS)[0]


def test_flip_probability_matches_enumeration_of_remaining_answers():
    rng = np.random.default_rng(1)
    confusion = rng.dirichlet(np.full(3, 4.0), size=(3, 2))
    priors = np.array([0.4])
    rows = [(0, 0, NO), (0, 1, YES), (1, 2, MAYBE), (1, 0, NO), (1, 1, NO), (2, 1, YES), (2, 2, YES)]
    answers = make_answers(rows, 3)
    policy = AdaptivePolicy(threshold=0.5, min_answers=2, max_answers=5, resolution_logit=1e-3)
    got = policy.flip_probability(answers, confusion, priors)

    llr = np.log(confusion[:, 1]) - np.log(confusion[:, 0])
    share = np.bincount(answers.worker, minlength=3) / len(answers)
    log_odds = policy.posterior_log_odds(answers, confusion, priors)
    expected = []
    for x, remaining in zip(log_odds, (3, 2, 3), strict=True):
        p = 1 / (1 + np.exp(-x))
        flip = 0.0
        for sequence in itertools.product(itertools.product(range(3), range(3)), repeat=remaining):
            if (x + sum(llr[w, a] for w, a in sequence) > 0) != (x > 0):
                for z, weight in ((1, p), (0, 1 - p)):
                    flip += weight * np.prod([share[w] * confusion[w, z, a] for w, a in sequence])
        expected.append(flip)
    assert min(expected) > 0  # every question can still flip
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_grouped_priors_follow_question_groups():
    answers = make_answers([(0, 0, NO), (1, 0, NO)], 2, group=[0, 1])
    log_odds = AdaptivePolicy().posterior_log_odds(answers, CONFUSION, np.array([0.1, 0.8]))
    assert log_odds[1] - log_odds[0] == pytest.approx(np.log(4) - np.log(1 / 9))


def test_frequency_fallback_settles_when_the_majority_is_fixed():
    rows = [(0, w, NO) for w in range(3)] + [(1, 0, NO), (1, 1, YES)]
    settled = TWO.settled(make_answers(rows, 2))
    assert settled.tolist() == [True, False]


def test_frequency_fallback_settles_when_the_interval_excludes_the_threshold():
    rows = [(0, w, YES) for w in range(12)] + [(1, w, YES if w % 2 else NO) for w in range(12)]
    settled = AdaptivePolicy(max_answers=50).settled(make_answers(rows, 2, n_workers=12))
    assert settled.tolist() == [True, False]


def test_next_questions_lists_open_questions_most_uncertain_first():
    rows = [(0, 0, NO), (0, 1, NO), (1, 0, NO), (1, 1, MAYBE), (2, 0, NO), (2, 1, YES), (3, 0, YES)]
    order = TWO.next_questions(make_answers(rows, 5), confusion=CONFUSION, priors=PRIORS)
    # unanswered first, then one answer, then the contested pair (no, yes) before (no, maybe)
    assert order.tolist() == [4, 3, 2, 1]


def test_policy_needs_both_confusion_and_priors():
    answers = make_answers([(0, 0, NO)], 1)
    with pytest.raises(AggregationError, match="both"):
        AdaptivePolicy().settled(answers, confusion=CONFUSION)


def test_policy_rejects_confusion_for_other_workers():
    answers = make_answers([(0, 0, NO)], 1)
    with pytest.raises(AggregationError, match="shape"):
        AdaptivePolicy().settled(answers, confusion=CONFUSION[:2], priors=PRIORS)


def test_policy_rejects_min_answers_above_max_answers():
    with pytest.raises(AggregationError, match="min_answers"):
        AdaptivePolicy(min_answers=4, max_answers=3)


# -- the replay on generated answers ---------------------------------------------------------------


def test_replay_is_deterministic_for_a_seed():
    answers, truth = generated()
    first = replay(answers, AdaptivePolicy(), seed=7, truth=truth)
    second = replay(answers, AdaptivePolicy(), seed=7, truth=truth)
    np.testing.assert_array_equal(first.used, second.used)
    np.testing.assert_array_equal(first.scores, second.scores)


def test_replay_reveals_answers_in_an_order_drawn_from_the_seed():
    answers, _ = generated()
    first = replay(answers, AdaptivePolicy(), seed=1)
    second = replay(answers, AdaptivePolicy(), seed=2)
    assert not np.array_equal(first.used, second.used)


def test_replay_does_not_depend_on_the_row_order():
    answers, _ = generated(n_questions=1000)
    shuffle = np.random.default_rng(3).permutation(len(answers))
    shuffled = Answers(
        answers.question[shuffle],
        answers.worker[shuffle],
        answers.value[shuffle],
        answers.question_ids,
        answers.worker_ids,
    )
    np.testing.assert_array_equal(
        replay(answers, AdaptivePolicy(), seed=0).used, replay(shuffled, AdaptivePolicy(), seed=0).used
    )


def test_replay_never_uses_more_answers_than_available():
    answers, _ = generated()
    keep = np.random.default_rng(4).random(len(answers)) < 0.7  # 0..5 answers per question
    keep[np.searchsorted(answers.question, np.arange(answers.n_questions))] = True
    partial = Answers(
        answers.question[keep],
        answers.worker[keep],
        answers.value[keep],
        answers.question_ids,
        answers.worker_ids,
    )
    result = replay(partial, AdaptivePolicy(max_answers=4), seed=0)
    available = np.bincount(partial.question, minlength=partial.n_questions)
    assert (result.used <= np.minimum(available, 4)).all()
    assert result.answers_used == result.used.sum() <= result.answers_available == len(partial)


def test_replay_gives_every_question_min_answers():
    answers, _ = generated()
    result = replay(answers, AdaptivePolicy(min_answers=3), seed=0)
    assert result.used.min() == 3


def test_replay_leaves_the_callers_model_unfitted():
    answers, _ = generated(n_questions=500)
    model = DawidSkene()
    replay(answers, AdaptivePolicy(), seed=0, model=model)
    assert not hasattr(model, "scores_")


def test_replay_saves_answers_and_keeps_accuracy_on_generated_answers():
    answers, truth = generated(n_questions=6000)
    result = replay(answers, AdaptivePolicy(), seed=0, truth=truth)
    assert result.saved >= 0.30
    assert result.identical_decisions >= 0.99
    assert result.expert_agreement >= result.full_expert_agreement - 0.005


# -- the replay on the ReaL answers (all 184,962 questions, 924,810 answers) -------------------------


@pytest.fixture(scope="module")
def real_replay(shared_data):
    folder = shared_data / "real"
    with np.load(folder / "raters.npz") as data:
        tensor, info, ids = data["tensor"], data["info"], data["ids"]
    onehot = answers_from_onehot(
        tensor, question_ids=np.arange(len(info)), worker_ids=ids, source="raters.npz"
    )
    del tensor
    files, labels = info[:, 0], info[:, 1].astype(np.int64)
    original = np.loadtxt(folder / "val_original_labels.txt", dtype=np.int64)
    file_index = np.array([int(name[len("ILSVRC2012_val_") :].split(".")[0]) for name in files]) - 1
    group = (original[file_index] == labels).astype(np.int64)
    with np.load(folder / "golden.npz") as data:
        expert_yes, golden_info = data["tensor"][:, :, YES].sum(axis=0), data["info"]
    keys = np.char.add(np.char.add(files, "/"), info[:, 1])
    golden_keys = np.char.add(np.char.add(golden_info[:, 0], "/"), golden_info[:, 1])
    sorter = np.argsort(keys)
    rows = sorter[np.searchsorted(keys, golden_keys, sorter=sorter)]
    truth = np.full(len(info), -1)
    truth[rows] = (expert_yes >= 3).astype(np.int64)
    answers = Answers(
        onehot.question, onehot.worker, onehot.value, onehot.question_ids, onehot.worker_ids, group=group
    )
    return replay(answers, AdaptivePolicy(), seed=0, model=DawidSkene(grouped_prior=True), truth=truth)


def test_replay_on_real_answers_saves_30_percent(real_replay):
    assert real_replay.answers_available == 924_810
    assert real_replay.saved >= 0.30


def test_replay_on_real_answers_keeps_99_percent_of_decisions(real_replay):
    assert real_replay.identical_decisions >= 0.99


def test_replay_on_real_answers_keeps_expert_agreement_within_half_a_point(real_replay):
    assert real_replay.golden_questions == 1_135
    assert real_replay.expert_agreement >= real_replay.full_expert_agreement - 0.005
