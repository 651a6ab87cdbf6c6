"""Candidates from an IDX image/label pair (the MNIST file format, e.g. Debian's Fashion-MNIST).

Each image is encoded as PNG (lossless, so the bytes and their sha1 are stable), its original
bytes go straight into the store, and its id is the sha1 of those bytes like any file source.
The label file's integers index the project's class set in file order.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from heldout.collect.records import CandidateRecord, content_id
from heldout.errors import SourceError

__all__ = ["IdxSource", "read_idx"]

_BATCH = 500
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (optionally gzipped) as a numpy array of its declared type and shape."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as exc:
        raise SourceError(f"cannot read IDX file: {exc}", where=path) from exc
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_TYPES:
        raise SourceError(
            "not an IDX file (bad magic number)", where=path, fix="pass the *-idx?-ubyte(.gz) files"
        )
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - 4 - 4 * ndim != expected:
        raise SourceError(
            f"IDX payload has {len(raw) - 4 - 4 * ndim} bytes, header says {expected}", where=path
        )
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(shape)


class IdxSource:
    """Images of an IDX file as candidates of the classes its label file names."""

    kind = "idx"

    def __init__(self, images: str | Path, labels: str | Path, *, limit: int | None = None):
        self.images_path, self.labels_path = Path(images).resolve(), Path(labels).resolve()
        self.limit = limit
        self.uri = str(self.images_path)

    def parameters(self) -> dict[str, Any]:
        return {"images": str(self.images_path), "labels": str(self.labels_path), "limit": self.limit}

    def search(self, project: Any, source_id: int, class_keys: list[str]) -> Iterator[list[CandidateRecord]]:
        images, labels = read_idx(self.images_path)[: self.limit], read_idx(self.labels_path)[: self.limit]
        if len(images) != len(labels) or images.ndim != 3:
            raise SourceError(
                f"{len(images)} images of shape {images.shape[1:]} for {len(labels)} labels",
                where=self.images_path,
            )
        if labels.max(initial=0) >= len(project.classes):
            raise SourceError(
                f"label {int(labels.max())} but the project has {len(project.classes)} classes",
                where=self.labels_path,
            )
        keys = project.classes.ids[labels.astype(np.int64)]
        wanted = np.isin(keys, class_keys)
        batch: list[CandidateRecord] = []
        for position in np.flatnonzero(wanted):
            data = _png(images[position])
            sha256 = hashlib.sha256(data).hexdigest()
            project.store.put(project.store.key(sha256), data)
            record = {"file": self.images_path.name, "index": int(position)}
            batch.append(
                CandidateRecord(content_id(data), str(keys[position]), f"sha256:{sha256}", record=record)
            )
            if len(batch) == _BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", optimize=False, compress_level=6)
    return buffer.getvalue()
