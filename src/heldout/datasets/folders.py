"""Image folders of a test set on disk, and how they match the manifest.

Three layouts are understood:

- ``imagenetv2``: ``<class index>/<image id>.jpeg``, as in the released ImageNetV2 tarballs. The
  folder name is parsed as an integer. Sorting folder names as text (what torchvision's
  ImageFolder does) maps ``10`` to class 2 and silently scrambles labels; we never do that.
- ``wnid``: ``<class id>/<file>``, the usual ImageNet train/val layout.
- ``flat``: all files in one folder (ImageNet val as distributed); labels come from the manifest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from heldout.datasets.testset import TestSet
from heldout.errors import DatasetError

__all__ = ["FolderIndex", "FolderMatch", "Layout", "match_folder", "scan_folder"]

Layout = Literal["auto", "imagenetv2", "wnid", "flat"]
IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
_NO_LABEL = -1


@dataclass(frozen=True, eq=False)
class FolderIndex:
    """Every image file under a root: its key (image id), its label from the layout, its path."""

    root: Path
    layout: Layout
    keys: np.ndarray
    labels: np.ndarray
    paths: np.ndarray


@dataclass(frozen=True, eq=False)
class FolderMatch:
    """How a folder compares with a test set's manifest.

    ``paths[i]`` is the file of manifest entry ``i`` ('' when missing); ``mislabelled`` rows are
    (image id, expected class index, class index the folder puts it in).
    """

    dataset: str
    index: FolderIndex
    paths: np.ndarray
    missing: list[str]
    extra: list[str]
    mislabelled: list[tuple[str, int, int]]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.mislabelled)

    def summary(self) -> str:
        found = int((self.paths != "").sum())
        return (
            f"{self.dataset}: {found}/{len(self.paths)} images found in {self.index.root} "
            f"({self.index.layout} layout); {len(self.missing)} missing, {len(self.extra)} extra, "
            f"{len(self.mislabelled)} in the wrong class"
        )


def scan_folder(root: str | Path, testset: TestSet, *, layout: Layout = "auto") -> FolderIndex:
    """List the image files under ``root`` and read labels from the layout."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError("image folder not found", where=root, fix="check the path")
    subdirs = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if layout == "auto":
        layout = _detect_layout(root, subdirs, testset)
    with_extension = _ids_have_extension(testset.ids)
    keys: list[str] = []
    labels: list[int] = []
    paths: list[str] = []
    if layout == "flat":
        for name, path in _image_files(root):
            keys.append(name if with_extension else Path(name).stem)
            labels.append(_NO_LABEL)
            paths.append(path)
    else:
        folder_labels = _folder_labels(root, subdirs, layout, testset)
        for folder, label in zip(subdirs, folder_labels, strict=True):
            for name, path in _image_files(root / folder):
                keys.append(name if with_extension else Path(name).stem)
                labels.append(label)
                paths.append(path)
    return FolderIndex(
        root,
        layout,
        np.array(keys, dtype=str),
        np.array(labels, dtype=np.int64),
        np.array(paths, dtype=str),
    )


def match_folder(root: str | Path, testset: TestSet, *, layout: Layout = "auto") -> FolderMatch:
    """Compare a folder with ``testset``: missing, extra and mislabelled files, and each entry's path."""
    index = scan_folder(root, testset, layout=layout)
    ids = testset.ids
    sorter = np.argsort(ids)
    pos = np.minimum(np.searchsorted(ids, index.keys, sorter=sorter), max(len(ids) - 1, 0))
    rows = sorter[pos]
    known = ids[rows] == index.keys
    paths = np.full(len(ids), "", dtype=index.paths.dtype if len(index.paths) else "<U1")
    paths[rows[known]] = index.paths[known]
    labelled = known & (index.labels != _NO_LABEL)
    wrong = labelled & (index.labels != testset.labels[rows])
    mislabelled = [
        (str(ids[r]), int(testset.labels[r]), int(found))
        for r, found in zip(rows[wrong], index.labels[wrong], strict=True)
    ]
    return FolderMatch(
        dataset=testset.name,
        index=index,
        paths=paths,
        missing=ids[paths == ""].tolist(),
        extra=index.paths[~known].tolist(),
        mislabelled=mislabelled,
    )


def _image_files(folder: Path) -> list[tuple[str, str]]:
    entries = [
        (e.name, e.path)
        for e in os.scandir(folder)
        if e.is_file() and not e.name.startswith(".") and Path(e.name).suffix.lower() in IMAGE_SUFFIXES
    ]
    return sorted(entries)


def _ids_have_extension(ids: np.ndarray) -> bool:
    return len(ids) > 0 and Path(str(ids[0])).suffix.lower() in IMAGE_SUFFIXES


def _detect_layout(root: Path, subdirs: list[str], testset: TestSet) -> Layout:
    if not subdirs:
        return "flat"
    if all(name.isdigit() for name in subdirs):
        return "imagenetv2"
    if testset.classes.has_ids(subdirs).all():
        return "wnid"
    numeric = sum(name.isdigit() for name in subdirs)
    if numeric > len(subdirs) / 2:
        return "imagenetv2"  # mostly numbers: report the odd folders as errors below
    return "wnid"


def _folder_labels(root: Path, subdirs: list[str], layout: Layout, testset: TestSet) -> list[int]:
    if layout == "wnid":
        return testset.classes.indices(subdirs, where=root).tolist()
    bad = [name for name in subdirs if not name.isdigit()]
    out_of_range = [name for name in subdirs if name.isdigit() and int(name) >= len(testset.classes)]
    if bad or out_of_range:
        raise DatasetError(
            f"class folders must be integers 0..{len(testset.classes) - 1}; "
            f"found {', '.join(repr(n) for n in (bad + out_of_range)[:5])}",
            where=root,
            fix="use the released layout (<class index>/<image id>.jpeg) or layout='wnid'",
        )
    return [int(name) for name in subdirs]
