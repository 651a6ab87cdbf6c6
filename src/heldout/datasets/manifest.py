"""Test-set manifests in the published ImageNetV2 JSON format, read and written exactly.

A manifest is a JSON object whose ``image_filenames`` key lists ``[image_id, wnid]`` pairs in
test-set order; every other key (sampling function, seed, thresholds, ...) is provenance. We keep
the key order and the trailing-newline convention of the file we read, so ``save(load(f))`` gives
back the same bytes: a manifest's sha256 is how a result names the exact test set it scored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heldout.atomic import write_atomic
from heldout.classes import ClassSet
from heldout.errors import ClassSetError, ManifestError

__all__ = ["Manifest"]

_IMAGES_KEY = "image_filenames"


@dataclass(frozen=True, eq=False)
class Manifest:
    """Image ids and class ids as aligned arrays, plus the metadata that came with them."""

    ids: np.ndarray
    wnids: np.ndarray
    metadata: Mapping[str, Any] = field(default_factory=dict)
    key_order: tuple[str, ...] = (_IMAGES_KEY,)
    trailing_newline: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.wnids):
            raise ManifestError("ids and wnids differ in length", where=self.source or None)
        unique, counts = np.unique(self.ids, return_counts=True)
        if (counts > 1).any():
            repeated = unique[counts > 1].tolist()
            raise ManifestError(
                f"{len(repeated)} image id(s) listed more than once: {repeated[:3]}",
                where=self.source or None,
                fix="every image may appear once in a test set; remove the repeated entries",
            )

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def name(self) -> str:
        output = str(self.metadata.get("output_filename") or Path(self.source).name)
        return output.removesuffix(".xz").removesuffix(".json")

    @property
    def sha256(self) -> str:
        """Hash of the manifest's exact bytes: the identity of the test set."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def labels(self, classes: ClassSet) -> np.ndarray:
        """Class index of every image; unknown wnids raise ``ManifestError``."""
        try:
            return classes.indices(self.wnids, where=self.source or None)
        except ClassSetError as exc:
            raise ManifestError(exc.what, where=self.source or None, fix=exc.fix) from exc

    def to_bytes(self) -> bytes:
        pairs = [[i, w] for i, w in zip(self.ids.tolist(), self.wnids.tolist(), strict=True)]
        document = {k: pairs if k == _IMAGES_KEY else self.metadata[k] for k in self.key_order}
        text = json.dumps(document, indent=2)
        return (text + "\n" if self.trailing_newline else text).encode()

    def save(self, path: str | Path) -> Path:
        """Write the manifest atomically (a reader never sees half a file)."""
        return write_atomic(path, self.to_bytes())

    @classmethod
    def from_bytes(cls, raw: bytes, *, source: str = "") -> Manifest:
        try:
            document = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(f"not valid JSON: {exc}", where=source or None) from exc
        if not isinstance(document, dict) or not isinstance(document.get(_IMAGES_KEY), list):
            raise ManifestError(
                f"a manifest is a JSON object with an {_IMAGES_KEY!r} list",
                where=source or None,
                fix="see the published ImageNetV2 manifests for the format",
            )
        pairs = document[_IMAGES_KEY]
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ManifestError(
                f"every {_IMAGES_KEY!r} entry must be [image_id, class_id]", where=source or None
            )
        ids = np.array([p[0] for p in pairs], dtype=str)
        wnids = np.array([p[1] for p in pairs], dtype=str)
        metadata = {k: v for k, v in document.items() if k != _IMAGES_KEY}
        return cls(
            ids=ids,
            wnids=wnids,
            metadata=metadata,
            key_order=tuple(document),
            trailing_newline=raw.endswith(b"\n"),
            source=source,
        )

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        path = Path(path)
        if not path.is_file():
            raise ManifestError("manifest file not found", where=path, fix="check the path")
        return cls.from_bytes(path.read_bytes(), source=str(path))

    @classmethod
    def create(
        cls, ids: np.ndarray, wnids: np.ndarray, metadata: Mapping[str, Any] | None = None
    ) -> Manifest:
        """A new manifest; ``metadata`` keys are written before the image list, in given order."""
        metadata = dict(metadata or {})
        return cls(
            ids=np.asarray(ids, dtype=str),
            wnids=np.asarray(wnids, dtype=str),
            metadata=metadata,
            key_order=(*metadata, _IMAGES_KEY),
            trailing_newline=True,
        )
