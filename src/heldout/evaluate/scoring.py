"""Score predictions against a test set: top-k, ReaL top-k, class subsets, per-class accuracy.

Class subsets (ImageNet-R/-A style, 200 of the 1000 classes) come with two policies, recorded in
every result because they give different numbers:

- ``restrict``: only subset classes compete; the model's best subset class is its answer. Exact
  with scores; with ranked top-k files it keeps the subset classes among the k given, in order, so
  a row with none of them counts as wrong (recorded as ``subset_exact = False``).
- ``membership``: the argmax over all classes must be the (subset) label.

Images whose label is outside the subset are left out and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from heldout import __version__
from heldout.classes import ClassSet
from heldout.datasets import TestSet, load_dataset
from heldout.errors import ClassSetError, EvaluationError, PredictionsMismatchError
from heldout.evaluate.metrics import Accuracy, correct_within, per_class_accuracy
from heldout.evaluate.predictions import (
    Predictions,
    find_prediction_files,
    known_issue,
    load_predictions,
    rank_scores,
    read_published_layout,
)
from heldout.evaluate.result import EvaluationResult

__all__ = ["SubsetPolicy", "evaluate", "evaluate_files", "evaluate_published", "load_class_subset"]

SubsetPolicy = Literal["restrict", "membership"]
Progress = Callable[[int, int], None]


def evaluate(
    dataset: TestSet,
    predictions: Predictions,
    *,
    real: bool = False,
    topk: Sequence[int] = (1, 5),
    subset: np.ndarray | None = None,
    subset_policy: SubsetPolicy = "restrict",
) -> EvaluationResult:
    """Score one model's predictions on ``dataset``.

    Rows align by image id when the predictions carry ids, otherwise by order. ``real=True`` adds
    ``real_top{k}`` where the test set has ReaL labels (it is silently absent otherwise, so one
    call works across sets); ``subset`` is an array of class indices.
    """
    rows = _alignment(dataset, predictions)
    ranked = predictions.ranked if rows is None else predictions.ranked[rows]
    scores = predictions.scores
    if scores is not None and rows is not None:
        scores = scores[rows]
    _check_class_range(ranked, dataset, predictions)
    for k in topk:
        _check_k(k, predictions)
    labels = dataset.labels
    provenance = _provenance(dataset, predictions)
    excluded: dict[str, int] = {}
    real_labels = dataset.real if real else None
    if subset is not None:
        keep = np.isin(labels, subset)
        if subset_policy == "restrict":
            ranked = _restrict(ranked, scores, subset)
        ranked, labels = ranked[keep], labels[keep]
        real_labels = real_labels.take(np.flatnonzero(keep)) if real_labels is not None else None
        excluded["subset"] = int((~keep).sum())
        provenance.update(
            subset_policy=subset_policy,
            subset_size=len(subset),
            subset_exact=subset_policy == "membership" or scores is not None,
        )
    deepest = max(topk)
    within = correct_within(ranked[:, :deepest] == labels.astype(ranked.dtype)[:, None])
    counts = {f"top{k}": (int(np.count_nonzero(within[:, k - 1])), len(labels)) for k in topk}
    if real_labels is not None:
        scored = int(np.count_nonzero(real_labels.counts))
        real_within = correct_within(real_labels.contains(ranked[:, :deepest]))
        counts.update({f"real_top{k}": (int(np.count_nonzero(real_within[:, k - 1])), scored) for k in topk})
        excluded["real"] = len(labels) - scored
        provenance["real_sha256"] = real_labels.sha256
    issue = known_issue(predictions.model, dataset.name)
    return EvaluationResult(
        dataset=dataset.name,
        model=predictions.model,
        metrics=Accuracy.from_counts(counts),
        per_class=per_class_accuracy(within[:, 0], labels, len(dataset.classes)),
        excluded=excluded,
        flags=(issue,) if issue else (),
        provenance=provenance,
    )


def evaluate_files(
    dataset: str | Path | TestSet,
    paths: Sequence[str | Path],
    *,
    real: bool = False,
    topk: Sequence[int] = (1, 5),
    subset: np.ndarray | None = None,
    subset_policy: SubsetPolicy = "restrict",
    progress: Progress | None = None,
) -> list[EvaluationResult]:
    """Score every prediction file given (files, or folders of model files) on one test set."""
    testset = dataset if isinstance(dataset, TestSet) else load_dataset(dataset)
    files = [f for p in paths for f in find_prediction_files(p)]
    results = []
    for done, path in enumerate(files, start=1):
        results.append(
            evaluate(
                testset,
                load_predictions(path),
                real=real,
                topk=topk,
                subset=subset,
                subset_policy=subset_policy,
            )
        )
        if progress:
            progress(done, len(files))
    return results


def evaluate_published(
    root: str | Path,
    *,
    real: bool = False,
    topk: Sequence[int] = (1, 5),
    progress: Progress | None = None,
) -> list[EvaluationResult]:
    """Every model on every set of the published layout ``<root>/<dataset>/<model>.npy``."""
    layout = read_published_layout(root)
    total = sum(len(files) for files in layout.values())
    results: list[EvaluationResult] = []
    for folder, files in layout.items():
        testset = load_dataset(folder)
        for path in files:
            results.append(evaluate(testset, load_predictions(path), real=real, topk=topk))
            if progress:
                progress(len(results), total)
    return results


def load_class_subset(path: str | Path, classes: ClassSet) -> np.ndarray:
    """Class indices from a file: one class id or index per line (``.txt``), or a class list."""
    path = Path(path)
    if not path.is_file():
        raise ClassSetError("class subset file not found", where=path, fix="check the path")
    if path.suffix.lower() in (".csv", ".json"):
        entries = ClassSet.from_file(path).ids.tolist()
    else:
        entries = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not entries:
        raise ClassSetError("the class subset is empty", where=path)
    if all(e.isdigit() for e in entries):
        indices = np.array(entries, dtype=np.int64)
        if indices.max() >= len(classes):
            raise ClassSetError(
                f"class index {int(indices.max())} is out of range for {len(classes)} classes",
                where=path,
            )
    else:
        indices = classes.indices(entries, where=path)
    return np.unique(indices)


def _alignment(dataset: TestSet, predictions: Predictions) -> np.ndarray | None:
    """Row of the predictions for each image of the test set (None: rows are already in order)."""
    where = predictions.source or predictions.model
    if predictions.ids is None:
        if len(predictions) != len(dataset):
            raise PredictionsMismatchError(
                f"{len(predictions)} prediction rows for {len(dataset)} images of {dataset.name}",
                where=where,
                fix="predict every image of the set in manifest order, or save image ids with the rows",
            )
        return None
    ids = predictions.ids
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise PredictionsMismatchError(
            f"image id(s) predicted more than once: {unique[counts > 1][:3].tolist()}", where=where
        )
    sorter = np.argsort(ids)
    pos = np.minimum(np.searchsorted(ids, dataset.ids, sorter=sorter), len(ids) - 1)
    rows = sorter[pos]
    missing = ids[rows] != dataset.ids
    extra = len(ids) - int((~missing).sum())
    if missing.any() or extra:
        raise PredictionsMismatchError(
            f"{int(missing.sum())} image(s) of {dataset.name} have no prediction "
            f"(e.g. {dataset.ids[missing][:2].tolist()}), {extra} prediction(s) are for other images",
            where=where,
            fix=f"predict exactly the {len(dataset)} images of the manifest",
        )
    return rows


def _check_class_range(ranked: np.ndarray, dataset: TestSet, predictions: Predictions) -> None:
    scores = predictions.scores
    if scores is not None and scores.shape[1] != len(dataset.classes):
        raise PredictionsMismatchError(
            f"the scores cover {scores.shape[1]} classes, {dataset.name} has {len(dataset.classes)} classes",
            where=predictions.source or predictions.model,
            fix="save one score per class of the test set's class list, in its order",
        )
    top = int(ranked.max())
    if top >= len(dataset.classes):
        raise PredictionsMismatchError(
            f"class index {top} is out of range: {dataset.name} has {len(dataset.classes)} classes",
            where=predictions.source or predictions.model,
            fix="predictions must index the test set's classes (0-based)",
        )


def _check_k(k: int, predictions: Predictions) -> None:
    if not 1 <= k <= predictions.ranked.shape[1]:
        raise EvaluationError(
            f"top-{k} needs at least {k} ranked predictions per image, the file has "
            f"{predictions.ranked.shape[1]}",
            where=predictions.source or predictions.model,
            fix=f"ask for top-k with k <= {predictions.ranked.shape[1]}",
        )


def _restrict(ranked: np.ndarray, scores: np.ndarray | None, subset: np.ndarray) -> np.ndarray:
    if scores is not None:
        masked = np.full_like(scores, -np.inf)
        masked[:, subset] = scores[:, subset]
        top = rank_scores(masked, ranked.shape[1])
        return np.where(np.isin(top, subset), top, -1)  # k may exceed the subset: pad with "none"
    inside = np.isin(ranked, subset)
    order = np.argsort(~inside, axis=1, kind="stable")
    moved = np.take_along_axis(ranked, order, axis=1)
    return np.where(np.take_along_axis(inside, order, axis=1), moved, -1)


def _provenance(dataset: TestSet, predictions: Predictions) -> dict:
    return {
        "heldout_version": __version__,
        "dataset": dataset.name,
        "manifest_sha256": dataset.sha256,
        "predictions": Path(predictions.source).name if predictions.source else predictions.model,
        "predictions_sha256": predictions.sha256,
        "aligned_by": "order" if predictions.ids is None else "image id",
    }
