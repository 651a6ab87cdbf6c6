"""``heldout crowd tasks build grid|controls|verify`` and ``heldout crowd tasks import-hits``."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from heldout.cli._project import ProjectOption, open_project
from heldout.cli._render import console
from heldout.crowd.hits_import import import_published_hits
from heldout.crowd.tasks import build_control_tasks, build_grid_tasks, build_verify_tasks, propose_labels
from heldout.datasets import load_dataset
from heldout.errors import ConfigError
from heldout.evaluate import load_predictions

__all__ = ["app"]

app = typer.Typer(
    help="Crowd tasks: build grid, control and verify tasks; import published HITs.", no_args_is_help=True
)


class Kind(StrEnum):
    grid = "grid"
    controls = "controls"
    verify = "verify"


@app.command("build")
def build(
    kind: Annotated[
        Kind, typer.Argument(help="grid (ImageNetV2), controls (for MatchedFrequency) or verify (ReaL).")
    ],
    seed: Annotated[int, typer.Option(help="Seed of every random choice; stored with each task.")],
    classes: Annotated[
        list[str] | None,
        typer.Option("--classes", help="Class ids (repeat, or comma-separated); default all."),
    ] = None,
    assignments: Annotated[
        int | None, typer.Option(help="Workers per task (default: 10 for grids, 5 for verify).")
    ] = None,
    min_answers: Annotated[int, typer.Option(help="Skip questions with this many valid answers.")] = 10,
    reference_split: Annotated[
        str, typer.Option(help="Split of the reference images used as controls.")
    ] = "val",
    golden: Annotated[
        int, typer.Option(help="Golden questions per grid, or golden tasks mixed into a verify build.")
    ] = 0,
    exclude: Annotated[
        Path | None, typer.Option(help="File of image ids to leave out (one per line), e.g. near duplicates.")
    ] = None,
    proposals: Annotated[
        Path | None, typer.Option(help="verify: JSON {image id: [class ids]} of labels to ask about.")
    ] = None,
    predictions: Annotated[
        list[Path] | None,
        typer.Option(
            help="verify: ranked prediction files (repeat); proposals = their top-k + original label."
        ),
    ] = None,
    dataset: Annotated[
        str, typer.Option(help="verify: the test set the prediction rows follow.")
    ] = "imagenet-val",
    top_k: Annotated[int, typer.Option(help="verify: how many of each model's top classes to propose.")] = 5,
    project: ProjectOption = Path("."),
) -> None:
    """Build crowd tasks: ImageNetV2 grids (42 candidates + 3 + 3 controls), control-heavy grids
    where a class lacks 20 annotated reference images, or ReaL-style verify tasks.

    Example:

        heldout crowd tasks build grid --seed 0 --classes n01440764,n01443537 -P my-testset
    """
    keys = [k.strip() for part in classes or () for k in part.split(",") if k.strip()] or None
    excluded = _read_ids(exclude) if exclude else None
    with open_project(project) as opened:
        if kind is Kind.grid:
            ids = build_grid_tasks(
                opened,
                seed=seed,
                classes=keys,
                assignments=assignments or 10,
                min_answers=min_answers,
                reference_split=reference_split,
                golden_per_task=golden,
                exclude=excluded,
            )
        elif kind is Kind.controls:
            ids = build_control_tasks(
                opened,
                seed=seed,
                classes=keys,
                assignments=assignments or 10,
                min_answers=min_answers,
                reference_split=reference_split,
                exclude=excluded,
            )
        else:
            wanted = _proposals(proposals, predictions, dataset, top_k)
            ids = build_verify_tasks(
                opened, proposals=wanted, seed=seed, assignments=assignments or 5, golden_tasks=golden
            )
    span = f" (ids {ids[0]}..{ids[-1]})" if ids else ""
    console.print(f"built {len(ids):,} {kind.value} task(s){span} with seed {seed}")


@app.command("import-hits")
def import_hits(
    file: Annotated[
        Path, typer.Argument(help="Published HIT records (JSON list), e.g. hits_2018-09-17.json.")
    ],
    blacklist: Annotated[
        Path | None, typer.Option(help="JSON {uuid: reason} of HITs to skip (hit_blacklist_live.json).")
    ] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Import ImageNetV2's published grid tasks over metadata-only images, with exact positions and roles.

    Example:

        heldout crowd tasks import-hits ../shared/data/imagenetv2/mturk/hits_2018-09-17.json --blacklist ../shared/data/imagenetv2/mturk/hit_blacklist_live.json -P v2-project
    """
    with open_project(project) as opened:
        report = import_published_hits(opened, file, blacklist_path=blacklist)
    table = Table("shape (images/candidates/positives/negatives)", "tasks")
    for shape, count in report.shapes.items():
        table.add_row(shape, f"{count:,}")
    console.print(table)
    console.print(
        f"{report.tasks:,} tasks imported; skipped {report.skipped_blacklisted} blacklisted, "
        f"{report.skipped_existing} already imported; added {report.candidates_added:,} candidates, "
        f"{report.references_added:,} reference images"
    )
    if report.tasks:
        console.print(
            f"positive controls of the task's class: {report.positives_of_class:.1%}; "
            f"negative controls of its most similar class: {report.negatives_of_similar:.1%}"
        )


def _read_ids(path: Path) -> set[str]:
    if not path.is_file():
        raise ConfigError("file not found", where=path, fix="check the path")
    return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def _proposals(proposals: Path | None, predictions: list[Path] | None, dataset: str, top_k: int) -> dict:
    if (proposals is None) == (not predictions):
        raise ConfigError(
            "verify tasks need exactly one of --proposals or --predictions",
            fix="--proposals labels.json, or --predictions a.npy --predictions b.npy",
        )
    if proposals is not None:
        try:
            data = json.loads(proposals.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read proposals: {exc}", where=proposals) from exc
        if not isinstance(data, dict):
            raise ConfigError("proposals are a JSON object {image id: [class ids]}", where=proposals)
        return data
    testset = load_dataset(dataset)
    ranked = [load_predictions(path).ranked for path in predictions]
    labels = propose_labels(ranked, testset.labels, k=top_k)
    return dict(zip(testset.ids.tolist(), labels, strict=True))
