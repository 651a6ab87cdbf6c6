"""``heldout answers import-real``, ``heldout aggregate frequency|dawid-skene|majority``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from heldout.aggregate import AggregationResult, DawidSkene, MajorityVote, SelectionFrequency, aggregate
from heldout.cli._project import ProjectOption, open_project
from heldout.cli._render import console, progress_bar
from heldout.crowd import import_real as import_real_answers

answers_app = typer.Typer(help="Crowd answers: import published ones.", no_args_is_help=True)
app = typer.Typer(help="Aggregate answers into a score per question.", no_args_is_help=True)


@answers_app.command("import-real")
def import_real(
    folder: Annotated[
        Path, typer.Argument(help="Folder with raters.npz, golden.npz, raters_golden.npz (scores.npz).")
    ],
    project: ProjectOption = Path("."),
) -> None:
    """Import the ReaL release's 924,810 rater answers, golden questions and expert answers.

    Example:

        heldout answers import-real ../shared/data/real -P real-project
    """
    with open_project(project) as opened, progress_bar("importing") as progress:
        result = import_real_answers(opened, folder, progress=progress)
    console.print(
        f"{result.images} images, {result.questions} questions, {result.workers} workers; answers: "
        + ", ".join(f"{name} {count:,}" for name, count in result.answers.items())
    )


@app.command("frequency")
def frequency(
    project: ProjectOption = Path("."),
    count_maybe: Annotated[bool, typer.Option(help="Count maybe as selected.")] = False,
) -> None:
    """Selection frequency per question: the share of valid answers that selected it (ImageNetV2).

    Example:

        heldout aggregate frequency -P my-testset
    """
    with open_project(project) as opened:
        _report(aggregate(opened, SelectionFrequency(positive=(1, 2) if count_maybe else (2,))))


@app.command("majority")
def majority(project: ProjectOption = Path(".")) -> None:
    """Majority vote per question (maybe counts towards yes in the score).

    Example:

        heldout aggregate majority -P my-testset
    """
    with open_project(project) as opened:
        _report(aggregate(opened, MajorityVote()))


@app.command("dawid-skene")
def dawid_skene(
    project: ProjectOption = Path("."),
    grouped_prior: Annotated[
        bool, typer.Option(help="One prior for original-label questions, one for others.")
    ] = False,
    alpha: Annotated[float, typer.Option(help="Dirichlet smoothing of the confusion counts.")] = 0.0,
    tol: Annotated[
        float, typer.Option(help="Stop when the log-likelihood changes by less (relative).")
    ] = 1e-7,
    max_iter: Annotated[int, typer.Option(help="At most this many EM iterations.")] = 200,
) -> None:
    """Dawid–Skene posteriors with a binary truth and a 2×K confusion matrix per worker (ReaL's model).

    Example:

        heldout aggregate dawid-skene --grouped-prior -P real-project
    """
    model = DawidSkene(grouped_prior=grouped_prior, alpha=alpha, tol=tol, max_iter=max_iter)
    with open_project(project) as opened:
        result = aggregate(opened, model)
    _report(result)
    state = "converged" if model.converged_ else "did NOT converge"
    console.print(
        f"EM {state} after {model.n_iter_} iterations, log-likelihood {model.log_likelihood_[-1]:.1f}"
    )
    console.print(
        "note: to score models, use released labels (real.json) where they exist; re-derived labels move ReaL accuracy by ±1.5 pp"
    )


def _report(result: AggregationResult) -> None:
    scores = result.scores
    console.print(
        f"{result.method}: {len(scores):,} questions scored, mean {scores.mean():.3f}; "
        f"{int((scores > 0.8).sum()):,} above 0.8, {int((scores < 0.2).sum()):,} below 0.2; "
        f"answers per question: median {int(np.median(result.annotations))}"
    )
