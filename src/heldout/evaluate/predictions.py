"""Prediction files: ranked class indices or scores per image, read and checked.

Accepted formats:

- ``.npy`` with integers: ranked class indices ``(N, k)``, best first (the published format), or
  top-1 only ``(N,)``; with floats: logits or probabilities ``(N, C)``.
- ``.npz``: one array as above (``ranked``/``topk``/``predictions`` or ``logits``/``probs``/
  ``scores``), optionally ``ids`` with the image id of every row.
- ``.csv``: ``image_id, pred_1, ..., pred_k``.

Rows line up with a test set by order, or by image id when the file carries ids. The published
layout ``<dataset>/<model>.npy`` names two Fisher-vector models inconsistently across sets
(``fv_16k`` vs ``fv_16k_model``); :func:`model_name` makes them one model.
"""

from __future__ import annotations

import csv
import fnmatch
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heldout.errors import EvaluationError, PredictionsMismatchError

__all__ = [
    "PREDICTION_SUFFIXES",
    "Predictions",
    "find_prediction_files",
    "known_issue",
    "load_predictions",
    "model_name",
    "read_published_layout",
]

PREDICTION_SUFFIXES = (".npy", ".npz", ".csv")
_RANKED_KEYS = ("ranked", "topk", "predictions")
_SCORE_KEYS = ("logits", "probs", "probabilities", "scores")
_TOP_K_FROM_SCORES = 5

# (model, dataset pattern) -> what is wrong with the published file; flagged in every result.
_KNOWN_ISSUES = {
    ("fv_16k", "imagenetv2-*"): "broken in the ImageNetV2 release (~3 % top-1); not a real score",
    (
        "fv_16k",
        "imagenet-annotatedval20k-*",
    ): "broken in the ImageNetV2 release (~3 % top-1); not a real score",
}


@dataclass(frozen=True, eq=False)
class Predictions:
    """One model's predictions on one test set.

    ``ranked`` holds class indices best first, shape ``(N, k)``; ``scores`` the full ``(N, C)``
    logits or probabilities when the file had them (needed to restrict to a class subset exactly).
    """

    ranked: np.ndarray
    model: str
    source: str = ""
    sha256: str = ""
    scores: np.ndarray | None = None
    ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ranked)

    @classmethod
    def from_array(
        cls,
        array: np.ndarray,
        *,
        model: str,
        ids: np.ndarray | None = None,
        source: str = "",
        sha256: str = "",
    ) -> Predictions:
        """Ranked indices (integer array) or scores (float array) → checked ``Predictions``."""
        array = np.asarray(array)
        where = source or model
        if array.size == 0:
            raise EvaluationError("the prediction array is empty", where=where)
        if np.issubdtype(array.dtype, np.integer):
            ranked = array.reshape(-1, 1) if array.ndim == 1 else array
            if ranked.ndim != 2:
                raise EvaluationError(
                    f"ranked predictions must be (N, k), got shape {array.shape}", where=where
                )
            if ranked.min() < 0:
                raise PredictionsMismatchError(
                    f"negative class index {int(ranked.min())}",
                    where=where,
                    fix="class indices start at 0",
                )
            scores = None
        elif np.issubdtype(array.dtype, np.floating):
            if array.ndim != 2 or array.shape[1] < 2:
                raise EvaluationError(
                    f"scores must be (N, C) with C >= 2 classes, got shape {array.shape}",
                    where=where,
                )
            bad = ~np.isfinite(array)
            if bad.any():
                row = int(np.argwhere(bad)[0][0])
                raise EvaluationError(
                    f"{int(bad.sum())} NaN or infinite score(s), first in row {row}",
                    where=where,
                    fix="check the model's outputs for overflow before saving them",
                )
            scores = array
            ranked = rank_scores(array, min(_TOP_K_FROM_SCORES, array.shape[1]))
        else:
            raise EvaluationError(f"unsupported dtype {array.dtype}", where=where, fix="save ints or floats")
        if ids is not None and len(ids) != len(ranked):
            raise EvaluationError(f"{len(ids)} ids for {len(ranked)} rows", where=where)
        return cls(_compact(ranked), model, source, sha256, scores, ids)


def _compact(ranked: np.ndarray) -> np.ndarray:
    """Ranked indices as the smallest signed integers that hold them, stored column by column.

    Scoring compares one rank column at a time against all labels; with int16 columns that are
    contiguous in memory, the comparison is about ten times faster than on row-major int64.
    """
    dtype = np.int16 if int(ranked.max()) < np.iinfo(np.int16).max else np.int64
    return np.asfortranarray(ranked, dtype=dtype)


def rank_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores per row, best first (ties: lower index first)."""
    top = (
        np.argpartition(-scores, k - 1, axis=1)[:, :k]
        if k < scores.shape[1]
        else np.tile(np.arange(scores.shape[1]), (len(scores), 1))
    )
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -top_scores), axis=1)
    return np.take_along_axis(top, order, axis=1)


def model_name(path: str | Path) -> str:
    """Model name from a prediction file name (``fv_16k_model.npy`` → ``fv_16k``)."""
    return Path(path).stem.removesuffix("_model")


def known_issue(model: str, dataset: str) -> str | None:
    """What is known to be wrong with a published prediction file, if anything."""
    for (name, pattern), issue in _KNOWN_ISSUES.items():
        if name == model and fnmatch.fnmatchcase(dataset, pattern):
            return issue
    return None


def load_predictions(path: str | Path, *, model: str | None = None) -> Predictions:
    """Read one prediction file (``.npy``, ``.npz`` or ``.csv``)."""
    path = Path(path)
    if not path.is_file():
        raise EvaluationError("prediction file not found", where=path, fix="check the path")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    name = model or model_name(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        ids, array = _read_csv(raw, path)
    elif suffix in (".npy", ".npz"):
        ids, array = _read_numpy(raw, path)
    else:
        raise EvaluationError(
            f"unsupported prediction format {suffix!r}",
            where=path,
            fix=f"use one of {PREDICTION_SUFFIXES}",
        )
    return Predictions.from_array(array, model=name, ids=ids, source=str(path), sha256=digest)


def find_prediction_files(path: str | Path) -> list[Path]:
    """A prediction file itself, or every prediction file in a folder (sorted by name)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise EvaluationError("no such prediction file or folder", where=path, fix="check the path")
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in PREDICTION_SUFFIXES)
    if not files:
        raise EvaluationError(
            "no prediction files in this folder",
            where=path,
            fix=f"expected files ending in {PREDICTION_SUFFIXES}",
        )
    return files


def read_published_layout(root: str | Path) -> dict[str, list[Path]]:
    """``<root>/<dataset>/<model>.npy`` → {dataset folder name: its prediction files}."""
    root = Path(root)
    if not root.is_dir():
        raise EvaluationError("predictions folder not found", where=root, fix="check the path")
    layout = {
        folder.name: find_prediction_files(folder)
        for folder in sorted(root.iterdir())
        if folder.is_dir() and not folder.name.startswith(".")
    }
    if not layout:
        raise EvaluationError(
            "no dataset folders found",
            where=root,
            fix="expected the published layout <dataset>/<model>.npy, or pass --dataset with files",
        )
    return layout


def _read_numpy(raw: bytes, path: Path) -> tuple[np.ndarray | None, np.ndarray]:
    try:
        loaded = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise EvaluationError(f"not a readable numpy file: {exc}", where=path) from exc
    if isinstance(loaded, np.ndarray):
        return None, loaded
    with loaded:
        keys = [k for k in loaded.files if k != "ids"]
        named = [k for k in (*_RANKED_KEYS, *_SCORE_KEYS) if k in keys]
        if not named and len(keys) != 1:
            raise EvaluationError(
                f"cannot tell which array holds predictions among {keys}",
                where=path,
                fix=f"name it one of {_RANKED_KEYS + _SCORE_KEYS}",
            )
        ids = loaded["ids"].astype(str) if "ids" in loaded.files else None
        return ids, loaded[(named or keys)[0]]


def _read_csv(raw: bytes, path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise EvaluationError(f"not a readable CSV file: {exc}", where=path) from exc
    if len(rows) < 2 or not rows[0] or rows[0][0] != "image_id":
        raise EvaluationError(
            "a prediction CSV needs a header 'image_id,pred_1,...,pred_k' and at least one row",
            where=path,
        )
    width = len(rows[0])
    short = [n for n, row in enumerate(rows[1:], start=2) if len(row) != width]
    if short:
        raise EvaluationError(f"line {short[0]} has a different number of columns", where=path)
    table = np.array(rows[1:], dtype=str)
    try:
        ranked = table[:, 1:].astype(np.int64)
    except ValueError as exc:
        raise EvaluationError(f"predictions must be integer class indices: {exc}", where=path) from exc
    return table[:, 0], ranked
