"""Exports of a release: one tar.gz, WebDataset shards, a Hugging Face ``datasets`` copy.

The tarball and the shards are byte-reproducible: members sorted by name, mtime 0, uid/gid 0,
empty user and group names, fixed modes, GNU format (long names without PAX timestamps), and a
gzip header with mtime 0 and no file name. Two releases of the same revision give the same bytes,
so a checksum names the release. The Hugging Face copy (Arrow files with fingerprints) is not
reproducible and is checked by SHA256SUMS only.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["Sample", "write_hf", "write_tarball", "write_webdataset"]

_FILE_MODE = 0o644


@dataclass(frozen=True)
class Sample:
    """One released image: its key (the image id), file, class index and per-sample metadata."""

    key: str
    path: Path
    label: int
    metadata: dict[str, Any] = field(default_factory=dict)


def write_tarball(
    path: Path,
    root: Path,
    members: Sequence[str],
    *,
    prefix: str,
    extra: dict[str, bytes] | None = None,
    compresslevel: int = 6,
) -> Path:
    """``<prefix>/<member>`` for each file under ``root`` plus ``extra`` (name -> bytes), sorted, gzipped."""
    contents: dict[str, Path | bytes] = {m: root / m for m in members}
    contents.update(extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=compresslevel) as zipped,
    ):
        _write_tar(zipped, {f"{prefix}/{name}": data for name, data in contents.items()})
    return path


def write_webdataset(
    folder: Path, name: str, samples: Sequence[Sample], *, shard_size: int = 1000
) -> list[Path]:
    """Shards ``<name>-000000.tar`` ... of ``<key>.jpg``, ``<key>.cls`` and ``<key>.json``, samples
    sorted by key; read them with ``webdataset.WebDataset(...).decode("pil")``."""
    folder.mkdir(parents=True, exist_ok=True)
    ordered = sorted(samples, key=lambda s: s.key)
    shards = []
    for number, start in enumerate(range(0, len(ordered), shard_size)):
        members: dict[str, Path | bytes] = {}
        for sample in ordered[start : start + shard_size]:
            if "." in sample.key:
                raise ValueError(f"a WebDataset key cannot contain a dot: {sample.key!r}")
            members[f"{sample.key}.cls"] = f"{sample.label}\n".encode()
            members[f"{sample.key}.jpg"] = sample.path
            members[f"{sample.key}.json"] = json.dumps(sample.metadata, sort_keys=True).encode()
        shard = folder / f"{name}-{number:06d}.tar"
        with shard.open("wb") as out:
            _write_tar(out, members)
        shards.append(shard)
    return shards


def write_hf(folder: Path, samples: Sequence[Sample], *, class_names: Sequence[str]) -> list[Path]:
    """A ``datasets.Dataset`` with ``image`` (Image), ``label`` (ClassLabel) and ``image_id``,
    saved with ``save_to_disk``; load it with ``datasets.load_from_disk(folder)``."""
    import datasets  # the release extra; imported here so the rest of heldout works without it

    ordered = sorted(samples, key=lambda s: s.key)
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "label": datasets.ClassLabel(names=list(class_names)),
            "image_id": datasets.Value("string"),
        }
    )
    table = datasets.Dataset.from_dict(
        {
            "image": [{"bytes": s.path.read_bytes(), "path": f"{s.key}.jpeg"} for s in ordered],
            "label": [s.label for s in ordered],
            "image_id": [s.key for s in ordered],
        },
        features=features,
    )
    quiet = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # heldout draws its own progress; restore the caller's setting after
    try:
        table.save_to_disk(str(folder))
    finally:
        if not quiet:
            datasets.enable_progress_bars()
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _write_tar(out: BinaryIO, members: dict[str, Path | bytes]) -> None:
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name in sorted(members):
            data = members[name]
            raw = data if isinstance(data, bytes) else data.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(raw), 0, _FILE_MODE
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(raw))
