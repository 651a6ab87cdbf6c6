"""IDX source: Fashion-MNIST from Debian's dataset-fashion-mnist, as real labelled images."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from heldout.collect import collect
from heldout.collect.idx import IdxSource, read_idx
from heldout.errors import SourceError
from heldout.ingest import ingest
from heldout.project import Project

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def fashion() -> Path:
    assert (FASHION / "t10k-images-idx3-ubyte.gz").is_file(), (
        "Debian's dataset-fashion-mnist is required (make setup installs it as root)"
    )
    return FASHION


def test_read_idx_gives_the_test_split_shapes(fashion):
    images = read_idx(fashion / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(fashion / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10


def test_read_idx_refuses_a_file_with_a_bad_magic_number(tmp_path):
    (tmp_path / "x.gz").write_bytes(gzip.compress(b"\x01\x02\x03\x04rest"))
    with pytest.raises(SourceError, match="magic"):
        read_idx(tmp_path / "x.gz")


def test_fashion_mnist_candidates_are_collected_and_ingested(tmp_path, fashion):
    project = Project.create(tmp_path / "p", classes="fashion-mnist")
    (project.root / "heldout.toml").write_text(
        (project.root / "heldout.toml").read_text().replace("min_side_px = 75", "min_side_px = 28")
    )
    project = Project.open(project.root)
    source = IdxSource(
        fashion / "t10k-images-idx3-ubyte.gz", fashion / "t10k-labels-idx1-ubyte.gz", limit=300
    )
    report = collect(project, source)
    assert report.added + report.known == 300
    result = ingest(project)
    assert result.stored == report.added and result.bad == 0
    labels = read_idx(fashion / "t10k-labels-idx1-ubyte.gz")[:300]
    first = project.candidates.records(project.classes.ids[labels[0]])
    assert any(r["index"] == 0 for r in first)
    assert project.images.load(project.images.ids(status="stored")[0], "256").size == (256, 256)
