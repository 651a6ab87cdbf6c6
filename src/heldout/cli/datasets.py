"""``heldout datasets ...`` and ``heldout fetch-set``: the test-set registry and image folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from heldout import datasets as ds
from heldout.cli._render import console, progress_bar
from heldout.datasets.folders import Layout
from heldout.errors import ConfigError

app = typer.Typer(help="Registered test sets: list, show, match image folders.", no_args_is_help=True)


@app.command("list")
def list_(pattern: Annotated[str, typer.Argument(help="Shell-style name pattern.")] = "*") -> None:
    """List registered test sets with their aliases and sizes.

    Example:

        heldout datasets list 'imagenetv2-*'
    """
    table = Table(title="test sets")
    for column in ("name", "aliases", "images", "ReaL", "description"):
        table.add_column(column)
    for name in ds.list_datasets(pattern):
        testset = ds.load_dataset(name)
        table.add_row(
            name,
            ", ".join(testset.aliases),
            f"{len(testset):,}",
            "yes" if testset.real is not None else "",
            testset.description,
        )
    console.print(table)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Test set name, alias, or manifest file.")],
) -> None:
    """Show a test set's manifest metadata and hash.

    Example:

        heldout datasets show imagenetv2-matched-frequency
    """
    testset = ds.load_dataset(name)
    console.print(f"[bold]{testset.name}[/]  {len(testset):,} images, {len(testset.classes)} classes")
    console.print(f"manifest sha256 {testset.sha256}")
    for key, value in testset.manifest.metadata.items():
        console.print(f"  {key}: {value}")


@app.command("match")
def match(
    name: Annotated[str, typer.Argument(help="Test set name, alias, or manifest file.")],
    root: Annotated[Path, typer.Argument(help="Image folder to check.")],
    layout: Annotated[str, typer.Option(help="auto, imagenetv2, wnid or flat.")] = "auto",
) -> None:
    """Check an image folder against a test set: missing, extra and mislabelled files.

    Exits with 1 when the folder does not match.

    Example:

        heldout datasets match imagenetv2-b-33 ./imagenetv2-matched-frequency-format-val
    """
    report(ds.match_folder(root, ds.load_dataset(name), layout=_layout(layout)))


def fetch_set(
    name: Annotated[str, typer.Argument(help="Test set name or alias.")],
    url: Annotated[str | None, typer.Option(help="URL of the released tarball.")] = None,
    file: Annotated[Path | None, typer.Option(help="A tarball already on disk.")] = None,
    dest: Annotated[Path, typer.Option(help="Folder to unpack into.")] = Path("data"),
    layout: Annotated[str, typer.Option(help="auto, imagenetv2, wnid or flat.")] = "auto",
) -> None:
    """Download or take a released test-set tarball, unpack it and check it against the manifest.

    Example:

        heldout fetch-set imagenetv2-b-33 --file imagenetv2-matched-frequency.tar.gz --dest data
    """
    with progress_bar(f"downloading {name}") as progress:
        match = ds.fetch_set(name, dest, url=url, file=file, layout=_layout(layout), progress=progress)
    report(match)


def report(match: ds.FolderMatch) -> None:
    """Print a folder match; exit 1 when it is not exact."""
    console.print(match.summary())
    for image_id in match.missing[:10]:
        console.print(f"  missing  {image_id}")
    for path in match.extra[:10]:
        console.print(f"  extra    {path}")
    for image_id, expected, found in match.mislabelled[:10]:
        console.print(f"  wrong    {image_id}: in class folder {found}, manifest says {expected}")
    if not match.ok:
        raise typer.Exit(1)


def _layout(text: str) -> Layout:
    if text not in ("auto", "imagenetv2", "wnid", "flat"):
        raise ConfigError(f"unknown layout {text!r}", fix="use auto, imagenetv2, wnid or flat")
    return text  # type: ignore[return-value]
