"""ReaL ("Reassessed Labels") multi-label sets for the ImageNet validation images.

``real.json`` holds 50,000 lists; list ``i`` belongs to ``ILSVRC2012_val_{i+1:08d}.JPEG``. A list
is a *set* of acceptable classes; an empty list means raters found no class that fits, and the
image is left out of both numerator and denominator. We keep the lists as one flat array with
offsets (CSR), so scoring any number of models is a handful of array operations.
"""

from __future__ import annotations

import hashlib
import json
import lzma
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

import numpy as np

from heldout.errors import LabelsError
from heldout.ragged import take_rows

__all__ = ["RealLabels", "val_file_name"]

NUM_VAL_IMAGES = 50_000


def val_file_name(index: np.ndarray | int) -> np.ndarray:
    """File names of ImageNet val images from their 0-based position in the sorted val list."""
    return np.char.add(
        np.char.add("ILSVRC2012_val_", np.char.zfill(np.char.mod("%d", np.asarray(index) + 1), 8)),
        ".JPEG",
    )


@dataclass(frozen=True, eq=False)
class RealLabels:
    """Label sets of images, in CSR form: labels of image ``i`` are ``labels[offsets[i]:offsets[i+1]]``."""

    file_names: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    sha256: str = ""

    def __len__(self) -> int:
        return len(self.file_names)

    @property
    def counts(self) -> np.ndarray:
        """Number of labels per image; 0 means the image is excluded."""
        return np.diff(self.offsets)

    def labels_of(self, position: int) -> list[int]:
        return self.labels[self.offsets[position] : self.offsets[position + 1]].tolist()

    @cached_property
    def _first(self) -> np.ndarray:
        """Every image's first label; -2 for images with none (never a prediction, not even -1 padding)."""
        out = np.full(len(self), -2, dtype=np.int64)
        has = self.counts > 0
        out[has] = self.labels[self.offsets[:-1][has]]
        return out

    @cached_property
    def _multi(self) -> tuple[np.ndarray, np.ndarray]:
        """The images with two or more labels, and a boolean (those images, classes) lookup table."""
        rows = np.flatnonzero(self.counts > 1)
        table = np.zeros((len(rows), int(self.labels.max(initial=0)) + 1), dtype=bool)
        local = np.repeat(np.arange(len(rows)), self.counts[rows])
        starts = np.repeat(self.offsets[rows], self.counts[rows])
        within = np.arange(len(local)) - np.repeat(
            np.cumsum(self.counts[rows]) - self.counts[rows], self.counts[rows]
        )
        table[local, self.labels[starts + within]] = True
        return rows, table

    def take(self, positions: np.ndarray) -> RealLabels:
        """The label sets at ``positions``, in that order."""
        positions = np.asarray(positions, dtype=np.int64)
        offsets, labels = take_rows(self.offsets, self.labels, positions)
        return RealLabels(self.file_names[positions], offsets, labels, self.sha256)

    def align(self, image_ids: np.ndarray, *, where: str | None = None) -> RealLabels:
        """The label sets of ``image_ids``, in that order (matched by file name, any order, any subset)."""
        image_ids = np.asarray(image_ids, dtype=str)
        sorter = np.argsort(self.file_names)
        pos = np.minimum(np.searchsorted(self.file_names, image_ids, sorter=sorter), len(self) - 1)
        rows = sorter[pos]
        found = self.file_names[rows] == image_ids
        if not found.all():
            missing = image_ids[~found]
            raise LabelsError(
                f"{len(missing)} image(s) have no ReaL entry, e.g. {missing[:3].tolist()}",
                where=where,
                fix="ReaL labels exist only for the 50,000 ImageNet val images (ILSVRC2012_val_*.JPEG)",
            )
        return self.take(rows)

    def contains(self, predictions: np.ndarray) -> np.ndarray:
        """``out[i, j]`` is True when ``predictions[i, j]`` is in the label set of image ``i``.

        One comparison against every image's first label, then a table lookup for the few
        images with more labels (7,443 of 50,000 in ReaL); no loop over images. Images with an
        empty set never match, so counting hits needs no extra mask.
        """
        predictions = np.asarray(predictions)
        out = predictions == self._first.astype(predictions.dtype)[:, None]
        rows, table = self._multi
        if len(rows):
            picked = predictions[rows]
            width = table.shape[1]
            inside = (picked >= 0) & (picked < width)
            flat = (np.arange(len(rows)) * width)[:, None] + np.clip(picked, 0, width - 1)
            out[rows] |= table.ravel()[flat] & inside
        return out

    def multi_hot(self, num_classes: int) -> np.ndarray:
        """A boolean (N, num_classes) matrix, for a torch loop or a quick look."""
        out = np.zeros((len(self), num_classes), dtype=bool)
        out[np.repeat(np.arange(len(self)), self.counts), self.labels] = True
        return out

    @classmethod
    def from_lists(cls, lists: list, *, source: str = "", sha256: str = "") -> RealLabels:
        if not isinstance(lists, list) or len(lists) != NUM_VAL_IMAGES:
            found = len(lists) if isinstance(lists, list) else type(lists).__name__
            raise LabelsError(
                f"a ReaL file holds {NUM_VAL_IMAGES:,} lists (one per val image), found {found}",
                where=source or None,
                fix="use the real.json of google-research/reassessed-imagenet",
            )
        if not all(isinstance(x, list) and all(isinstance(v, int) for v in x) for x in lists):
            raise LabelsError("every entry must be a list of class indices", where=source or None)
        counts = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
        flat = np.fromiter((v for x in lists for v in x), dtype=np.int64, count=int(counts.sum()))
        if flat.size and (flat.min() < 0 or flat.max() >= 1000):
            raise LabelsError(
                f"class indices must be in 0..999, found {int(flat.min())}..{int(flat.max())}",
                where=source or None,
            )
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(val_file_name(np.arange(len(lists))), offsets, flat, sha256)

    @classmethod
    def from_bytes(cls, raw: bytes, *, source: str = "") -> RealLabels:
        try:
            lists = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LabelsError(f"not valid JSON: {exc}", where=source or None) from exc
        return cls.from_lists(lists, source=source, sha256=hashlib.sha256(raw).hexdigest())

    @classmethod
    def load(cls, path: str | Path | None = None) -> RealLabels:
        """A ``real.json`` file, or the copy shipped with heldout when ``path`` is None."""
        if path is None:
            packaged = resources.files("heldout").joinpath("data/real.json.xz").read_bytes()
            return cls.from_bytes(lzma.decompress(packaged), source="real.json (packaged)")
        path = Path(path)
        if not path.is_file():
            raise LabelsError("ReaL file not found", where=path, fix="check the path")
        return cls.from_bytes(path.read_bytes(), source=str(path))
