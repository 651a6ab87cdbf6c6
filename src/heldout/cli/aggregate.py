"""``heldout answers import-real``, ``heldout aggregate frequency|dawid-skene|majority``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from heldout.aggregate import (
    AggregationResult,
    DawidSkene,
    MajorityVote,
    SelectionFrequency,
    aggregate,
    export_labels,
    measure_workers,
)
from heldout.cli._project import ProjectOption, open_project
from heldout.cli._render import console, progress_bar, write_rows_csv
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


labels_app = typer.Typer(help="Label sets from aggregated scores.", no_args_is_help=True)


def workers(
    project: ProjectOption = Path("."),
    csv: Annotated[Path | None, typer.Option(help="Write every worker's row as CSV.")] = None,
) -> None:
    """Worker quality: accuracy against golden questions' expert majority and grid controls.

    Example:

        heldout workers -P real-project --csv workers.csv
    """
    with open_project(project) as opened:
        quality = measure_workers(opened)
    rows = [r for r in quality.to_rows() if r["answers"]]
    table = Table(title=f"{len(rows)} workers with answers to questions of known truth")
    for column in ("worker", "answers", "accuracy [95 %]", "sensitivity", "specificity", "flag"):
        table.add_column(column, justify="left" if column in ("worker", "flag") else "right")
    for row in sorted(rows, key=lambda r: r["accuracy"]):
        table.add_row(
            str(row["worker_id"]),
            str(row["answers"]),
            f"{row['accuracy']:.3f} [{row['accuracy_low']:.3f}, {row['accuracy_high']:.3f}]",
            _rate(row["sensitivity"]),
            _rate(row["specificity"]),
            "likely spammer" if row["is_likely_spammer"] else "",
        )
    console.print(table)
    if csv is not None:
        write_rows_csv(csv, rows)
        console.print(f"wrote {csv}")


@labels_app.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="Output file (real.json format).")],
    project: ProjectOption = Path("."),
    method: Annotated[
        str, typer.Option(help="Which stored scores: dawid-skene, frequency, majority.")
    ] = "dawid-skene",
    threshold: Annotated[float, typer.Option(help="A label is kept when its score is above this.")] = 0.8,
) -> None:
    """Write label sets at a threshold in real.json format (one list per image, sorted by image id).

    Example:

        heldout labels export relabels.json --threshold 0.8 -P real-project
    """
    with open_project(project) as opened:
        sets = export_labels(opened, out, method=method, threshold=threshold)
    empty = int((sets.counts == 0).sum())
    console.print(f"wrote {out}: {len(sets):,} images, {len(sets.labels):,} labels, {empty:,} empty")


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
