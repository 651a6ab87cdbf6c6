"""Fetch a released test-set tarball, unpack it, and check it against the manifest.

A download lands in ``<dest>/.<name>.tar.part`` and is renamed only when complete, so a rerun
after an interruption starts clean and a finished download is never fetched twice. Unpacking uses
tarfile's ``data`` filter: no absolute paths, no ``..``, no links out of the destination.
"""

from __future__ import annotations

import shutil
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from heldout.datasets._registry import load_dataset
from heldout.datasets.folders import FolderMatch, Layout, match_folder
from heldout.datasets.testset import TestSet
from heldout.errors import ConfigError, DatasetError

__all__ = ["fetch_set"]

Progress = Callable[[int, int | None], None]
_CHUNK = 1 << 20


def fetch_set(
    name: str,
    dest: str | Path,
    *,
    url: str | None = None,
    file: str | Path | None = None,
    layout: Layout = "auto",
    progress: Progress | None = None,
) -> FolderMatch:
    """Download (``url``) or take (``file``) a tarball of test set ``name``, unpack it into
    ``dest/<name>`` and match the images against the manifest."""
    if (url is None) == (file is None):
        raise ConfigError("give exactly one of url or file", fix="--url URL or --file TARBALL")
    testset = load_dataset(name)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tarball = Path(file) if file is not None else _download(str(url), dest / f"{testset.name}.tar", progress)
    target = dest / testset.name
    if not target.is_dir():
        try:
            _unpack(tarball, target)
        except DatasetError:
            if file is None:  # a corrupt download must not be reused by the rerun
                tarball.unlink(missing_ok=True)
            raise
    return match_folder(_images_root(target, testset), testset, layout=layout)


def _download(url: str, path: Path, progress: Progress | None) -> Path:
    if path.is_file():
        return path
    partial = path.with_name(f".{path.name}.part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            done = 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise DatasetError(f"download failed: {exc}", where=url, fix="check the URL and network") from exc
    partial.replace(path)
    return path


def _unpack(tarball: Path, target: Path) -> None:
    if not tarball.is_file():
        raise DatasetError("tarball not found", where=tarball, fix="check the path")
    staging = target.with_name(f".{target.name}.unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tarfile.open(tarball, "r:*") as archive:
            archive.extractall(staging, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DatasetError(f"cannot unpack: {exc}", where=tarball, fix="download the tarball again") from exc
    staging.replace(target)


def _images_root(folder: Path, testset: TestSet) -> Path:
    """Descend through wrapper folders (``imagenetv2-matched-frequency-format-val/``) to the classes."""
    while True:
        entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
        is_wrapper = (
            len(entries) == 1
            and entries[0].is_dir()
            and not entries[0].name.isdigit()
            and entries[0].name not in testset.classes
        )
        if not is_wrapper:
            return folder
        folder = entries[0]
