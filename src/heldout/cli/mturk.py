"""``heldout crowd mturk create-hits|sync|approve|reject|progress``: tasks on Amazon Mechanical Turk.

Sandbox unless ``--live``; live asks you to type LIVE first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from heldout.cli._project import ProjectOption, open_project
from heldout.cli._render import console, progress_bar
from heldout.crowd import mturk

app = typer.Typer(
    help="Put tasks on Amazon Mechanical Turk as HITs showing the app, and read the answers back (sandbox unless --live).",
    no_args_is_help=True,
)

LiveOption = Annotated[
    bool,
    typer.Option(
        "--live", help="Use the live marketplace (real money) instead of the sandbox; asks for LIVE."
    ),
]
AssignmentIds = Annotated[list[str], typer.Argument(help="MTurk AssignmentIds.")]


def _client(live: bool) -> Any:
    return mturk.create_client(
        live=live,
        confirm=lambda: typer.prompt(
            "This uses the LIVE MTurk marketplace and pays workers real money. Type LIVE to go on"
        ),
    )


@app.command("create-hits")
def create_hits(
    base_url: Annotated[
        str,
        typer.Option(help="Public HTTPS address of `heldout serve`.", envvar="HELDOUT_BASE_URL"),
    ],
    project: ProjectOption = Path("."),
    task_id: Annotated[
        list[int] | None, typer.Option("--task-id", help="Only this task (repeatable); default: all open.")
    ] = None,
    reward: Annotated[str, typer.Option(help="USD per assignment.")] = "0.10",
    live: LiveOption = False,
) -> None:
    """Create a HIT type and one HIT per open task without one (ExternalQuestion showing the app).

    Example:

        heldout crowd mturk create-hits --base-url https://crowd.example.org -P my-testset
    """
    with open_project(project) as opened:
        client = _client(live)
        with progress_bar("creating HITs") as progress:
            created = mturk.create_hits(
                opened, client, base_url=base_url, task_ids=task_id, reward=reward, progress=progress
            )
    if not created:
        console.print("nothing to create: every task asked for already has a HIT")
        return
    first = created[0]
    console.print(
        f"created {len(created)} {first.environment} HITs of HIT type {first.hit_type_id}, "
        f"reward {reward} USD per assignment"
    )
    if first.preview_url:
        console.print(f"preview: {first.preview_url}")


@app.command("sync")
def sync(project: ProjectOption = Path("."), live: LiveOption = False) -> None:
    """Read submitted, approved and rejected assignments back into the catalog (safe to rerun).

    Example:

        heldout crowd mturk sync -P my-testset
    """
    with open_project(project) as opened:
        client = _client(live)
        with progress_bar("reading HITs") as progress:
            report = mturk.sync_assignments(opened, client, progress=progress)
    console.print(
        f"{report.hits} HITs: {report.assignments} assignments ({report.added} new, {report.updated} updated), "
        f"{report.answers} answers, {report.workers} new workers"
    )
    for line in report.malformed:
        console.print(f"[yellow]not stored:[/] {escape(line)}")


@app.command("approve")
def approve(
    assignment_ids: AssignmentIds,
    project: ProjectOption = Path("."),
    feedback: Annotated[str | None, typer.Option(help="A note the workers see.")] = None,
    override_rejection: Annotated[bool, typer.Option(help="Approve assignments rejected before.")] = False,
    live: LiveOption = False,
) -> None:
    """Approve assignments: the workers get paid.

    Example:

        heldout crowd mturk approve 3XMVN1BINNIXMTM9TTDO1GKMECV7GA -P my-testset
    """
    with open_project(project) as opened:
        report = mturk.approve(
            opened,
            _client(live),
            assignment_ids,
            feedback=feedback,
            override_rejection=override_rejection,
        )
    _reviewed("approved", report)


@app.command("reject")
def reject(
    assignment_ids: AssignmentIds,
    feedback: Annotated[str, typer.Option(help="Why (required; the workers see it).")],
    project: ProjectOption = Path("."),
    live: LiveOption = False,
) -> None:
    """Reject assignments, saying why: the workers are not paid.

    Example:

        heldout crowd mturk reject 3XMVN1BINNIXMTM9TTDO1GKMECV7GA --feedback "most controls answered wrongly" -P my-testset
    """
    with open_project(project) as opened:
        report = mturk.reject(opened, _client(live), assignment_ids, feedback=feedback)
    _reviewed("rejected", report)


@app.command("progress")
def progress(project: ProjectOption = Path("."), live: LiveOption = False) -> None:
    """Per HIT: status and available, pending and completed assignments.

    Example:

        heldout crowd mturk progress -P my-testset
    """
    with open_project(project) as opened:
        rows = mturk.progress(opened, _client(live))
    table = Table(title=f"{len(rows)} HITs")
    for column in ("task", "HIT", "status", "available", "pending", "completed", "max"):
        table.add_column(column, justify="left" if column in ("task", "HIT", "status") else "right")
    for row in rows:
        table.add_row(
            row.task_uuid,
            row.hit_id,
            row.status,
            str(row.available),
            str(row.pending),
            str(row.completed),
            str(row.max_assignments),
        )
    console.print(table)
    completed = sum(r.completed for r in rows)
    wanted = sum(r.max_assignments for r in rows)
    console.print(f"completed {completed} of {wanted} assignments")


def _reviewed(verb: str, report: mturk.ReviewReport) -> None:
    console.print(f"{verb} {len(report.done)} assignments")
    if report.skipped:
        console.print(f"skipped {len(report.skipped)} already {verb}: {', '.join(report.skipped)}")
