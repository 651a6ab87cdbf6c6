"""``heldout evaluate``: score prediction files on test sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from heldout import evaluate as ev
from heldout.cli._render import console, progress_bar
from heldout.datasets import load_dataset
from heldout.errors import ConfigError
from heldout.evaluate import EvaluationResult, SubsetPolicy
from heldout.models import create_model, resolve_specs


def evaluate(
    predictions: Annotated[
        list[Path] | None,
        typer.Option(
            "--predictions",
            "-p",
            help="Prediction file(s) or folder(s); with no --dataset, "
            "a folder in the published layout <dataset>/<model>.npy.",
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", "-d", help="Registered test set name/alias, or a manifest file."),
    ] = None,
    real: Annotated[bool, typer.Option("--real", help="Add ReaL columns where labels exist.")] = False,
    topk: Annotated[str, typer.Option("--topk", help="Comma-separated k values.")] = "1,5",
    classes: Annotated[
        Path | None,
        typer.Option("--classes", help="Class subset: one wnid or index per line, or a class list."),
    ] = None,
    subset_policy: Annotated[
        str,
        typer.Option("--subset-policy", help="restrict (only subset classes compete) or membership."),
    ] = "restrict",
    csv: Annotated[Path | None, typer.Option("--csv", help="Write the results as CSV here.")] = None,
    json: Annotated[
        Path | None, typer.Option("--json", help="Write the results, with provenance, as JSON.")
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="Run a model on the images instead of reading predictions: efficientnet-lite0/1/2, "
            "'all' (the built-ins), a .onnx file, or package.module:function. Repeatable.",
        ),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option("--images", help="The test set's image folder (default: data/<dataset>)."),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache", help="Folder for exported models and cached logits (default $HELDOUT_CACHE)."
        ),
    ] = None,
) -> None:
    """Score predictions or models: top-k, ReaL top-k, Clopper–Pearson 95 % intervals.

    Example:

        heldout evaluate -d imagenetv2-b-33 -p preds/resnet50.npy --csv out.csv

        heldout evaluate -p ../shared/data/imagenetv2/predictions --real

        heldout evaluate -d my-release --model all --images data/my-release --json out.json
    """
    ks = _parse_topk(topk)
    policy = _parse_policy(subset_policy)
    if model:
        if predictions:
            raise ConfigError("give --predictions or --model, not both", fix="run them as two commands")
        results = _evaluate_models(model, dataset, images, cache, real, ks, classes, policy)
        _finish(results, csv, json)
        return
    if not predictions:
        raise ConfigError("nothing to evaluate", fix="give --predictions FILE or --model SPEC")
    with progress_bar("scoring") as progress:
        if dataset is None:
            if classes is not None:
                raise ConfigError("--classes needs --dataset", fix="name the test set with --dataset")
            results = [
                r
                for root in predictions
                for r in ev.evaluate_published(root, real=real, topk=ks, progress=progress)
            ]
        else:
            testset = load_dataset(dataset)
            subset = ev.load_class_subset(classes, testset.classes) if classes else None
            results = ev.evaluate_files(
                testset,
                predictions,
                real=real,
                topk=ks,
                subset=subset,
                subset_policy=policy,
                progress=progress,
            )
    _finish(results, csv, json)


def _evaluate_models(
    specs: list[str],
    dataset: str | None,
    images: Path | None,
    cache: Path | None,
    real: bool,
    ks: tuple[int, ...],
    classes: Path | None,
    policy: SubsetPolicy,
) -> list[EvaluationResult]:
    """Each model run over the test set's images (logits cached), then scored."""
    if dataset is None:
        raise ConfigError("--model needs --dataset", fix="name the test set with --dataset")
    testset = load_dataset(dataset)
    root = images or Path("data") / testset.name
    subset = ev.load_class_subset(classes, testset.classes) if classes else None
    results = []
    for spec in [name for text in specs for name in resolve_specs(text)]:
        network = create_model(spec, cache=cache)
        with progress_bar(f"{network.name} on {testset.name}") as progress:
            results.append(
                ev.evaluate_model(
                    network,
                    testset,
                    root,
                    real=real,
                    topk=ks,
                    subset=subset,
                    subset_policy=policy,
                    cache=cache,
                    progress=progress,
                )
            )
    return results


def _finish(results: list[EvaluationResult], csv: Path | None, json: Path | None) -> None:
    ev.write_results(results, csv_path=csv, json_path=json)
    render_results(results)
    for result in results:
        for image_id, reason in result.provenance.get("images_failed", {}).items():
            console.print(f"[yellow]skipped[/] {escape(image_id)}: {escape(reason)}")
    for path in (csv, json):
        if path is not None:
            console.print(f"wrote {path}")


def render_results(results: list[EvaluationResult]) -> None:
    """One row per result for a single set; a models × sets top-1 table for several."""
    datasets = list(dict.fromkeys(r.dataset for r in results))
    if len(datasets) == 1:
        _render_flat(results)
    else:
        _render_pivot(results)
    for r in results:
        for flag in r.flags:
            console.print(f"[yellow]flag[/] {escape(r.model)} on {escape(r.dataset)}: {escape(flag)}")


def _render_flat(results: list[EvaluationResult]) -> None:
    metrics = list(dict.fromkeys(m for r in results for m in r.metrics))
    table = Table(title=f"{escape(results[0].dataset)}: accuracy in % [95 % interval]")
    table.add_column("model")
    for metric in metrics:
        table.add_column(metric, justify="right")
    table.add_column("images", justify="right")
    for r in sorted(results, key=lambda r: -r.metrics[metrics[0]].percent):
        cells = [
            f"{r.metrics[m].percent:6.2f} [{r.metrics[m].low:.1f}, {r.metrics[m].high:.1f}]"
            if m in r.metrics
            else ""
            for m in metrics
        ]
        mark = " ⚠" if r.flags else ""
        table.add_row(escape(r.model) + mark, *cells, str(r.metrics[metrics[0]].total))
    console.print(table)


def _render_pivot(results: list[EvaluationResult]) -> None:
    models, datasets, top1 = ev.pivot(results, "top1")
    _, _, real = ev.pivot(results, "real_top1")
    sizes = {r.dataset: r.metrics["top1"].total for r in results if "top1" in r.metrics}
    columns = sorted(range(len(datasets)), key=lambda j: -sizes.get(datasets[j], 0))
    real_columns = [j for j in columns if np.isfinite(real[:, j]).any()]
    flagged = {(r.model, r.dataset) for r in results if r.flags}
    table = Table(title="top-1 accuracy in % (models × test sets; ⚠ = known problem, see below)")
    table.add_column("model", no_wrap=True)
    for j in columns:
        table.add_column(escape(_short(datasets[j])), justify="right")
    for j in real_columns:
        table.add_column(escape(f"{_short(datasets[j])} ReaL"), justify="right")
    for i in np.argsort(-np.nan_to_num(top1[:, columns[0]], nan=-1.0), kind="stable"):
        cells = [
            f"{top1[i, j]:.2f}" + (" ⚠" if (models[i], datasets[j]) in flagged else "")
            if np.isfinite(top1[i, j])
            else ""
            for j in columns
        ]
        cells += [f"{real[i, j]:.2f}" if np.isfinite(real[i, j]) else "" for j in real_columns]
        table.add_row(escape(models[i]), *cells)
    console.print(table)


def _short(dataset: str) -> str:
    """Column titles that fit a terminal: ``imagenetv2-b-33`` → ``v2-b-33``."""
    return (
        dataset.replace("imagenetv2-", "v2-")
        .replace("imagenet-validation-original", "val")
        .replace("imagenet-annotatedval20k-0", "val-annot20k")
    )


def _parse_topk(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError as exc:
        raise ConfigError(f"--topk must be comma-separated integers, got {text!r}") from exc
    if not ks or ks[0] < 1:
        raise ConfigError(f"--topk values must be >= 1, got {text!r}", fix="e.g. --topk 1,5")
    return ks


def _parse_policy(text: str) -> SubsetPolicy:
    if text not in ("restrict", "membership"):
        raise ConfigError(
            f"--subset-policy must be restrict or membership, got {text!r}",
            fix="restrict: only subset classes compete; membership: argmax over all classes",
        )
    return text  # type: ignore[return-value]
