"""``heldout blacklist add|remove|list``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from heldout.blacklist import add_to_blacklist, list_blacklist, remove_from_blacklist
from heldout.cli._project import ProjectOption, open_project
from heldout.cli._render import console

app = typer.Typer(help="Images excluded from every stage, with reasons.", no_args_is_help=True)


@app.command("add")
def add(
    image_ids: Annotated[list[str], typer.Argument(help="Image ids.")],
    reason: Annotated[str, typer.Option(help="Why they are excluded.")],
    project: ProjectOption = Path("."),
) -> None:
    """Blacklist images.

    Example:

        heldout blacklist add 0001085a51ca7bcb1ea8f9ff5f08b69694c64ef7 --reason "drawing, not a photo"
    """
    with open_project(project) as opened:
        added = add_to_blacklist(opened, image_ids, reason)
    console.print(f"blacklisted {added} new image(s)")


@app.command("remove")
def remove(
    image_ids: Annotated[list[str], typer.Argument(help="Image ids.")], project: ProjectOption = Path(".")
) -> None:
    """Take images off the blacklist.

    Example:

        heldout blacklist remove 0001085a51ca7bcb1ea8f9ff5f08b69694c64ef7
    """
    with open_project(project) as opened:
        removed = remove_from_blacklist(opened, image_ids)
    console.print(f"removed {removed} image(s)")


@app.command("list")
def list_(project: ProjectOption = Path(".")) -> None:
    """List blacklisted images and reasons.

    Example:

        heldout blacklist list -P my-testset
    """
    with open_project(project) as opened:
        for image_id, reason in list_blacklist(opened):
            typer.echo(f"{image_id}\t{reason}")  # plain tab-separated text: no rich markup or tab expansion
