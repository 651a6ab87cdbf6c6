"""``heldout review status|accept|carry-over``: the final review, for scripts (people use the web app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from heldout.cli._project import ProjectOption, open_project
from heldout.cli._render import console
from heldout.review import accept as accept_classes
from heldout.review import carry_over_reviews, review_status

app = typer.Typer(
    help="Final review of sampled test sets (the web app is at /review/datasets).", no_args_is_help=True
)

Name = Annotated[str, typer.Argument(help="Sampled dataset revision, e.g. myset-b-1.")]


@app.command("status")
def status(
    name: Name,
    project: ProjectOption = Path("."),
    classes: Annotated[bool, typer.Option("--classes", help="List every class with its review.")] = False,
) -> None:
    """How many classes are reviewed, problematic or unreviewed; exit 1 until all are reviewed.

    Example:

        heldout review status myset-b-1 --classes -P my-testset
    """
    with open_project(project) as opened:
        summary = review_status(opened, name)
    console.print(
        f"{escape(name)}: {summary.reviewed} reviewed ({summary.carried} carried over, "
        f"{summary.automatic} automatic), {summary.problematic} problematic, {summary.unreviewed} unreviewed"
    )
    if classes:
        table = Table("class", "name", "images", "status", "reviewer", "carried from", "when (UTC)")
        for c in summary.classes:
            when = c.updated_at.strftime("%Y-%m-%d %H:%M") if c.updated_at else ""
            table.add_row(
                c.class_key,
                escape(c.name),
                str(c.images),
                c.status,
                escape(c.reviewer or ""),
                c.carried_from or "",
                when,
            )
        console.print(table)
    if not summary.is_complete:
        raise typer.Exit(1)


@app.command("accept")
def accept(
    name: Name,
    reviewer: Annotated[str, typer.Option(help="Who accepts (recorded as auto:<reviewer>).")],
    project: ProjectOption = Path("."),
) -> None:
    """Mark every unreviewed class reviewed without looking (scripted runs such as the demo).

    Problematic classes stay problematic; the reviews are recorded as automatic.

    Example:

        heldout review accept myset-b-1 --reviewer demo -P my-testset
    """
    with open_project(project) as opened:
        keys = accept_classes(opened, name, reviewer)
    console.print(f"accepted {len(keys)} unreviewed class(es) of {escape(name)} as auto:{escape(reviewer)}")


@app.command("carry-over")
def carry_over(name: Name, project: ProjectOption = Path(".")) -> None:
    """Keep the previous revision's reviews of classes whose images did not change.

    Example:

        heldout review carry-over myset-b-2 -P my-testset
    """
    with open_project(project) as opened:
        keys = carry_over_reviews(opened, name)
    console.print(f"carried over {len(keys)} class review(s) into {escape(name)}")
