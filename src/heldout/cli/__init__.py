"""The ``heldout`` command line: one Typer app, one sub-app or command per stage.

Every command opens what it needs, makes one library call and renders the answer with rich.
Errors are mapped once, here: a ``HeldoutError`` prints its message to stderr and exits with 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from rich.console import Console
from rich.markup import escape

from heldout.cli import (
    aggregate,
    analyze,
    blacklist,
    classes,
    collect,
    crowd_tasks,
    datasets,
    dedup,
    demo,
    evaluate,
    mturk,
    project,
    release,
    review,
    sample,
    serve,
)
from heldout.errors import HeldoutError

__all__ = ["app", "main"]

app = typer.Typer(
    name="heldout",
    help="Build fresh held-out test sets for image classifiers, and score classifiers on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(datasets.app, name="datasets")
app.add_typer(classes.app, name="classes")
app.command("fetch-set")(datasets.fetch_set)
app.command("release")(release.release)
app.command("verify")(release.verify)
datasets.app.command("import")(release.import_manifests)
datasets.app.command("export")(release.export_manifest)
app.command("evaluate")(evaluate.evaluate)
app.command("analyze")(analyze.analyze)
app.command("demo")(demo.demo)
app.command("init")(project.init)
app.command("status")(project.status)
app.command("check")(project.check)
app.add_typer(blacklist.app, name="blacklist")
app.add_typer(collect.app, name="collect")
app.command("ingest")(collect.ingest)
app.command("add-reference")(collect.add_reference)
app.add_typer(aggregate.answers_app, name="answers")
app.add_typer(aggregate.app, name="aggregate")
app.command("workers")(aggregate.workers)
app.add_typer(aggregate.labels_app, name="labels")
crowd_app = typer.Typer(help="Crowd work: tasks and the MTurk bridge.", no_args_is_help=True)
crowd_app.add_typer(crowd_tasks.app, name="tasks")
crowd_app.add_typer(mturk.app, name="mturk")
app.add_typer(crowd_app, name="crowd")
app.command("serve")(serve.serve)
app.add_typer(dedup.app, name="dedup")
app.add_typer(sample.app, name="sample")
app.add_typer(review.app, name="review")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the console script; ``main(["evaluate", ...])`` works from Python too."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="heldout")
    except HeldoutError as exc:
        # soft wrap: the terminal folds long lines, so a path or command in the message stays
        # whole when it is copied or piped
        Console(stderr=True, highlight=False).print(
            f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True
        )
        sys.exit(2)
