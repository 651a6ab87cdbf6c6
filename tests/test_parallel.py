"""Chunk maps run here or on a Dask cluster with identical results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heldout import parallel
from heldout.collect.idx import read_idx
from heldout.dedup.knn import knn
from heldout.errors import ConfigError
from heldout.parallel import ChunkRunner, map_chunks

FASHION = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")


@pytest.fixture(scope="module")
def cluster():
    """A one-worker Dask cluster in this process, reachable over TCP like a real scheduler."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", dashboard_address=None
    ) as local:
        yield local


@pytest.fixture(scope="module")
def fashion() -> np.ndarray:
    if not FASHION.is_file():
        pytest.skip(f"Fashion-MNIST not found at {FASHION} (apt-get install dataset-fashion-mnist)")
    return read_idx(FASHION).reshape(10_000, -1)


def _square_sum(chunk: np.ndarray) -> int:
    return int((chunk.astype(np.int64) ** 2).sum())


def test_local_map_keeps_the_input_order():
    assert map_chunks(str, [3, 1, 2]) == ["3", "1", "2"]


def test_dask_map_returns_what_the_local_map_returns(cluster):
    chunks = [np.arange(i, i + 50) for i in range(0, 500, 50)]
    assert map_chunks(_square_sum, chunks, client=cluster.scheduler_address) == map_chunks(
        _square_sum, chunks
    )


def test_a_few_chunks_in_flight_still_come_back_in_order(cluster):
    from distributed import Client

    with Client(cluster) as client, ChunkRunner(client, max_in_flight=2) as runner:
        assert list(runner.map(str, range(9))) == [str(i) for i in range(9)]


def test_knn_on_dask_equals_knn_here(cluster, fashion):
    queries, references = fashion[:90], fashion[90:1290]
    options = {"k": 10, "query_chunk": 40, "reference_chunk": 300}
    here = knn(queries, references, **options)
    there = knn(queries, references, dask=cluster.scheduler_address, **options)
    assert np.array_equal(here.indices, there.indices)
    assert np.array_equal(here.distances, there.distances)


def test_an_unreachable_scheduler_is_a_config_error(monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(parallel, "_CONNECT_TIMEOUT_S", 0.5)
    with pytest.raises(ConfigError, match="Dask scheduler"):
        map_chunks(str, [1], client="tcp://127.0.0.1:9")
