"""``heldout collect flickr|folder|urls``, ``heldout ingest``, ``heldout add-reference``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from heldout.cli._project import ProjectOption, open_project
from heldout.cli._render import console, progress_bar
from heldout.collect import CollectReport, FlickrSource, FolderSource, IdxSource, UrlListSource, collect
from heldout.collect.reference import add_reference as add_reference_images
from heldout.ingest import ingest as ingest_images
from heldout.ingest import write_bad_file_report

app = typer.Typer(help="Find candidate images: Flickr, a folder, a URL list.", no_args_is_help=True)

ClassesOption = Annotated[
    list[str] | None, typer.Option("--class", "-c", help="Only these class ids (repeatable).")
]


@app.command("flickr")
def flickr(project: ProjectOption = Path("."), classes: ClassesOption = None) -> None:
    """Search Flickr per class and synonym (key in $HELDOUT_FLICKR_KEY); resumes where it stopped.

    Example:

        HELDOUT_FLICKR_KEY=... heldout collect flickr -P my-testset -c n03843555
    """
    with open_project(project) as opened:
        _report(_run(opened, FlickrSource(opened.config.flickr), classes))


@app.command("folder")
def folder(
    root: Annotated[Path, typer.Argument(help="Folder with one subfolder per class id.")],
    listing: Annotated[Path | None, typer.Option(help="A CSV of path,class instead of subfolders.")] = None,
    project: ProjectOption = Path("."),
    classes: ClassesOption = None,
) -> None:
    """Add every image under ROOT/<class id>/ (or listed in a path,class CSV) as a candidate.

    Example:

        heldout collect folder photos/ -P my-testset
    """
    with open_project(project) as opened:
        _report(_run(opened, FolderSource(root, listing=listing), classes))


@app.command("urls")
def urls(
    listing: Annotated[Path, typer.Argument(help="A CSV with columns url,class.")],
    project: ProjectOption = Path("."),
    classes: ClassesOption = None,
) -> None:
    """Download every URL of a url,class CSV as a candidate (failures are kept, with reasons).

    Example:

        heldout collect urls urls.csv -P my-testset
    """
    with open_project(project) as opened:
        _report(_run(opened, UrlListSource(listing), classes))


@app.command("idx")
def idx(
    images: Annotated[Path, typer.Argument(help="IDX image file (e.g. t10k-images-idx3-ubyte.gz).")],
    labels: Annotated[Path, typer.Argument(help="IDX label file; labels index the project's classes.")],
    limit: Annotated[int | None, typer.Option(help="Only the first N images.")] = None,
    project: ProjectOption = Path("."),
    classes: ClassesOption = None,
) -> None:
    """Add the images of an IDX (MNIST-format) file pair as candidates, e.g. Debian's Fashion-MNIST.

    Example:

        heldout collect idx /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz -P fmnist
    """
    with open_project(project) as opened:
        _report(_run(opened, IdxSource(images, labels, limit=limit), classes))


def ingest(
    project: ProjectOption = Path("."),
    retry_failed: Annotated[bool, typer.Option(help="Also retry images whose download failed.")] = False,
    limit: Annotated[int | None, typer.Option(help="At most this many images.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write a CSV of bad and failed files here.")] = None,
) -> None:
    """Validate pending images and store the original, 500 px and 256x256 renditions; resumable.

    Example:

        heldout ingest -P my-testset --report bad-files.csv
    """
    with open_project(project) as opened:
        with progress_bar("ingesting") as progress:
            result = ingest_images(opened, retry_failed=retry_failed, limit=limit, progress=progress)
        console.print(f"stored {result.stored}, bad {result.bad}, failed downloads {result.failed}")
        for reason, count in sorted(result.reasons.items(), key=lambda kv: -kv[1]):
            console.print(f"  {count:6d}  {reason}")
        if report is not None:
            write_bad_file_report(opened, report)
            console.print(f"wrote {report}")


def add_reference(
    split: Annotated[str, typer.Option(help="train, val or test.")] = "val",
    folder: Annotated[Path | None, typer.Option(help="Images in <class id>/<file> folders.")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="A registered test set: its images, metadata only.")
    ] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Add the original dataset's images (controls for crowd tasks, references for dedup).

    Example:

        heldout add-reference --split val --dataset imagenet-val -P my-testset
    """
    with open_project(project) as opened:
        added = add_reference_images(opened, split=split, folder=folder, dataset=dataset)
    console.print(f"added {added} reference image(s) ({split})")


def _run(project, source, classes) -> CollectReport:
    with progress_bar(f"collecting from {source.kind}") as progress:
        return collect(project, source, classes=classes, progress=progress)


def _report(report: CollectReport) -> None:
    console.print(
        f"{report.source}: {report.added} new, {report.known} already known, {report.failed} failed"
    )
