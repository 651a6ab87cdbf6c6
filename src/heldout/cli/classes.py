"""``heldout classes show``: look up classes of a class set."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from heldout.classes import load_class_set
from heldout.cli._render import console

app = typer.Typer(help="Class sets: ImageNet-1k built in, or your own CSV/JSON.", no_args_is_help=True)


@app.command("show")
def show(
    classes: Annotated[str, typer.Argument(help="imagenet-1k, or a CSV/JSON class list.")] = "imagenet-1k",
    search: Annotated[str | None, typer.Option(help="Only classes whose id or names contain this.")] = None,
) -> None:
    """Show index, id, names and most similar class of each class.

    Example:

        heldout classes show imagenet-1k --search terrier
    """
    class_set = load_class_set(classes)
    table = Table(title=f"{class_set.name}: {len(class_set)} classes")
    for column in ("index", "id", "names", "most similar"):
        table.add_column(column)
    needle = (search or "").lower()
    for info in class_set:
        if needle and needle not in info.id.lower() and not any(needle in n.lower() for n in info.names):
            continue
        similar = info.similar[0] if info.similar else ""
        table.add_row(str(info.index), info.id, ", ".join(info.names), similar)
    console.print(table)
