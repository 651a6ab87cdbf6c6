"""``heldout demo``: the published ImageNetV2 and ReaL numbers, reproduced."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from heldout.cli._render import console, progress_bar
from heldout.cli.evaluate import render_results
from heldout.demo import run_demo
from heldout.evaluate import write_results


def demo(
    data: Annotated[
        Path | None, typer.Option(help="Public data folder (holding imagenetv2/predictions).")
    ] = None,
    csv: Annotated[Path | None, typer.Option(help="Also write the table as CSV.")] = None,
) -> None:
    """Score the 67 published models on the five published test sets, with ReaL.

    Example:

        heldout demo --data ../shared/data
    """
    with progress_bar("scoring published predictions") as progress:
        results = run_demo(data, progress=progress)
    render_results(results)
    write_results(results, csv_path=csv)
    models = {r.model for r in results}
    console.print(
        f"{len(results)} evaluations: {len(models)} models × {len({r.dataset for r in results})} test sets"
    )
