"""Operating points and label export: precision/recall against a truth, and label sets at a threshold.

A question is (image, class) with a score (e.g. the Dawid–Skene posterior); "the class fits" is
decided by ``score > threshold`` (strictly greater, as in the ReaL release, whose ``real.json`` is
exactly ``{label : score > 0.8}`` on the rated images).

* :func:`precision_recall` sweeps thresholds against a per-question truth (ReaL: the expert
  majority on the golden questions) and :func:`plot_precision_recall` draws the curves with the
  operating point marked, like Figure 3 of Beyer et al. (2020), "Are we done with ImageNet?".
* :func:`label_sets` turns scores into one label set per image; images without questions keep a
  given label (their original one). :func:`write_real_json` writes them in ``real.json`` format,
  :func:`clean_subset` / :func:`write_clean_subset` export the images whose set is exactly their
  original label.

Inside a written list, labels are in descending score order (ties: ascending class index); a
carried-over label of an unrated image is its list's only entry. The release's lists have no fixed
order, so compare label lists as sets.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heldout.atomic import write_atomic
from heldout.errors import AggregationError
from heldout.ragged import take_rows

__all__ = [
    "LabelSets",
    "PRCurve",
    "clean_subset",
    "label_sets",
    "plot_precision_recall",
    "precision_recall",
    "write_clean_subset",
    "write_real_json",
]


@dataclass(frozen=True, eq=False)
class PRCurve:
    """Precision, recall and agreement of ``score > threshold`` decisions, one entry per threshold.

    Thresholds ascend, so recall falls along the arrays. ``precision`` is NaN where nothing is
    predicted positive; ``agreement`` is the accuracy of the decisions (TP + TN) / N.
    """

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    agreement: np.ndarray
    true_positive: np.ndarray
    false_positive: np.ndarray
    n_positive: int
    n_questions: int

    def __len__(self) -> int:
        return len(self.thresholds)

    def at(self, threshold: float) -> dict[str, float]:
        """The point of the largest swept threshold ≤ ``threshold``: with the default sweep (every
        score is a threshold) that is exactly the point of ``score > threshold``."""
        index = int(np.searchsorted(self.thresholds, threshold, side="right")) - 1
        if index < 0:
            raise AggregationError(
                f"threshold {threshold} is below the curve's lowest threshold {self.thresholds[0]}"
            )
        return {
            "threshold": float(self.thresholds[index]),
            "precision": float(self.precision[index]),
            "recall": float(self.recall[index]),
            "agreement": float(self.agreement[index]),
        }


def precision_recall(
    scores: np.ndarray, truth: np.ndarray, thresholds: Sequence[float] | np.ndarray | None = None
) -> PRCurve:
    """Precision/recall/agreement of ``scores > t`` against ``truth`` (1, 0; -1 = unknown, skipped).

    ``thresholds`` default to -inf followed by every distinct score of a known question, which
    traces the whole curve (from recall 1 down to the highest-scored question). Counting is one
    sort and two ``searchsorted`` calls, whatever the number of thresholds.
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth)
    if scores.shape != truth.shape or scores.ndim != 1:
        raise AggregationError(
            f"scores {scores.shape} and truth {truth.shape} must be 1-d arrays of the same length",
            fix="give one score and one truth value per question",
        )
    if not np.isin(truth, (-1, 0, 1)).all():
        raise AggregationError("truth values must be 0, 1 or -1 (unknown)")
    known = truth >= 0
    if not known.any():
        raise AggregationError("no question has a known truth", fix="pass the golden questions' truth")
    scores, truth = scores[known], truth[known]
    if np.isnan(scores).any():
        raise AggregationError("scores hold NaN on questions with a known truth")
    if thresholds is None:
        thresholds = np.concatenate([[-np.inf], np.unique(scores)])
    thresholds = np.sort(np.asarray(thresholds, dtype=np.float64))
    positive_scores = np.sort(scores[truth == 1])
    negative_scores = np.sort(scores[truth == 0])
    true_positive = len(positive_scores) - np.searchsorted(positive_scores, thresholds, side="right")
    false_positive = len(negative_scores) - np.searchsorted(negative_scores, thresholds, side="right")
    true_negative = len(negative_scores) - false_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = true_positive / (true_positive + false_positive)
        recall = (
            true_positive / len(positive_scores) if len(positive_scores) else np.full(len(thresholds), np.nan)
        )
    return PRCurve(
        thresholds=thresholds,
        precision=precision,
        recall=recall,
        agreement=(true_positive + true_negative) / len(scores),
        true_positive=true_positive,
        false_positive=false_positive,
        n_positive=len(positive_scores),
        n_questions=len(scores),
    )


def plot_precision_recall(
    curves: Mapping[str, PRCurve], path: str | Path, *, mark: float | None = 0.8, title: str | None = None
) -> Path:
    """Draw precision against recall for each named curve as a PNG, the point at ``score > mark``
    marked on each (ReaL's Figure 3). The bytes depend only on the curves: no timestamp or
    software version is written, and no global matplotlib state is touched.
    """
    # matplotlib loads here, not at import: it would add about a second to every CLI command.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not curves:
        raise AggregationError("no curves to plot")
    figure = Figure(figsize=(5.0, 4.5), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, curve in curves.items():
        (line,) = axes.plot(curve.recall, curve.precision, label=name, linewidth=1.5)
        if mark is not None and curve.thresholds[0] <= mark:
            point = curve.at(mark)
            axes.plot(
                [point["recall"]],
                [point["precision"]],
                marker="o",
                markersize=7,
                color=line.get_color(),
                markeredgecolor="black",
            )
    if mark is not None:
        axes.plot(
            [],
            [],
            marker="o",
            linestyle="none",
            color="grey",
            markeredgecolor="black",
            label=f"score > {mark:g}",
        )
    axes.set_xlabel("Recall")
    axes.set_ylabel("Precision")
    axes.set_xlim(0.0, 1.0)
    axes.set_ylim(0.0, 1.02)
    axes.grid(True, linewidth=0.5, alpha=0.5)
    axes.legend(loc="lower left", fontsize="small")
    if title:
        axes.set_title(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return write_atomic(path, buffer.getvalue())


@dataclass(frozen=True, eq=False)
class LabelSets:
    """One label set per image in CSR form, images sorted by id: the labels of image ``i`` are
    ``labels[offsets[i]:offsets[i+1]]`` (descending score). ``is_rated`` marks images whose set
    came from scores; the others carry their given label."""

    image_ids: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    is_rated: np.ndarray

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def counts(self) -> np.ndarray:
        """Labels per image; 0 = no class fits (ReaL leaves such images out of the accuracy)."""
        return np.diff(self.offsets)

    def take(self, positions: np.ndarray) -> LabelSets:
        """The sets at ``positions``, in that order."""
        offsets, labels = take_rows(self.offsets, self.labels, positions)
        return LabelSets(self.image_ids[positions], offsets, labels, self.is_rated[positions])

    def to_lists(self) -> list[list[int]]:
        """The sets as plain lists (the ``real.json`` shape), in image order."""
        if not len(self):
            return []
        return [part.tolist() for part in np.split(self.labels, self.offsets[1:-1])]


def label_sets(
    image_ids: np.ndarray | Sequence[str],
    class_indices: np.ndarray | Sequence[int],
    scores: np.ndarray | Sequence[float],
    threshold: float,
    *,
    unrated: Mapping[str, int] | None = None,
) -> LabelSets:
    """Label sets from per-question scores: a rated image gets ``{class : score > threshold}``
    (possibly empty); an image only in ``unrated`` gets ``[unrated[image]]``.

    ``unrated`` may hold every image's original label: entries of rated images are ignored, so
    ``label_sets(..., unrated=original)`` gives the full ReaL-style labelling.
    """
    ids = np.asarray(image_ids, dtype=str)
    classes = np.asarray(class_indices, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if not (ids.shape == classes.shape == scores.shape) or ids.ndim != 1:
        raise AggregationError(
            f"image_ids {ids.shape}, class_indices {classes.shape} and scores {scores.shape} must be "
            "1-d arrays of the same length",
            fix="give one image id, class index and score per question",
        )
    if np.isnan(scores).any():
        raise AggregationError("scores hold NaN")
    rated, image = np.unique(ids, return_inverse=True)
    by_class = np.lexsort((classes, image))
    twice = np.flatnonzero(
        (image[by_class][1:] == image[by_class][:-1]) & (classes[by_class][1:] == classes[by_class][:-1])
    )
    if len(twice):
        at = by_class[twice[0]]
        raise AggregationError(
            f"question ({ids[at]}, {classes[at]}) appears more than once",
            fix="give each (image, class) question one score",
        )
    order = np.lexsort((classes, -scores, image))  # by image, then descending score, then class
    ids, classes, scores = ids[order], classes[order], scores[order]
    extra_ids, extra_labels = _mapping_arrays(unrated)
    keep = ~np.isin(extra_ids, rated)
    extra_ids, extra_labels = extra_ids[keep], extra_labels[keep]
    names = np.concatenate([rated, extra_ids])
    image_order = np.argsort(names, kind="stable")
    names = names[image_order]
    is_rated = np.concatenate([np.ones(len(rated), bool), np.zeros(len(extra_ids), bool)])[image_order]

    chosen = scores > threshold
    position = np.concatenate([np.searchsorted(names, ids[chosen]), np.searchsorted(names, extra_ids)])
    labels = np.concatenate([classes[chosen], extra_labels])
    grouped = np.argsort(position, kind="stable")  # keeps descending score inside an image
    counts = np.bincount(position, minlength=len(names))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return LabelSets(names, offsets, labels[grouped], is_rated)


def write_real_json(
    sets: LabelSets, path: str | Path, *, image_ids: np.ndarray | Sequence[str] | None = None
) -> Path:
    """Write ``sets`` as a ``real.json``: a JSON list of label lists, list ``i`` for image ``i``.

    ``image_ids`` fixes the order (for ReaL: the 50,000 val file names, ``val_file_name(range(50_000))``)
    and must name exactly the images of ``sets``; by default the sets' own (sorted-id) order,
    which for ``ILSVRC2012_val_*`` names is the val order. Written like the release: one line,
    ``", "`` separators, no trailing newline.
    """
    if image_ids is not None:
        wanted = np.asarray(image_ids, dtype=str)
        if len(wanted) != len(sets) or len(np.unique(wanted)) != len(wanted):
            raise AggregationError(
                f"image_ids name {len(np.unique(wanted))} distinct images for {len(sets)} label sets",
                where=path,
                fix="give every image of the label sets exactly once",
            )
        positions = np.minimum(np.searchsorted(sets.image_ids, wanted), max(len(sets) - 1, 0))
        missing = sets.image_ids[positions] != wanted if len(sets) else np.zeros(0, bool)
        if missing.any():
            raise AggregationError(
                f"{int(missing.sum())} image(s) have no label set, e.g. {wanted[missing][:3].tolist()}",
                where=path,
                fix="build the label sets with every image (pass unrated= for images without questions)",
            )
        sets = sets.take(positions)
    return write_atomic(path, json.dumps(sets.to_lists()))


def clean_subset(sets: LabelSets, original: Mapping[str, int]) -> np.ndarray:
    """The images (sorted ids) whose label set is exactly ``{original label}``: the aggregated
    labels agree with the original one and add nothing (like ReaL's clean file list)."""
    names, labels = _mapping_arrays(original)
    sorter = np.argsort(names)
    at = np.minimum(np.searchsorted(names, sets.image_ids, sorter=sorter), max(len(names) - 1, 0))
    found = (names[sorter[at]] == sets.image_ids) if len(names) else np.zeros(len(sets), bool)
    if not found.all():
        raise AggregationError(
            f"{int((~found).sum())} image(s) have no original label, e.g. {sets.image_ids[~found][:3].tolist()}",
            fix="give the original label of every image of the label sets",
        )
    single = sets.counts == 1
    first = np.append(sets.labels, -1)[sets.offsets[:-1]]  # -1 for empty sets (offset = len(labels))
    return sets.image_ids[single & (first == labels[sorter[at]])]


def write_clean_subset(image_ids: np.ndarray | Sequence[str], path: str | Path) -> Path:
    """Write image ids one per line (a file list like the release's ``fnames_clean.txt``)."""
    return write_atomic(path, "".join(f"{name}\n" for name in np.asarray(image_ids, dtype=str).tolist()))


def _mapping_arrays(mapping: Mapping[str, int] | None) -> tuple[np.ndarray, np.ndarray]:
    if not mapping:
        return np.array([], dtype=str), np.array([], dtype=np.int64)
    names = np.array(list(mapping.keys()), dtype=str)
    labels = np.fromiter((int(v) for v in mapping.values()), dtype=np.int64, count=len(mapping))
    return names, labels
