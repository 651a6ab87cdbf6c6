"""A map-style dataset over a test set's image folder, for PyTorch loops (torch optional).

It returns numpy arrays and ints, which ``torch.utils.data.DataLoader``'s default collate turns
into tensors; so heldout needs no torch (and never torchvision) to offer it. With
``real="multi_hot"`` it also returns the image's ReaL label set, so ReaL scoring in a torch loop is
one flag.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from heldout.datasets.folders import Layout, match_folder
from heldout.datasets.testset import TestSet
from heldout.errors import DatasetError, ImageError, ManifestMismatchError
from heldout.preprocessing import Preprocessing

__all__ = ["ImageDataset"]

RealFormat = Literal["multi_hot", "list"]


class ImageDataset:
    """``dataset[i]`` is ``(image, label)`` or, with ``real``, ``(image, label, real_labels)``.

    ``image`` is ``transform(PIL image)`` when a transform is given, else ``preprocessing(image)``
    (a float32 CHW array), else the PIL image itself.
    """

    def __init__(
        self,
        testset: TestSet,
        root: str | Path,
        *,
        transform: Callable[[Image.Image], Any] | None = None,
        preprocessing: Preprocessing | None = None,
        real: RealFormat | None = None,
        layout: Layout = "auto",
    ):
        if real is not None and testset.real is None:
            raise DatasetError(
                "this test set has no ReaL labels",
                where=testset.name,
                fix="use imagenet-val, or real=None",
            )
        match = match_folder(root, testset, layout=layout)
        if match.missing or match.mislabelled:
            raise ManifestMismatchError(
                match.summary(), where=root, fix="fetch the set again (`heldout fetch-set`)"
            )
        self.testset = testset
        self.paths = match.paths
        self.labels = testset.labels
        self.transform = transform
        self.preprocessing = preprocessing
        self.real = real
        self._real_labels = testset.real

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, position: int) -> tuple:
        path = self.paths[position]
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
        except (OSError, ValueError) as exc:
            raise ImageError(f"cannot decode image: {exc}", where=path) from exc
        if self.transform is not None:
            image = self.transform(image)
        elif self.preprocessing is not None:
            image = self.preprocessing(image)
        label = int(self.labels[position])
        if self.real is None:
            return image, label
        labels = self._real_labels.labels_of(position)
        if self.real == "list":
            return image, label, labels
        hot = np.zeros(len(self.testset.classes), dtype=bool)
        hot[labels] = True
        return image, label, hot
