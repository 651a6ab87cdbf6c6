"""Verify a copy of a test set: every changed, missing, extra or renamed file, and wrong class folders.

A heldout release carries ``SHA256SUMS``: every listed file is hashed and compared, files that
are not listed are extra, and a missing file whose bytes turn up under another path is reported
as *renamed* (or as in the *wrong class folder* when only its class folder differs). URL-only
images (withheld for their license) may be absent, or present once the user fetched them.

The published ImageNetV2 folders carry no checksums: they are checked by names and folders
against the packaged manifest (:func:`heldout.datasets.match_folder`), the set being named or
recognised by its image ids.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from heldout.datasets import _layout as files
from heldout.datasets._registry import list_datasets, load_dataset
from heldout.datasets.folders import IMAGE_SUFFIXES, match_folder
from heldout.datasets.testset import TestSet
from heldout.errors import DatasetError

__all__ = ["VerifyReport", "verify"]

Progress = Callable[[int, int | None], None]
_SEARCH_ORDER = ("imagenetv2-*", "imagenet-*")


@dataclass(frozen=True)
class VerifyReport:
    """Differences between a folder and what it should hold; ``ok`` when there are none.

    ``renamed`` rows are (expected path, found path); ``wrong_class`` rows are (image file name,
    expected class folder, class folder it was found in).
    """

    root: Path
    mode: str
    """``checksums`` (a heldout release) or ``manifest`` (names and folders only)."""
    dataset: str
    files: int
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    wrong_class: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra or self.renamed or self.wrong_class)

    def summary(self) -> str:
        return (
            f"{self.dataset}: {self.files} files checked in {self.root} ({self.mode}); "
            f"{len(self.changed)} changed, {len(self.missing)} missing, {len(self.extra)} extra, "
            f"{len(self.renamed)} renamed, {len(self.wrong_class)} in the wrong class folder"
        )


def verify(root: str | Path, *, dataset: str | None = None, progress: Progress | None = None) -> VerifyReport:
    """Check the folder ``root``: against its ``SHA256SUMS`` when it has one, else against the
    manifest of ``dataset`` (or of the registered set its file names belong to)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            "not a folder", where=root, fix="pass the folder of a release or an unpacked test set"
        )
    if (root / files.CHECKSUMS).is_file():
        return _verify_checksums(root, progress)
    return _verify_names(root, dataset)


def _verify_checksums(root: Path, progress: Progress | None) -> VerifyReport:
    expected = _read_checksums(root / files.CHECKSUMS)
    optional = _url_only_paths(root)
    found = _files(root) - {files.CHECKSUMS}
    actual: dict[str, str] = {}
    for done, path in enumerate(sorted(found), start=1):
        with (root / path).open("rb") as handle:
            actual[path] = hashlib.file_digest(handle, "sha256").hexdigest()
        if progress:
            progress(done, len(found))
    changed = sorted(p for p in expected if p in actual and actual[p] != expected[p])
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected) - optional)
    moved = _pair_by_content(missing, extra, expected, actual)
    renamed, wrong_class = [], []
    for old, new in moved:
        old_path, new_path = PurePosixPath(old), PurePosixPath(new)
        if old_path.name == new_path.name and old_path.parent.parent == new_path.parent.parent:
            wrong_class.append((old_path.name, old_path.parent.name, new_path.parent.name))
        else:
            renamed.append((old, new))
    paired_old, paired_new = {o for o, _ in moved}, {n for _, n in moved}
    return VerifyReport(
        root=root,
        mode="checksums",
        dataset=_release_name(root),
        files=len(actual),
        changed=changed,
        missing=[p for p in missing if p not in paired_old],
        extra=[p for p in extra if p not in paired_new],
        renamed=renamed,
        wrong_class=wrong_class,
    )


def _pair_by_content(
    missing: list[str], extra: list[str], expected: dict[str, str], actual: dict[str, str]
) -> list[tuple[str, str]]:
    """(missing path, extra path) pairs holding the same bytes; each path pairs at most once."""
    by_hash: dict[str, list[str]] = {}
    for path in extra:
        by_hash.setdefault(actual[path], []).append(path)
    pairs = []
    for path in missing:
        candidates = by_hash.get(expected[path])
        if candidates:
            pairs.append((path, candidates.pop(0)))
    return pairs


def _read_checksums(path: Path) -> dict[str, str]:
    expected: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        digest, separator, name = line.partition("  ")
        if not separator or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest) or not name:
            raise DatasetError(
                f"line {number} is not '<sha256>  <path>'",
                where=path,
                fix="restore SHA256SUMS from the release (it is also inside the tar.gz)",
            )
        expected[name] = digest
    return expected


def _url_only_paths(root: Path) -> set[str]:
    """Paths of the images a release withheld: absent is fine, and so is present (fetched by the user)."""
    path = root / files.MANIFEST
    if not path.is_file():
        return set()
    try:
        document = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"manifest is not valid JSON: {exc}", where=path) from exc
    return {
        r["file"]
        for r in document.get("images", ())
        if isinstance(r, dict) and not r.get("redistributed", True)
    }


def _release_name(root: Path) -> str:
    try:
        return load_dataset(root).name
    except DatasetError:
        return root.name


def _files(root: Path) -> set[str]:
    found = set()
    for folder, _, names in os.walk(root):
        for name in names:
            found.add((Path(folder) / name).relative_to(root).as_posix())
    return found


def _verify_names(root: Path, dataset: str | None) -> VerifyReport:
    testset = load_dataset(dataset) if dataset else _recognise(root)
    match = match_folder(root, testset)
    return VerifyReport(
        root=root,
        mode="manifest",
        dataset=testset.name,
        files=len(match.index.paths),
        missing=list(match.missing),
        extra=[Path(p).relative_to(root).as_posix() for p in match.extra],
        wrong_class=[
            (image_id, str(expected), str(found)) for image_id, expected, found in match.mislabelled
        ],
    )


def _recognise(root: Path) -> TestSet:
    """The registered set that holds the most of the folder's file names."""
    stems = np.array(
        [
            Path(name).stem
            for _, _, names in os.walk(root)
            for name in names
            if Path(name).suffix.lower() in IMAGE_SUFFIXES
        ],
        dtype=str,
    )
    best, best_hits = None, 0
    for pattern in _SEARCH_ORDER:  # the small ImageNetV2 sets first; ImageNet val only if they miss
        for name in list_datasets(pattern):
            testset = load_dataset(name)
            ids = np.char.rpartition(testset.ids.astype(str), ".")[:, 0]
            ids = np.where(ids == "", testset.ids, ids)
            hits = int(np.isin(stems, ids).sum())
            if hits > best_hits:
                best, best_hits = testset, hits
        if best is not None:
            return best
    raise DatasetError(
        "no checksums here, and the file names belong to no registered test set",
        where=root,
        fix="pass --dataset NAME (a registered set or a manifest file)",
    )
