"""``heldout init``, ``heldout status``, ``heldout check``: the project itself."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from heldout.check import check as check_project
from heldout.cli._project import ProjectOption, open_project
from heldout.cli._render import console, progress_bar
from heldout.project import Project
from heldout.status import project_status


def init(
    directory: Annotated[Path, typer.Argument(help="Folder of the new project.")],
    classes: Annotated[
        str, typer.Option(help="imagenet-1k, or a CSV/JSON class list (a path from here).")
    ] = "imagenet-1k",
    db: Annotated[str | None, typer.Option(help="Catalog URL (default: SQLite file in the project).")] = None,
    store: Annotated[str | None, typer.Option(help="Image store: a folder or s3://bucket/prefix.")] = None,
) -> None:
    """Create a project: heldout.toml, the catalog and the image store.

    Example:

        heldout init my-testset --classes imagenet-1k --db postgresql+psycopg://me@localhost/heldout
    """
    if Path(classes).suffix or Path(classes).is_file():  # a class file: relative to here, not the project
        classes = str(Path(classes).resolve())
    project = Project.create(directory, classes=classes, catalog_url=db, store_url=store)
    console.print(
        f"created {project.root} ({len(project.classes)} classes, catalog {project.config.catalog_url})"
    )
    project.close()


def status(project: ProjectOption = Path(".")) -> None:
    """Counts per class and per stage: where the project stands.

    Example:

        heldout status -P my-testset
    """
    with open_project(project) as opened:
        report = project_status(opened)
    statuses = sorted(report.totals)
    # a title wider than the table would wrap mid-word: print it as a line of its own
    console.print(f"candidates per class ({len(report.per_class)} classes with candidates)")
    table = Table()
    table.add_column("class")
    for name in statuses:
        table.add_column(name, justify="right")
    for key in sorted(report.per_class)[:50]:
        table.add_row(key, *(str(report.per_class[key].get(s, 0)) for s in statuses))
    table.add_row("[bold]total[/]", *(f"[bold]{report.totals[s]}[/]" for s in statuses))
    console.print(table)
    for split, counts in sorted(report.references.items()):
        console.print(f"reference {split}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    console.print(f"blacklisted: {report.blacklisted}")
    for stage, state, when, counts in report.runs:
        console.print(f"last {stage}: {state} at {when} {counts}")


def check(
    project: ProjectOption = Path("."),
    quick: Annotated[bool, typer.Option(help="Only check that renditions exist; skip re-hashing.")] = False,
) -> None:
    """Verify that every stored image has all renditions and that bytes match their hashes.

    Exits with 1 when a problem is found.

    Example:

        heldout check -P my-testset
    """
    with open_project(project) as opened, progress_bar("checking") as progress:
        report = check_project(opened, verify_hashes=not quick, progress=progress)
    console.print(f"checked {report.checked} stored images: {len(report.problems)} problem(s)")
    for key, problem in report.problems[:50]:
        console.print(f"  {key}: {problem}")
    if not report.ok:
        raise typer.Exit(1)
