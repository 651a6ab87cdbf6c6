"""``heldout dedup features|neighbours|calibrate|threshold|review|resolve|import|export|report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from heldout.cli._project import ProjectOption, open_project
from heldout.cli._render import console, progress_bar
from heldout.dedup.calibrate import calibrate as run_calibration
from heldout.dedup.components import resolve as run_resolution
from heldout.dedup.neighbours import SHORTLIST_DEPTH, compute_features, find_neighbours
from heldout.dedup.published import (
    RELEASED_SETS,
    export_published,
    import_neighbour_results,
    import_published,
    report_released_sets,
)
from heldout.dedup.review import record_review, review_queue, set_threshold, thresholds

app = typer.Typer(
    help="Near duplicates: features, neighbours, thresholds, review, resolution.", no_args_is_help=True
)


@app.command("features")
def features(
    extractor: Annotated[
        str, typer.Option(help="Feature extractor (a CNN name, or pixels).")
    ] = "efficientnet-lite0",
    project: ProjectOption = Path("."),
) -> None:
    """Extract and cache CNN features of every stored image (resumable).

    Example:

        heldout dedup features --extractor efficientnet-lite0 -P my-testset
    """
    with open_project(project) as opened, progress_bar(f"features ({extractor})") as progress:
        count = compute_features(opened, extractor, progress=progress)
    console.print(f"{count} image(s) have {extractor} features")


@app.command("neighbours")
def neighbours(
    metric: Annotated[str, typer.Argument(help="l2, dssim, or a CNN extractor name.")],
    k: Annotated[int, typer.Option(help="Neighbours kept per candidate.")] = 30,
    against: Annotated[str, typer.Option(help="reference, candidates or both.")] = "both",
    dask: Annotated[str | None, typer.Option(help="Dask scheduler address (tcp://host:8786).")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many candidates in this call.")] = None,
    recompute: Annotated[
        bool, typer.Option(help="Recompute candidates that already have neighbours.")
    ] = False,
    shortlist: Annotated[
        str | None,
        typer.Option(
            help="dssim only: re-measure the first neighbours under these metrics (comma-separated)."
        ),
    ] = None,
    shortlist_depth: Annotated[int, typer.Option(help="Neighbours per shortlist metric.")] = SHORTLIST_DEPTH,
    project: ProjectOption = Path("."),
) -> None:
    """Find each candidate's nearest neighbours under a metric (resumable).

    Example:

        heldout dedup neighbours l2 --k 30 --against both -P my-testset

        heldout dedup neighbours dssim --shortlist l2,efficientnet-lite0 -P my-testset
    """
    with open_project(project) as opened, progress_bar(f"neighbours ({metric})") as progress:
        report = find_neighbours(
            opened,
            metric,
            k=k,
            against=against,
            dask=dask,
            limit=limit,
            recompute=recompute,
            shortlist=[m.strip() for m in (shortlist or "").split(",") if m.strip()],
            shortlist_depth=shortlist_depth,
            progress=progress,
        )
    console.print(
        f"{metric}: {report.candidates} candidate(s) searched, {report.rows} neighbour rows, "
        f"{report.remaining} left"
    )


@app.command("calibrate")
def calibrate(
    metric: Annotated[str, typer.Argument(help="l2, dssim, or a CNN extractor name.")],
    recall: Annotated[float, typer.Option(help="Share of synthetic near copies to catch.")] = 0.95,
    images: Annotated[int, typer.Option(help="Stored images to make near copies of.")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the image sample and the noise.")] = 0,
    project: ProjectOption = Path("."),
) -> None:
    """Set a metric's review threshold from synthetic near copies at a target recall.

    Example:

        heldout dedup calibrate efficientnet-lite0 --recall 0.95 -P my-testset
    """
    with open_project(project) as opened, progress_bar(f"calibrate ({metric})") as progress:
        result = run_calibration(opened, metric, recall=recall, images=images, seed=seed, progress=progress)
    console.print(
        f"{metric} threshold {result.threshold:.6g} (recall {recall}; "
        f"unrelated pairs under it: {result.details['unrelated_under_threshold']})"
    )


@app.command("threshold")
def threshold(
    metric: Annotated[str | None, typer.Argument(help="Metric to set (omit to list).")] = None,
    value: Annotated[float | None, typer.Argument(help="Its review threshold.")] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Show the review thresholds, or set one by hand.

    Example:

        heldout dedup threshold l2 1.2e8 -P my-testset
    """
    with open_project(project) as opened:
        if metric is not None and value is not None:
            set_threshold(opened, metric, value)
        current = thresholds(opened)
    for name, limit in current.items():
        typer.echo(f"{name}\t{limit:.6g}")


@app.command("review")
def review(
    limit: Annotated[int, typer.Option(help="Rows of the queue to show.")] = 20,
    accept: Annotated[
        str | None, typer.Option(help="Mark this candidate's queued neighbours reviewed.")
    ] = None,
    metric: Annotated[str | None, typer.Option(help="With --accept: only this metric.")] = None,
    duplicate: Annotated[
        list[str] | None, typer.Option(help="With --accept: a neighbour that is a duplicate.")
    ] = None,
    reviewer: Annotated[str, typer.Option(help="Who reviewed.", envvar="USER")] = "cli",
    project: ProjectOption = Path("."),
) -> None:
    """List the review queue, or accept one candidate's row (the web page at /review/duplicates is the real review).

    Example:

        heldout dedup review --accept 0001c6d69627f18456d74904a229177d80cef748 --duplicate ILSVRC2012_val_00000001.JPEG
    """
    with open_project(project) as opened:
        if accept is not None:
            for item in review_queue(opened, image_ids=[accept], metrics=[metric] if metric else None):
                ticked = [d for d in duplicate or [] if d in item.neighbour_ids]
                record_review(opened, accept, item.metric, item.neighbour_ids, ticked, reviewer)
                console.print(
                    f"{accept} {item.metric}: {len(item.neighbour_ids)} reviewed, {len(ticked)} duplicate(s)"
                )
            return
        queue = review_queue(opened)
    table = Table("candidate", "metric", "threshold", "neighbours (distance)")
    for item in queue[:limit]:
        shown = ", ".join(f"{n} ({d:.4g})" for n, d in zip(item.neighbour_ids, item.distances, strict=True))
        table.add_row(item.image_id, item.metric, f"{item.threshold:.4g}", shown)
    console.print(table)
    console.print(f"{len(queue)} row(s) need review")


@app.command("resolve")
def resolve(project: ProjectOption = Path(".")) -> None:
    """Resolve duplicate components: keep one member of each, drop copies of reference images.

    Example:

        heldout dedup resolve -P my-testset
    """
    with open_project(project) as opened:
        result = run_resolution(opened)
    counts = {s: int((result.status == s).sum()) for s in ("kept", "duplicate", "reference")}
    console.print(
        f"{len(set(result.component.tolist()))} component(s): "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
    )


@app.command("import")
def import_(
    folder: Annotated[Path, typer.Argument(help="Folder with the published dedup JSON files.")],
    neighbours_file: Annotated[
        Path | None,
        typer.Option("--neighbours", help="Also import nearest-neighbour results (published format)."),
    ] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Import ImageNetV2's near_duplicates, reviews, overrides and blacklist files.

    Example:

        heldout dedup import ../shared/data/imagenetv2/metadata -P my-testset
    """
    with open_project(project) as opened:
        counts = import_published(opened, folder)
        if neighbours_file is not None:
            counts["neighbours"] = import_neighbour_results(opened, neighbours_file)
    console.print(", ".join(f"{v} {k}" for k, v in counts.items()))


@app.command("export")
def export(
    folder: Annotated[Path, typer.Argument(help="Folder to write the four published-format files into.")],
    project: ProjectOption = Path("."),
) -> None:
    """Export duplicates, reviews, overrides and blacklist in ImageNetV2's file formats.

    Example:

        heldout dedup export out/metadata -P my-testset
    """
    with open_project(project) as opened:
        written = export_published(opened, folder)
    for path in written.values():
        console.print(str(path))


@app.command("report")
def report(
    dataset: Annotated[list[str] | None, typer.Option(help="Test set to report on (repeatable).")] = None,
    project: ProjectOption = Path("."),
) -> None:
    """What the duplicate components say about test sets (default: the released ImageNetV2 sets).

    Example:

        heldout dedup report --dataset imagenetv2-b-33 -P my-testset
    """
    with open_project(project) as opened:
        reports = report_released_sets(opened, dataset or RELEASED_SETS)
    table = Table("test set", "images", "components with 2+", "in components with reference images")
    for item in reports:
        touching = "; ".join(f"{k} ~ {', '.join(v)}" for k, v in item.touching_reference.items())
        table.add_row(item.name, str(item.size), str(item.shared_components), touching or "-")
    console.print(table)
