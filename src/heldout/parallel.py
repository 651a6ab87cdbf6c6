"""Run a map over chunks in this process or on a Dask cluster, through one code path.

Near-duplicate search is a (candidate chunk x reference chunk) map followed by a merge; ImageNetV2
ran that map on EC2 with PyWren. :class:`ChunkRunner` runs it here by default, or on a Dask cluster
when given a scheduler address (``"tcp://scheduler:8786"``) or a ``distributed.Client``. The
function and the chunks are the same either way and results come back in input order, so the
merge (and with it the output) is identical wherever the map ran.

Results are yielded lazily and in order: locally one chunk is computed at a time, on Dask at most
``max_in_flight`` chunks are submitted ahead of the one being consumed. Either way memory holds a
bounded number of chunk results, however many chunks there are.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from heldout.errors import ConfigError

__all__ = ["ChunkRunner", "map_chunks"]

T = TypeVar("T")
R = TypeVar("R")

_CONNECT_TIMEOUT_S = 10

DaskTarget = Any
"""A scheduler address (``"tcp://host:8786"``), a ``distributed.Client``, or None for local."""


class ChunkRunner:
    """Maps a function over chunks locally, or on Dask when given an address or client.

    Use as a context manager: a client opened from an address is closed on exit (a client passed
    in belongs to the caller and stays open).
    """

    def __init__(self, dask: DaskTarget = None, *, max_in_flight: int | None = None):
        self._client = _connect(dask) if isinstance(dask, str) else dask
        self._owns_client = isinstance(dask, str)
        self.max_in_flight = max_in_flight or self._default_in_flight()

    @property
    def is_distributed(self) -> bool:
        return self._client is not None

    def __enter__(self) -> ChunkRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
        self._client = None

    def share(self, value: T) -> T:
        """``value`` itself locally; on Dask, a future of it sent once to the cluster.

        Put shared arrays (a reference chunk every query chunk meets) into chunks through this, so
        each is shipped once rather than once per task. Futures inside tuples, lists and dicts of a
        chunk are resolved before ``fn`` sees the chunk.
        """
        if self._client is None:
            return value
        return self._client.scatter(value, hash=False)

    def map(self, fn: Callable[[T], R], chunks: Iterable[T]) -> Iterator[R]:
        """``fn(chunk)`` for every chunk, yielded in input order."""
        if self._client is None:
            return map(fn, chunks)
        return self._map_distributed(fn, chunks)

    def _map_distributed(self, fn: Callable[[T], R], chunks: Iterable[T]) -> Iterator[R]:
        pending: collections.deque = collections.deque()
        for chunk in chunks:
            pending.append(self._client.submit(fn, chunk, pure=False))
            if len(pending) >= self.max_in_flight:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def _default_in_flight(self) -> int:
        if self._client is None:
            return 1
        threads = sum(self._client.nthreads().values())
        return max(2, 2 * threads)


def map_chunks(fn: Callable[[T], R], chunks: Iterable[T], *, client: DaskTarget = None) -> list[R]:
    """``[fn(chunk) for chunk in chunks]``, here or on a Dask cluster (address or client)."""
    with ChunkRunner(client) as runner:
        return list(runner.map(fn, chunks))


def _connect(address: str) -> Any:
    """A ``distributed.Client`` for ``address``; Dask is an optional dependency (extra ``dedup``)."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise ConfigError("Dask is not installed", where=address, fix="pip install 'heldout[dedup]'") from exc
    try:
        return Client(address, timeout=_CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"cannot reach the Dask scheduler: {exc}",
            where=address,
            fix="start it (`dask scheduler`) or check the address, e.g. tcp://host:8786",
        ) from exc
