"""``heldout release``, ``heldout verify`` and ``heldout datasets import|export`` (published manifests)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from heldout.cli._project import ProjectOption, open_project
from heldout.cli._render import console, progress_bar
from heldout.datasets import project_manifests
from heldout.datasets.licenses import DEFAULT_LICENSES
from heldout.datasets.release import FORMATS, ReleaseLayout
from heldout.datasets.release import release as release_dataset
from heldout.datasets.verify import VerifyReport
from heldout.datasets.verify import verify as verify_folder
from heldout.errors import ConfigError


def release(
    name: Annotated[str, typer.Argument(help="Dataset revision of the project, e.g. myset-b-3.")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Release folder to create (must not exist or be empty).")
    ],
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format", "-f", help=f"Exports to add (repeatable): {', '.join(FORMATS)}. Default: all."
        ),
    ] = None,
    layout: Annotated[str, typer.Option(help="Class folders: index (0..C-1), wnid or name.")] = "index",
    licenses: Annotated[
        list[str] | None,
        typer.Option(
            "--license",
            "-l",
            help=f"License keys to redistribute as files (repeatable; Flickr ids or 'unknown'). Default: {' '.join(DEFAULT_LICENSES)}.",
        ),
    ] = None,
    shard_size: Annotated[int, typer.Option(help="Images per WebDataset shard.")] = 1000,
    project: ProjectOption = Path("."),
) -> None:
    """Write a sampled dataset as a release: ImageNetV2 folders, manifest, datasheet, answers,
    duplicates, Croissant, exports and SHA256SUMS.

    Example:

        heldout release myset-b-3 --out releases/myset-b-3 --format tar.gz --license unknown -P my-testset
    """
    if layout not in ("index", "wnid", "name"):
        raise ConfigError(f"unknown layout {layout!r}", fix="use index, wnid or name")
    chosen_layout: ReleaseLayout = layout  # type: ignore[assignment]
    with open_project(project) as opened, progress_bar(f"releasing {name}") as progress:
        report = release_dataset(
            opened,
            name,
            out,
            formats=tuple(formats) if formats is not None else FORMATS,
            layout=chosen_layout,
            licenses=tuple(licenses) if licenses is not None else DEFAULT_LICENSES,
            shard_size=shard_size,
            progress=progress,
        )
    console.print(
        f"[bold]{report.name}[/] released to {report.root}: {report.images} images as files, "
        f"{report.url_only} URL-only, {report.classes} classes, {report.files} files"
    )
    for reason, count in sorted(report.withheld.items()):
        console.print(f"  {count} URL-only because: {reason}")
    console.print(f"manifest sha256 {report.manifest_sha256}")


def verify(
    root: Annotated[Path, typer.Argument(help="A release folder, or an unpacked published test set.")],
    dataset: Annotated[
        str | None, typer.Option(help="Test set to check against when the folder has no SHA256SUMS.")
    ] = None,
) -> None:
    """Check a test-set folder: changed, missing, extra and renamed files, wrong class folders.

    Exits with 0 when the folder is intact, 1 on any difference, 2 on bad input.

    Example:

        heldout verify releases/myset-b-3
    """
    with progress_bar("hashing") as progress:
        report = verify_folder(root, dataset=dataset, progress=progress)
    _print_verify(report)
    if not report.ok:
        raise typer.Exit(1)


def import_manifests(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Registered names or manifest files. Default: imagenetv2-a-44, -b-33, -c-12."),
    ] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Import published manifests into the project as dataset revisions (metadata-only images).

    Example:

        heldout datasets import imagenetv2-b-33 -P my-testset
    """
    with open_project(project) as opened:
        report = project_manifests.import_manifests(opened, names or project_manifests.PUBLISHED_MANIFESTS)
    console.print(
        f"added {', '.join(report.added) or 'nothing'}; already present: "
        f"{', '.join(report.already_present) or 'none'}; {report.images_added:,} new metadata-only images"
    )


def export_manifest(
    name: Annotated[str, typer.Argument(help="Dataset revision of the project.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Manifest file to write.")],
    project: ProjectOption = Path("."),
) -> None:
    """Write a dataset revision's manifest in the published JSON format.

    Example:

        heldout datasets export imagenetv2-b-33 --out imagenetv2-b-33.json -P my-testset
    """
    with open_project(project) as opened:
        path = project_manifests.export_manifest(opened, name, out)
    console.print(f"wrote {path}")


def _print_verify(report: VerifyReport) -> None:
    console.print(report.summary())
    rows = [
        *(f"  changed  {p}" for p in report.changed),
        *(f"  missing  {p}" for p in report.missing),
        *(f"  extra    {p}" for p in report.extra),
        *(f"  renamed  {old} -> {new}" for old, new in report.renamed),
        *(
            f"  wrong class folder  {f}: in {found}, expected {expected}"
            for f, expected, found in report.wrong_class
        ),
    ]
    for row in rows:
        console.print(row, markup=False)
