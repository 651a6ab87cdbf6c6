"""Benchmark: our Dawid–Skene vs crowd-kit's ``DawidSkene`` on the 924,810 real ReaL answers.

Same model, same data, same stopping rule, same fixed point:

* **Model.** crowd-kit's confusion matrices are square (latent classes = observed labels), so the one
  model both can express is the 2×2 one with "maybe" counted as "yes": ours is
  ``DawidSkene(stop="posterior", tol=1e-6)`` on ``answers.collapse((0, 1, 1))``; crowd-kit's is
  ``crowdkit.aggregation.DawidSkene`` on the long DataFrame (task, worker, label ∈ {0, 1}).
* **Initialisation.** Both start from the vote shares: crowd-kit from ``MajorityVote`` probabilities
  (share of each label among a task's answers), ours from the share of answers in the top half of
  the categories, i.e. the share of "yes" after the collapse. The script checks that the two are
  equal, so no ``initial=`` is passed. Both then run the same EM sequence: an M-step from the
  initial posteriors, then (E, M) pairs (ours counts an iteration as M then E, crowd-kit as E then
  M after one extra M-step before its loop), so after N iterations both hold the posteriors of the
  N-th E-step.
* **Stopping.** Ours stops when no posterior moves by more than 1e-6. crowd-kit's own rule
  (``new_loss - loss < tol`` on a "loss" that counts the log prior once per answer, so it decreases
  on this data) stops after 2 iterations, so it is driven with ``n_iter=N, tol=-inf``, N = our
  ``n_iter_`` (it then runs exactly N iterations; checked via ``loss_history_``). An untimed second
  run of N + 1 iterations records crowd-kit's largest posterior change at every iteration, which
  shows that its posteriors converged by our rule at iteration N and checks that the timed run
  returned that run's N-th posteriors.
* **Timing.** Wall clock (``time.perf_counter``) of ``fit`` only, best of ``--repeats`` (ours) and
  ``--ck-repeats`` (crowd-kit, 1 by default: ≈ 0.9 s per iteration); CPU time is shown too because
  wall time on a shared VM can include time the process was not running. Loading ``raters.npz``,
  building ``Answers`` and building crowd-kit's DataFrame (integer task/worker/label columns, its
  fastest input) happen before anything is timed. crowd-kit's loop also evaluates its ELBO each
  iteration; that is part of its ``fit`` and cannot be switched off.

Separately, the ReaL model (binary truth, 2×3 confusion over no/maybe/yes, ``DawidSkene()``
defaults: relative log-likelihood change < 1e-7) is fitted and compared with the released
``scores.npz`` (Pearson r, and agreement of score > 0.8 with the released labels), next to crowd-kit's
best, its default ``DawidSkene()`` on no/maybe/yes scored P(maybe) + P(yes) (0.961 in the notes),
which is fitted here too.

Run: ``.venv/bin/python benchmarks/aggregate.py [--data ../shared/data/real] [--repeats 3]
[--ck-repeats 1] [--profile]``. Needs the ``bench`` extra (crowd-kit). Takes 1–2 minutes on
2 cores (most of it in crowd-kit's two runs).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from heldout.aggregate.dawid_skene import DawidSkene
from heldout.answers import Answers, answers_from_onehot

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "real"
TOL = 1e-6  # largest posterior change, both sides
GOAL_RATIO = 10.0
GOAL_R = 0.9999
THRESHOLD = 0.8  # the release's operating point
CROWDKIT_BEST_R = 0.961  # crowd-kit's best r against scores.npz (shared/notes/real_and_aggregation.md, 3.3)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[list[tuple[float, float]], Any]:
    """(wall, CPU) seconds of each run, and the last run's result."""
    times, result = [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return times, result


def describe(label: str, times: list[tuple[float, float]], iterations: int) -> str:
    wall, cpu = min(times)
    runs = ", ".join(f"{w:.2f}" for w, _ in times)
    return (
        f"{label}: {wall:.3f} s for {iterations} iterations ({1000 * wall / iterations:.1f} ms/iteration), "
        f"CPU {cpu:.3f} s; all runs (s): {runs}"
    )


def load_average() -> str:
    return "load average " + (
        " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    )


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1])


def load(data: Path) -> tuple[Answers, np.ndarray]:
    """Answers (3 categories) from raters.npz and the released scores, in the same question order."""
    for name in ("raters.npz", "scores.npz"):
        if not (data / name).is_file():
            sys.exit(f"missing {data / name}: pass --data DIR with the ReaL release files")
    with np.load(data / "raters.npz") as raters, np.load(data / "scores.npz") as released:
        info = raters["info"]
        if not np.array_equal(info, released["info"]):
            sys.exit("raters.npz and scores.npz list different questions")
        scores = released["tensor"]
        answers = answers_from_onehot(
            raters["tensor"],
            question_ids=np.arange(len(info)),
            worker_ids=raters["ids"],
            source=str(data / "raters.npz"),
        )
    return answers, scores


def crowdkit_frame(answers: Answers):
    import pandas as pd

    return pd.DataFrame(
        {
            "task": answers.question,
            "worker": answers.worker_ids[answers.worker],
            "label": answers.value.astype(np.int64),
        }
    )


def crowdkit_positive(probas, n_questions: int, positive: list[int]) -> np.ndarray:
    """P(label in ``positive``) per task 0..n_questions-1 from crowd-kit's tasks × labels frame."""
    aligned = probas.reindex(index=np.arange(n_questions), columns=sorted(probas.columns), fill_value=0.0)
    if aligned.isna().to_numpy().any():
        sys.exit("crowd-kit returned no posterior for some tasks")
    return aligned[positive].to_numpy(dtype=np.float64).sum(axis=1)


def crowdkit_trace(model_class, frame, n_iter: int, n_questions: int) -> tuple[list[float], np.ndarray]:
    """Run crowd-kit for ``n_iter`` iterations, recording the largest posterior change of every
    E-step (the first against the majority-vote start) and the posteriors after the last one but
    one. Not timed: the bookkeeping would slow it down a little."""
    from crowdkit.aggregation import MajorityVote

    previous = [crowdkit_positive(MajorityVote().fit_predict_proba(frame), n_questions, [1])]
    changes: list[float] = []
    model = model_class(n_iter=n_iter, tol=float("-inf"))

    def e_step(data, priors, errors):
        probas = model_class._e_step(data, priors, errors)
        current = crowdkit_positive(probas, n_questions, [1])
        changes.append(float(np.abs(current - previous[-1]).max()))
        previous.append(current)
        del previous[:-2]
        return probas

    model._e_step = e_step  # the instance attribute shadows the static method fit() calls
    model.fit(frame)
    return changes, previous[0]


def print_profile(answers: Answers, max_iter: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    DawidSkene(stop="posterior", tol=TOL, max_iter=max_iter).fit(answers)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(8)
    print("\nprofile of our 2×2 fit (by own time):")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:3000])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with raters.npz, scores.npz")
    parser.add_argument("--repeats", type=int, default=3, help="runs of ours (best counts)")
    parser.add_argument("--ck-repeats", type=int, default=1, help="runs of crowd-kit (best counts)")
    parser.add_argument(
        "--max-iter", type=int, default=1000, help="our iteration cap (it converges long before)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile our 2×2 fit")
    args = parser.parse_args(argv)

    try:
        started = time.perf_counter()
        import crowdkit
        from crowdkit.aggregation import DawidSkene as CrowdKitDawidSkene
        from crowdkit.aggregation import MajorityVote
    except ImportError:
        sys.exit("crowd-kit is not installed: pip install -e '.[bench]'")
    import pandas as pd

    import_seconds = time.perf_counter() - started
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"machine: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs "
        f"({usable} usable); numpy {np.__version__}, pandas {pd.__version__}, crowd-kit "
        f"{getattr(crowdkit, '__version__', '?')} (import {import_seconds:.1f} s); {load_average()}"
    )

    # ---- data (not timed) -----------------------------------------------------------------------
    started = time.perf_counter()
    answers3, scores = load(args.data)
    answers2 = answers3.collapse((0, 1, 1))
    frame2 = crowdkit_frame(answers2)
    frame3 = crowdkit_frame(answers3)
    n = answers3.n_questions
    released = scores > THRESHOLD
    print(
        f"data: {len(answers3):,} answers, {n:,} questions, {answers3.n_workers} workers; "
        f"loaded and converted in {time.perf_counter() - started:.1f} s (not timed)"
    )

    # Same start: crowd-kit's majority-vote probabilities = our share of positive answers.
    counts = answers2.counts()
    ours_start = counts[:, 1] / counts.sum(axis=1)
    ck_start = crowdkit_positive(MajorityVote().fit_predict_proba(frame2), n, [1])
    start_diff = float(np.abs(ours_start - ck_start).max())
    print(f"initial posteriors: crowd-kit majority vote vs our vote share, largest |diff| = {start_diff:.1e}")
    if start_diff > 1e-12:
        sys.exit("FAIL: the two sides start from different posteriors")

    # ---- 2×2, maybe counted as yes: ours, then crowd-kit for the same number of iterations --------
    print(f"\n2×2 model (maybe → yes), stop when the largest posterior change < {TOL:g}")
    ours_times, ours = timed(
        lambda: DawidSkene(stop="posterior", tol=TOL, max_iter=args.max_iter).fit(answers2), args.repeats
    )
    if not ours.converged_:
        sys.exit(f"FAIL: ours did not converge in {args.max_iter} iterations")
    iterations = ours.n_iter_

    ck_times, ck = timed(
        lambda: CrowdKitDawidSkene(n_iter=iterations, tol=float("-inf")).fit(frame2), args.ck_repeats
    )
    if len(ck.loss_history_) != iterations:
        sys.exit(f"FAIL: crowd-kit ran {len(ck.loss_history_)} iterations, not {iterations}")
    ck_scores = crowdkit_positive(ck.probas_, n, [1])

    changes, ck_at_n = crowdkit_trace(CrowdKitDawidSkene, frame2, iterations + 1, n)
    same_run = float(np.abs(ck_at_n - ck_scores).max())
    first_below = next((i for i, change in enumerate(changes, 1) if change < TOL), None)
    print(
        f"crowd-kit convergence (untimed run of {iterations + 1} iterations): largest posterior change "
        f"at iteration {iterations - 1}: {changes[iterations - 2]:.2e}, {iterations}: "
        f"{changes[iterations - 1]:.2e}, {iterations + 1}: {changes[iterations]:.2e}; first < {TOL:g} at "
        f"iteration {first_below} (ours: {iterations}); its iteration-{iterations} posteriors equal "
        f"the timed run's to {same_run:.1e}"
    )
    ck_converged = changes[iterations - 1] < TOL

    r = pearson(ours.scores_, ck_scores)
    diff = float(np.abs(ours.scores_ - ck_scores).max())
    decisions = int(((ours.scores_ > THRESHOLD) != (ck_scores > THRESHOLD)).sum())
    print(
        f"same fixed point: Pearson r = {r:.8f}, largest |diff| = {diff:.1e}, "
        f"{decisions} questions decided differently at {THRESHOLD}"
    )
    print(
        f"r against scores.npz: ours {pearson(ours.scores_, scores):.4f}, "
        f"crowd-kit {pearson(ck_scores, scores):.4f} (the 2×2 model's limit; notes: 0.9546)"
    )

    print()
    print(describe("ours     ", ours_times, iterations))
    print(describe("crowd-kit", ck_times, iterations))
    ratio = min(ck_times)[0] / min(ours_times)[0]
    cpu_ratio = min(ck_times)[1] / min(ours_times)[1]
    print(f"crowd-kit / ours in CPU time of the best runs: {cpu_ratio:.1f}x ({load_average()})")
    if args.profile:
        print_profile(answers2, args.max_iter)

    # ---- the ReaL model: 2×3 against the released scores -----------------------------------------
    print("\n2×3 model (no/maybe/yes answers, binary truth), DawidSkene() defaults, against scores.npz")
    real_times, real = timed(lambda: DawidSkene().fit(answers3), args.repeats)
    real_r = pearson(real.scores_, scores)
    agree = float(((real.scores_ > THRESHOLD) == released).mean())
    print(
        f"ours 2×3: r = {real_r:.4f}, score > {THRESHOLD} agrees with the release on {100 * agree:.2f} % "
        f"of questions; {real.n_iter_} iterations, converged {real.converged_}, best of "
        f"{args.repeats}: {min(real_times)[0]:.3f} s"
    )
    ck3_times, ck3 = timed(lambda: CrowdKitDawidSkene().fit(frame3), 1)
    ck3_scores = crowdkit_positive(ck3.probas_, n, [1, 2])
    ck3_agree = float(((ck3_scores > THRESHOLD) == released).mean())
    print(
        f"crowd-kit's best, DawidSkene() defaults on no/maybe/yes, P(maybe) + P(yes): "
        f"r = {pearson(ck3_scores, scores):.4f} (notes: {CROWDKIT_BEST_R}), agreement "
        f"{100 * ck3_agree:.2f} %; stopped by its own rule after {len(ck3.loss_history_)} iterations, "
        f"{min(ck3_times)[0]:.2f} s"
    )

    print(
        f"\ngoal: same fixed point, r >= {GOAL_R} -> {'met' if r >= GOAL_R and ck_converged else 'NOT met'}"
        f" (r = {r:.6f}; crowd-kit converged: {ck_converged})"
    )
    print(f"goal: ratio >= {GOAL_RATIO:g}x -> {'met' if ratio >= GOAL_RATIO else 'NOT met'}")
    print(f"ratio = crowd-kit / ours = {ratio:.1f}x (time to convergence, {iterations} iterations each)")


if __name__ == "__main__":
    main()
