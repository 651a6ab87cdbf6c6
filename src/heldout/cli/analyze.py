"""``heldout analyze``: accuracy on the line for a new test set, written as one HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from heldout import analysis as an
from heldout.cli._render import console, progress_bar
from heldout.demo import find_data_dir
from heldout.errors import ConfigError


def analyze(
    new: Annotated[str, typer.Option("--new", help="The new test set (name, alias or suffix, e.g. b-33).")],
    original: Annotated[
        str, typer.Option("--original", help="The original test set (e.g. val).")
    ] = "imagenet-validation-original",
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML report to write.")] = Path("report.html"),
    predictions: Annotated[
        Path | None,
        typer.Option(
            "--predictions",
            "-p",
            help="Folder in the published layout <dataset>/<model>.npy "
            "(default: the public ImageNetV2 predictions in $HELDOUT_DATA or ../shared/data).",
        ),
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option("--models", "-m", help="Models to fit the line over (repeatable or comma-separated)."),
    ] = None,
    reference: Annotated[
        str | None, typer.Option("--reference", "-r", help="Published line to compare with: testbed or timm.")
    ] = None,
    transform: Annotated[str, typer.Option("--transform", help="probit, logit or linear axes.")] = "probit",
    confidence: Annotated[
        float, typer.Option("--confidence", help="Per-model interval in percent: 95, or 99.5 as the testbed.")
    ] = 95.0,
    datasheet: Annotated[
        Path | None, typer.Option("--datasheet", help="The new set's datasheet (Markdown) for the report.")
    ] = None,
    features_original: Annotated[
        Path | None,
        typer.Option("--features-original", help="Per-image features (.npy) of the original set."),
    ] = None,
    features_new: Annotated[
        Path | None, typer.Option("--features-new", help="Per-image features (.npy) of the new set.")
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the bootstrap and the shift check.")
    ] = 720257663,
) -> None:
    """Fit new-set against original accuracy, place every model, and write an HTML report.

    Example:

        heldout analyze --predictions ../shared/data/imagenetv2/predictions --original val --new b-33 --reference testbed --out report.html
    """
    options = _options(models, reference, transform, confidence, datasheet, features_original, features_new)
    root = predictions if predictions is not None else find_data_dir() / "imagenetv2" / "predictions"
    with progress_bar("scoring") as progress:
        result = an.analyze_predictions(
            root, original=original, new=new, seed=seed, progress=progress, **options
        )
    written = an.write_report(result, out)
    _render(result)
    for path in written:
        console.print(f"wrote {escape(str(path))}")


def _options(models, reference, transform, confidence, datasheet, features_original, features_new) -> dict:
    if transform not in an.TRANSFORMS:
        raise ConfigError(f"--transform must be one of {', '.join(an.TRANSFORMS)}, got {transform!r}")
    if not 50 < confidence < 100:
        raise ConfigError(
            f"--confidence is a percentage between 50 and 100, got {confidence}", fix="e.g. 95 or 99.5"
        )
    if (
        reference is not None
        and reference not in an.REFERENCE_SOURCES
        and reference not in an.list_reference_lines()
    ):
        raise ConfigError(
            f"unknown --reference {reference!r}",
            fix=f"use {' or '.join(an.REFERENCE_SOURCES)}, or a line name: {', '.join(an.list_reference_lines())}",
        )
    if (features_original is None) != (features_new is None):
        raise ConfigError("the shift check needs both --features-original and --features-new")
    if datasheet is not None and not datasheet.is_file():
        raise ConfigError("datasheet file not found", where=datasheet, fix="check the path")
    declared = [m.strip() for item in models or [] for m in item.split(",") if m.strip()]
    return {
        "models": declared or None,
        "reference": reference,
        "transform": transform,
        "confidence": confidence / 100,
        "datasheet": datasheet.read_text() if datasheet is not None else None,
        "features": (features_original, features_new) if features_original is not None else None,
    }


def _render(result: an.Analysis) -> None:
    fit = result.fit
    console.print(f"{escape(result.new_set)} vs {escape(result.original_set)}: {escape(fit.describe())}")
    if result.reference is not None:
        console.print(f"reference {escape(result.reference.label(fit.transform))}")
    table = Table(title="farthest from the line (effective robustness, points)")
    for column in ("model", "original", "new", "gap", "eff. robustness"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for p in sorted(result.points, key=lambda p: -abs(p.effective_robustness_pp))[:8]:
        mark = "" if p.in_fit else " (not fitted)"
        table.add_row(
            escape(p.model) + mark,
            f"{p.original:.2f}",
            f"{p.new:.2f}",
            f"{p.gap:+.2f}",
            f"{p.effective_robustness_pp:+.2f}",
        )
    console.print(table)
    if result.ranking:
        unresolved = sum(not c.significant for c in result.ranking)
        console.print(
            f"{unresolved} of {len(result.ranking)} adjacent pairs in the ranking are not significantly "
            "different (exact McNemar test)"
        )
    if result.shift is not None:
        console.print(f"shift check: {escape(result.shift.summary())}")
