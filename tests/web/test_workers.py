"""The pause rule with scripted workers.

Honest workers are simulated from the confusion matrices Dawid–Skene fits on the ReaL raters
(``raters.npz``, answers collapsed to two categories: maybe counts as a tick). The honest pool is
the raters with at least 100 answers whose fitted informedness (sensitivity − false-positive
rate) exceeds 0.3: 81 of 85; the two left out are an always-yes rater and one with 9 answers.

Grids have ImageNetV2's shape (3 positive and 3 negative controls, 42 candidates of which each
fits with probability 0.5). Before the simulated worker, 0-9 honest workers (uniformly) have
answered each grid. The rule is the library's (:class:`heldout.crowd.workers.PauseRule`).
"""

from __future__ import annotations

import numpy as np
import pytest
from webtools import SECRET, close_open_tasks, grid_roles, make_task, new_label, stored_images

from heldout.aggregate import DawidSkene
from heldout.answers import answers_from_onehot
from heldout.crowd.assignments import issue_assignment, submit_answers
from heldout.crowd.workers import PauseRule, check_worker, register_worker
from heldout.errors import WorkerPausedError

RUNS = 1000
HONEST_GRIDS = 20
SPAMMERS = {"random": 0.5, "all-yes": 1.0, "all-no": 0.0}


@pytest.fixture(scope="session")
def honest_pool(shared_data) -> tuple[np.ndarray, np.ndarray]:
    """(sensitivity, false-positive rate) of the ReaL raters fitted by Dawid–Skene, honest ones."""
    with np.load(shared_data / "real" / "raters.npz") as data:
        tensor, info, ids = data["tensor"], data["info"], data["ids"]
    answers = answers_from_onehot(tensor, question_ids=np.arange(len(info)), worker_ids=ids).collapse(
        (0, 1, 1)
    )
    confusion = DawidSkene().fit(answers).confusion_
    sensitivity, false_positive = confusion[:, 1, 1], confusion[:, 0, 1]
    counts = np.bincount(answers.worker, minlength=answers.n_workers)
    honest = (counts >= 100) & (sensitivity - false_positive > 0.3)
    assert honest.sum() == 81
    return sensitivity[honest], false_positive[honest]


def simulate_pauses(
    pool: tuple[np.ndarray, np.ndarray], kind: str, *, runs: int, grids: int, seed: int, fits: float = 0.5
) -> np.ndarray:
    """Per run: was the worker paused at some check after grids 1..``grids``? Vectorised."""
    rule, rng = PauseRule(), np.random.default_rng(seed)
    sensitivity, false_positive = pool
    truth = np.zeros((runs, grids, 48), dtype=bool)
    truth[:, :, :3] = True
    truth[:, :, 6:] = rng.random((runs, grids, 42)) < fits
    earlier = rng.integers(0, 10, size=(runs, grids))
    peers = rng.integers(0, len(sensitivity), size=(runs, grids, 9))
    p_peer = np.where(
        truth[..., None], sensitivity[peers][:, :, None, :], false_positive[peers][:, :, None, :]
    )
    ticks = (rng.random(p_peer.shape) < p_peer) & (np.arange(9) < earlier[:, :, None, None])
    answered = np.arange(9) < earlier[:, :, None, None]
    yes, no = ticks.sum(-1), (answered & ~ticks).sum(-1)
    probability = rule.peer_truth(yes, no)
    probability[:, :, :3], probability[:, :, 3:6] = 1.0, 0.0
    counted = np.ones_like(truth)
    counted[:, :, 6:] = (yes + no)[:, :, 6:] >= rule.min_peers
    if kind == "honest":
        worker = rng.integers(0, len(sensitivity), size=runs)
        p_tick = np.where(truth, sensitivity[worker][:, None, None], false_positive[worker][:, None, None])
    else:
        p_tick = np.full(truth.shape, SPAMMERS[kind])
    tick = rng.random(truth.shape) < p_tick
    hits, misses = rule.evidence(probability, tick, counted)  # (runs, grids, bins)
    paused = np.zeros(runs, dtype=bool)
    for grid in range(grids):
        first = max(0, grid - rule.window + 1)
        paused |= rule.should_pause(hits[:, first : grid + 1].sum(1), misses[:, first : grid + 1].sum(1))
    return paused


def test_honest_worker_from_real_raters_is_paused_in_under_2_percent_of_1000_runs(honest_pool):
    rate = simulate_pauses(honest_pool, "honest", runs=RUNS, grids=HONEST_GRIDS, seed=0).mean()
    print(f"honest worker paused within {HONEST_GRIDS} grids in {rate:.1%} of {RUNS} runs")
    assert rate < 0.02


@pytest.mark.parametrize("kind", ["all-yes", "all-no"])
def test_constant_clicker_is_paused_within_two_grids_in_every_run(honest_pool, kind):
    assert simulate_pauses(honest_pool, kind, runs=RUNS, grids=2, seed=1).all()


def test_random_clicker_is_paused_within_two_grids_in_almost_every_run(honest_pool):
    rate = simulate_pauses(honest_pool, "random", runs=RUNS, grids=2, seed=2).mean()
    print(f"random clicker paused within two grids in {rate:.1%} of {RUNS} runs")
    assert rate >= 0.95


def test_pause_rule_ignores_a_worker_without_answers():
    rule = PauseRule()
    assert rule.log_bayes_factor(np.zeros(rule.bins), np.zeros(rule.bins)) == pytest.approx(0.0)


def test_pause_rule_leaves_out_candidates_nobody_else_answered():
    rule = PauseRule()
    truth = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0] + [0.5] * 42)
    ticks = np.array([True] * 3 + [False] * 45)
    counted = np.array([True] * 6 + [False] * 42)
    assert not rule.should_pause(*rule.evidence(truth, ticks, counted))


# --- the same, through the catalog: scripted workers issue and submit grids ---------------------------


@pytest.fixture()
def scripted_grids(sqlite_project, honest_pool):
    """Two ImageNetV2-shaped grids of a class of their own, each already answered by 9 honest
    workers drawn from the ReaL pool; returns (project, truth per position)."""
    project, rng = sqlite_project, np.random.default_rng(7)
    close_open_tasks(project)
    class_key = str(rng.choice(project.classes.ids[100:900]))
    images = stored_images(project)
    truth = np.r_[np.ones(3, bool), np.zeros(3, bool), rng.random(42) < 0.5]
    for offset in (0, 48):
        picked = [images[(offset + i) % len(images)] for i in range(48)]
        make_task(project, picked, class_key=class_key, roles=grid_roles())
    sensitivity, false_positive = honest_pool
    for _ in range(9):
        worker = register_worker(project, SECRET, platform_id=new_label(), via="invite").worker_id
        w = rng.integers(len(sensitivity))
        for _grid in range(2):
            issued = issue_assignment(project, worker)
            ticks = rng.random(48) < np.where(truth, sensitivity[w], false_positive[w])
            submit_answers(project, issued.assignment_id, {p: 2 if t else 0 for p, t in enumerate(ticks)})
    return project, truth


@pytest.mark.parametrize("kind", ["random", "all-yes", "all-no"])
def test_scripted_spammer_is_paused_within_two_grids(scripted_grids, kind):
    project, _ = scripted_grids
    rng = np.random.default_rng(11)
    worker = register_worker(project, SECRET, platform_id=new_label(), via="invite").worker_id
    done = 0
    with pytest.raises(WorkerPausedError):
        for _grid in range(3):
            issued = issue_assignment(project, worker)
            ticks = rng.random(48) < SPAMMERS[kind]
            submit_answers(project, issued.assignment_id, {p: 2 if t else 0 for p, t in enumerate(ticks)})
            done += 1
    assert done <= 2


def test_scripted_honest_worker_is_not_paused_after_two_grids(scripted_grids, honest_pool):
    project, truth = scripted_grids
    rng = np.random.default_rng(12)
    sensitivity, false_positive = honest_pool
    w = int(np.argsort(sensitivity - false_positive)[len(sensitivity) // 2])  # a median rater
    worker = register_worker(project, SECRET, platform_id=new_label(), via="invite").worker_id
    for _grid in range(2):
        issued = issue_assignment(project, worker)
        ticks = rng.random(48) < np.where(truth, sensitivity[w], false_positive[w])
        submit_answers(project, issued.assignment_id, {p: 2 if t else 0 for p, t in enumerate(ticks)})
    check = check_worker(project, worker)
    assert check.status == "active" and check.log_odds < 0
