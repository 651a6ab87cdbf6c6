"""The model contract every evaluator and the dedup helper rely on.

A model is a function from a preprocessed float32 NCHW batch to ``(N, num_classes)`` float32
logits, plus the metadata a result needs as provenance: a name, a fingerprint of its weights or
graph (so cached logits are never reused for a different model) and its preprocessing. Shapes
are checked here once, so a wrong class count fails loudly instead of scoring garbage.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from heldout.errors import ModelError, ModelOutputError
from heldout.preprocessing import Preprocessing

__all__ = ["Model", "check_batch", "check_output", "file_sha256"]


class Model(ABC):
    """A classifier over preprocessed images.

    Subclasses set ``name``, ``fingerprint``, ``num_classes`` and ``preprocessing`` and implement
    ``_logits``; ``logits`` validates what goes in and comes out.
    """

    name: str
    fingerprint: str
    num_classes: int
    preprocessing: Preprocessing

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """``(N, 3, H, W)`` float32 -> ``(N, num_classes)`` float32 logits."""
        batch = check_batch(batch, self)
        return check_output(self._logits(batch), len(batch), self.num_classes, self.name)

    def features(self, batch: np.ndarray) -> np.ndarray:
        """Pooled embeddings ``(N, D)``; only models that expose them implement this."""
        raise ModelError(
            "this model has no feature output",
            where=self.name,
            fix="use a built-in model (efficientnet-lite0/1/2) for embeddings",
        )

    @abstractmethod
    def _logits(self, batch: np.ndarray) -> np.ndarray: ...

    def describe(self) -> dict:
        """Provenance for results: name, fingerprint, class count, preprocessing."""
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "num_classes": self.num_classes,
            "preprocessing": self.preprocessing.to_dict(),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, fingerprint={self.fingerprint[:12]!r})"


def check_batch(batch: np.ndarray, model: Model) -> np.ndarray:
    """A contiguous float32 ``(N, 3, size, size)`` batch, or a ModelError saying what is off."""
    batch = np.ascontiguousarray(batch, dtype=np.float32)
    size = model.preprocessing.size_px
    if batch.ndim != 4 or batch.shape[1:] != (3, size, size):
        raise ModelError(
            f"input batch has shape {batch.shape}, expected (N, 3, {size}, {size})",
            where=model.name,
            fix="preprocess images with the model's own `preprocessing`",
        )
    return batch


def check_output(output: object, rows: int, columns: int, name: str) -> np.ndarray:
    """Model output as ``(rows, columns)`` float32, refusing wrong shapes and NaN/inf."""
    try:
        array = np.asarray(output, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ModelOutputError(
            f"output is not numeric ({type(output).__name__}): {error}",
            where=name,
            fix="return a float array of shape (N, classes)",
        ) from error
    if array.shape != (rows, columns):
        raise ModelOutputError(
            f"output has shape {array.shape}, expected ({rows}, {columns})",
            where=name,
            fix="check the model's class count (num_classes) and that it returns one row per image",
        )
    if not np.isfinite(array).all():
        raise ModelOutputError(
            f"{int((~np.isfinite(array)).sum())} non-finite values in the output",
            where=name,
            fix="check the model's input normalisation and weights",
        )
    return array


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks (weights files are tens of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
