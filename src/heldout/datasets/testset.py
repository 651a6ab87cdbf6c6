"""A test set: a manifest, the class set its labels index into, and optional ReaL label sets."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from heldout.classes import ClassSet
from heldout.datasets.manifest import Manifest
from heldout.datasets.real import RealLabels

__all__ = ["TestSet"]


@dataclass(frozen=True, eq=False)
class TestSet:
    """Images (ids), their labels (class indices) and, for ImageNet val images, ReaL label sets.

    ``real`` is aligned to the manifest order: ``real.labels_of(i)`` belongs to ``ids[i]``.
    """

    name: str
    manifest: Manifest
    classes: ClassSet
    real: RealLabels | None = None
    aliases: tuple[str, ...] = ()
    description: str = ""

    __test__ = False  # not a pytest class, despite the name

    def __len__(self) -> int:
        return len(self.manifest)

    def __repr__(self) -> str:
        return f"TestSet({self.name!r}, {len(self)} images, {len(self.classes)} classes)"

    @property
    def ids(self) -> np.ndarray:
        return self.manifest.ids

    @cached_property
    def labels(self) -> np.ndarray:
        return self.manifest.labels(self.classes)

    @cached_property
    def sha256(self) -> str:
        return self.manifest.sha256
