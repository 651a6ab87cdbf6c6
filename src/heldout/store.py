"""Content-addressed image store over a local folder or S3 (fsspec), with a local read cache.

Keys are ``<rendition>/<sha256[:2]>/<sha256>``: the sha256 of the *original* bytes names an
image's every rendition, so identical bytes are stored once and a key is written once. A local
write goes through a temporary file and a rename; an S3 PUT is atomic by itself. Reading from S3
fills a local cache, so the second read of an image costs no request.
"""

from __future__ import annotations

import os
from pathlib import Path

import fsspec

from heldout.atomic import write_atomic
from heldout.errors import ObjectMissingError, StoreError

__all__ = ["RENDITIONS", "ImageStore"]

RENDITIONS = ("original", "500", "256")
"""The original bytes; the longer side scaled to 500 px (what workers see); 256x256 (for dedup)."""


class ImageStore:
    """Bytes by (sha256, rendition), on disk or S3."""

    def __init__(self, url: str, *, cache_dir: str | Path | None = None):
        self.url = url.rstrip("/")
        self.is_remote = "://" in url and not url.startswith("file://")
        options = {}
        if url.startswith("s3://"):
            endpoint = os.environ.get("HELDOUT_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL")
            options = {"client_kwargs": {"endpoint_url": endpoint}} if endpoint else {}
        try:
            self._fs, self._base = fsspec.core.url_to_fs(self.url, **options)
        except (ImportError, ValueError) as exc:
            raise StoreError(
                f"cannot open store: {exc}", where=url, fix="for s3:// install heldout[s3]"
            ) from exc
        self._cache = Path(cache_dir) if cache_dir and self.is_remote else None

    def __repr__(self) -> str:
        return f"ImageStore({self.url!r})"

    @staticmethod
    def key(sha256: str, rendition: str = "original") -> str:
        if rendition not in RENDITIONS:
            raise StoreError(f"unknown rendition {rendition!r}", fix=f"use one of {RENDITIONS}")
        return f"{rendition}/{sha256[:2]}/{sha256}"

    def _path(self, key: str) -> str:
        return f"{self._base}/{key}"

    def exists(self, key: str) -> bool:
        if self._cache is not None and (self._cache / key).is_file():
            return True
        return self._fs.exists(self._path(key))

    def put(self, key: str, data: bytes) -> bool:
        """Store ``data`` under ``key`` unless it is there already; True when written now."""
        if self.exists(key):
            return False
        try:
            if self.is_remote:
                self._fs.pipe_file(self._path(key), data)
            else:
                write_atomic(self._path(key), data)
        except OSError as exc:
            raise StoreError(f"cannot write: {exc}", where=self._path(key)) from exc
        return True

    def get(self, key: str) -> bytes:
        if self._cache is not None and (self._cache / key).is_file():
            return (self._cache / key).read_bytes()
        try:
            data = self._fs.cat_file(self._path(key))
        except FileNotFoundError as exc:
            raise ObjectMissingError(
                "not in the store", where=self._path(key), fix="run `heldout ingest` again"
            ) from exc
        except OSError as exc:
            raise StoreError(f"cannot read: {exc}", where=self._path(key)) from exc
        if self._cache is not None:
            write_atomic(self._cache / key, data)
        return data

    def keys(self, rendition: str = "original") -> list[str]:
        """Every key of one rendition (for checks; lists the whole prefix)."""
        root = self._path(rendition)
        if not self._fs.exists(root):
            return []
        prefix = len(self._base) + 1
        return sorted(p[prefix:] for p in self._fs.find(root))
