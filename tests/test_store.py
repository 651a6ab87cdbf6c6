"""The content-addressed store, on local disk and on S3 (moto server)."""

from __future__ import annotations

import hashlib

import pytest

from heldout.errors import ObjectMissingError, StoreError
from heldout.store import ImageStore


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return ImageStore(str(tmp_path / "images"))
    return ImageStore(request.getfixturevalue("s3_url"), cache_dir=tmp_path / "cache")


def _key(data: bytes, rendition: str = "original") -> str:
    return ImageStore.key(hashlib.sha256(data).hexdigest(), rendition)


def test_put_then_get_returns_the_bytes(store):
    assert store.put(_key(b"abc"), b"abc") is True
    assert store.get(_key(b"abc")) == b"abc"


def test_a_key_is_written_once(store):
    store.put(_key(b"abc"), b"abc")
    assert store.put(_key(b"abc"), b"other bytes") is False
    assert store.get(_key(b"abc")) == b"abc"


def test_missing_key_raises_object_missing(store):
    with pytest.raises(ObjectMissingError, match="not in the store"):
        store.get(_key(b"never stored"))


def test_keys_lists_one_rendition(store):
    store.put(_key(b"a"), b"a")
    store.put(_key(b"a", "500"), b"a500")
    assert store.keys("original") == [_key(b"a")]
    assert store.keys("500") == [_key(b"a", "500")]


def test_unknown_rendition_is_refused():
    with pytest.raises(StoreError, match="unknown rendition"):
        ImageStore.key("0" * 64, "thumbnail")


def test_local_writes_leave_no_temporary_files(tmp_path):
    store = ImageStore(str(tmp_path / "images"))
    store.put(_key(b"x"), b"x")
    assert [p.name for p in (tmp_path / "images").rglob("*") if p.is_file()] == [
        hashlib.sha256(b"x").hexdigest()
    ]


def test_s3_reads_fill_the_local_cache(s3_url, tmp_path):
    store = ImageStore(s3_url, cache_dir=tmp_path / "cache")
    store.put(_key(b"cached"), b"cached")
    store.get(_key(b"cached"))
    assert (tmp_path / "cache" / _key(b"cached")).read_bytes() == b"cached"
