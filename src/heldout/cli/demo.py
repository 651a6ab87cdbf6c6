"""``heldout demo``: Fashion-MNIST-V2 through every stage; ``--published``: the published numbers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from heldout.cli._render import console, progress_bar
from heldout.cli.evaluate import render_results
from heldout.demo import run_demo
from heldout.evaluate import write_results

if TYPE_CHECKING:
    from heldout.demo.pipeline import DemoSummary


def demo(
    small: Annotated[
        bool, typer.Option(help="The small demo: 100 candidates per class, under 4 minutes.")
    ] = False,
    out: Annotated[Path, typer.Option(help="Folder for the project, sources and report.")] = Path(
        "fashion-mnist-v2"
    ),
    fashion_mnist: Annotated[
        Path | None,
        typer.Option(help="Folder with the four Fashion-MNIST IDX files (default: Debian's package)."),
    ] = None,
    published: Annotated[
        bool, typer.Option(help="Instead: score the 67 published models on the five published test sets.")
    ] = False,
    data: Annotated[
        Path | None,
        typer.Option(help="With --published: public data folder (holding imagenetv2/predictions)."),
    ] = None,
    csv: Annotated[Path | None, typer.Option(help="With --published: also write the table as CSV.")] = None,
) -> None:
    """Build Fashion-MNIST-V2 through every stage on real images and analyse it (resumable).

    The crowd is simulated (real ReaL raters' behaviour) and answers through the real web app.

    Example:

        heldout demo --small --out /tmp/fmnist-v2
    """
    if published:
        _published(data, csv)
        return
    from heldout.demo.pipeline import DemoOptions, run_pipeline  # heavy: imported when the demo runs

    options = DemoOptions(out=out, small=small, fashion_mnist=fashion_mnist)
    summary = run_pipeline(options, say=lambda text: console.print(escape(text)), progress=_bar)
    _render_summary(summary, small=small)


@contextmanager
def _bar(description: str) -> Iterator:
    with progress_bar(description) as progress:
        yield progress


def _render_summary(summary: DemoSummary, *, small: bool) -> None:
    table = Table(
        title="time per stage" + (" (--small)" if small else ""), caption="a reused stage shows its first run"
    )
    for column in ("stage", "seconds", "budget s", ""):
        table.add_column(column, justify="right" if column != "stage" else "left")
    for stage in summary.stages:
        state = "reused" if stage.reused else ("over budget" if stage.seconds > stage.budget_s else "ok")
        table.add_row(f"{stage.number}. {stage.name}", f"{stage.seconds:.1f}", f"{stage.budget_s:.0f}", state)
    table.add_row(
        "total",
        f"{sum(s.seconds for s in summary.stages):.1f}",
        f"{sum(s.budget_s for s in summary.stages):.0f}",
        "",
    )
    console.print(table)
    for line in summary.findings():
        console.print(escape(line))


def _published(data: Path | None, csv: Path | None) -> None:
    with progress_bar("scoring published predictions") as progress:
        results = run_demo(data, progress=progress)
    render_results(results)
    write_results(results, csv_path=csv)
    models = {r.model for r in results}
    console.print(
        f"{len(results)} evaluations: {len(models)} models × {len({r.dataset for r in results})} test sets"
    )
