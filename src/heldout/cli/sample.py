"""``heldout sample threshold|matched-frequency|top-images``: one call to ``heldout.sampling.sample``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from heldout.cli._project import ProjectOption, open_project
from heldout.cli._render import console
from heldout.errors import SamplingError
from heldout.sampling import (
    EXCLUSION_REASONS,
    MatchedFrequency,
    SampleResult,
    SamplingStrategy,
    Threshold,
    TopImages,
    sample,
)

app = typer.Typer(
    help="Sample a test-set revision from eligible candidates (ImageNetV2's a/b/c rules).",
    no_args_is_help=True,
)

NameOption = Annotated[str, typer.Option("--name", help="Set name; the revision is <name>-<letter>-<n>.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of random.Random, stored in the manifest.")]
PerClassOption = Annotated[int, typer.Option("--per-class", help="Images per class.")]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from", help="Previous revision of this project to start from (keeps its eligible images)."
    ),
]
ClassesOption = Annotated[
    str | None, typer.Option("--classes", help="Comma-separated class ids (default: the whole class set).")
]
ReviewOption = Annotated[
    bool,
    typer.Option(
        "--require-duplicate-review/--no-duplicate-review",
        help="Only candidates sufficiently reviewed for near duplicates are eligible (recorded).",
    ),
]
MinAnnotationsOption = Annotated[
    int, typer.Option("--min-annotations", help="Annotations a candidate needs.")
]
OutOption = Annotated[Path | None, typer.Option("--out", help="Also write the manifest JSON here.")]
UsernameOption = Annotated[str | None, typer.Option("--username", help="Recorded in the manifest.")]
TimeOption = Annotated[
    str | None, typer.Option("--time-string", help="Recorded in the manifest, e.g. 2018-12-13_10:26:51_UTC.")
]


@app.command("threshold")
def threshold(
    ctx: typer.Context,
    name: NameOption,
    seed: SeedOption,
    project: ProjectOption = Path("."),
    per_class: PerClassOption = 10,
    previous: FromOption = None,
    frequency: Annotated[float, typer.Option("--threshold", help="Minimum selection frequency.")] = 0.7,
    class_threshold: Annotated[
        list[str] | None,
        typer.Option("--class-threshold", help="Per-class override CLASS=VALUE (repeatable)."),
    ] = None,
    min_annotations: MinAnnotationsOption = 10,
    classes: ClassesOption = None,
    require_duplicate_review: ReviewOption = True,
    out: OutOption = None,
    username: UsernameOption = None,
    time_string: TimeOption = None,
) -> None:
    """Threshold (a): random eligible candidates with selection frequency >= the threshold.

    Exits 1 when a class cannot be filled (the revision is stored with is_valid false).

    Example:

        heldout sample threshold --name my-testset --seed 600717499 --class-threshold n03804744=0.5 -P my-testset
    """
    overrides = _class_thresholds(class_threshold or [])
    strategy = Threshold(threshold=frequency, class_thresholds=overrides, min_annotations=min_annotations)
    _run(ctx, strategy)


@app.command("matched-frequency")
def matched_frequency(
    ctx: typer.Context,
    name: NameOption,
    seed: SeedOption,
    project: ProjectOption = Path("."),
    per_class: PerClassOption = 10,
    previous: FromOption = None,
    min_annotations: MinAnnotationsOption = 10,
    min_reference_annotations: Annotated[
        int, typer.Option(help="Annotations a reference image needs to shape the target histogram.")
    ] = 10,
    min_reference_images: Annotated[int, typer.Option(help="Such reference images a class needs.")] = 20,
    allow_upward_sampling: Annotated[
        bool,
        typer.Option("--upward/--no-upward", help="A short bin borrows from the next higher non-empty bin."),
    ] = True,
    classes: ClassesOption = None,
    require_duplicate_review: ReviewOption = True,
    out: OutOption = None,
    username: UsernameOption = None,
    time_string: TimeOption = None,
) -> None:
    """MatchedFrequency (b): per class, match the reference images' selection-frequency histogram.

    Exits 1 when a class cannot be filled (the revision is stored with is_valid false).

    Example:

        heldout sample matched-frequency --name my-testset --seed 274721306 --from my-testset-b-0 -P my-testset
    """
    strategy = MatchedFrequency(
        min_annotations=min_annotations,
        min_reference_annotations=min_reference_annotations,
        min_reference_images=min_reference_images,
        allow_upward_sampling=allow_upward_sampling,
    )
    _run(ctx, strategy)


@app.command("top-images")
def top_images(
    ctx: typer.Context,
    name: NameOption,
    seed: SeedOption,
    project: ProjectOption = Path("."),
    per_class: PerClassOption = 10,
    previous: FromOption = None,
    min_annotations: MinAnnotationsOption = 10,
    classes: ClassesOption = None,
    require_duplicate_review: ReviewOption = True,
    out: OutOption = None,
    username: UsernameOption = None,
    time_string: TimeOption = None,
) -> None:
    """TopImages (c): the highest-frequency eligible candidates per class (the seed only shuffles).

    Exits 1 when a class cannot be filled (the revision is stored with is_valid false).

    Example:

        heldout sample top-images --name my-testset --seed 940573347 --no-duplicate-review -P my-testset
    """
    strategy = TopImages(min_annotations=min_annotations)
    _run(ctx, strategy)


def _class_thresholds(items: list[str]) -> dict[str, float]:
    overrides = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            overrides[key.strip()] = float(value)
        except ValueError:
            raise SamplingError(
                f"not CLASS=VALUE: {item!r}",
                where="--class-threshold",
                fix="e.g. --class-threshold n03804744=0.5",
            ) from None
    return overrides


def _run(ctx: typer.Context, strategy: SamplingStrategy) -> None:
    """Sample with the options every subcommand shares (read from the command's parameters)."""
    options = ctx.params
    classes = options["classes"]
    with open_project(options["project"]) as opened:
        result = sample(
            opened,
            strategy,
            name=options["name"],
            seed=options["seed"],
            per_class=options["per_class"],
            previous=options["previous"],
            classes=[c.strip() for c in classes.split(",") if c.strip()] if classes is not None else None,
            require_duplicate_review=options["require_duplicate_review"],
            username=options["username"],
            time_string=options["time_string"],
        )
    if options["out"] is not None:
        result.manifest.save(options["out"])
    _report(result, options["out"])
    if not result.is_valid:
        raise typer.Exit(1)


def _report(result: SampleResult, out: Path | None) -> None:
    state = "valid" if result.is_valid else f"INVALID: {len(result.shortfalls)} classes could not be filled"
    console.print(
        f"{result.name}: {len(result.manifest):,} images, {state}; seed {result.seed}, "
        f"{result.carried_over:,} carried over, {result.borrowed:,} borrowed from a higher bin"
    )
    excluded = ", ".join(f"{count:,} {reason.replace('_', ' ')}" for reason, count in result.excluded.items())
    console.print(f"excluded candidates: {excluded}")
    if out is not None:
        console.print(f"wrote {out} (sha256 {result.manifest.sha256[:12]})")
    if not result.shortfalls:
        return
    references = any(short.reference_images is not None for short in result.shortfalls)
    table = Table(title="Short classes: candidates excluded, by reason")
    columns = ["class", "selected", "eligible", *(r.replace("_", " ") for r in EXCLUSION_REASONS)]
    for column in columns + (["reference images"] if references else []):
        table.add_column(column, justify="left" if column == "class" else "right")
    for short in result.shortfalls:
        table.add_row(
            short.class_key,
            f"{short.selected}/{short.wanted}",
            str(short.eligible),
            *(str(short.excluded[reason]) for reason in EXCLUSION_REASONS),
            *([str(short.reference_images)] if references else []),
        )
    console.print(table)
    console.print("What to do next:")
    for short in result.shortfalls:
        console.print(f"  {short.class_key}: {short.next_step}")
