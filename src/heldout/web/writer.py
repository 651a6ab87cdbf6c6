"""One writer: every catalog write of the app runs here, so on SQLite the app's writes never
contend with each other.

Like datasette's ``execute_write_fn``: handlers ``await writer.run(fn, ...)``; ``fn`` is a library
call that opens its own transaction and returns after the commit, so a handler acknowledges
nothing that is not committed. On SQLite one thread runs these writes in order (batches, below,
run on the event loop; SQLite's write lock orders the two); on PostgreSQL a small pool runs them
concurrently (row locks keep them correct).

**Group commit** (SQLite). ``await writer.run_batched(fn, *args, item=item)`` hands ``item`` to
``fn`` together with every other item handed in for the same ``fn`` and ``args`` during the same
turn of the event loop (at most :data:`MAX_GROUP`): ``fn(*args, items)`` runs once, on the event
loop itself, right after that turn, and stores them all in one transaction, one commit, returning
one outcome per item, its result or the exception its caller gets
(:func:`heldout.crowd.assignments.submit_many`: each submission in its own savepoint, so a refused
one fails alone). ``fn`` returns after its commit, so every acknowledgement still follows the
commit of what it acknowledges, and a crash before the commit acknowledges none of the batch; if
``fn`` itself raises (e.g. the shared commit failed), every item of the batch gets that error.
Why on the loop, not the writer thread: a batch is a few driver calls of about a millisecond in
all, and each driver call releases the GIL; a thread waiting to get it back from a busy event loop
waits up to the switch interval (5 ms) each time, which made the thread the bottleneck. (The
cost: a batch waiting on SQLite's write lock, held by another process, holds up the loop, at most
the busy timeout.) On PostgreSQL the pool calls ``fn(*args, [item])``, each in its own
transaction, concurrently.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from heldout.project import Project

__all__ = ["MAX_GROUP", "Writer"]

T = TypeVar("T")
ItemT = TypeVar("ItemT")

MAX_GROUP = 64
"""At most this many batched items share one call (one transaction)."""


@dataclass
class _Job:
    call: Callable[[], Any]
    future: Future = field(default_factory=Future)


@dataclass
class _Batched:
    """An item waiting for its batch; its future is the event loop's own (settled on the loop)."""

    batch: tuple[Callable[..., list[Any]], tuple]
    """The batch function and its leading arguments: items batch together when these are equal."""
    item: Any
    future: asyncio.Future


_STOP = object()


class Writer:
    def __init__(self, project: Project, *, threads: int | None = None):
        if threads is None:
            threads = 1 if project.engine.dialect.name == "sqlite" else 4
        self.project = project
        self.threads = threads
        self.groups = 0
        """How many batches of more than one item ran (for tests and the benchmark)."""
        self.largest_group = 0
        self.grouped = 0
        """How many items they held."""
        self._pool: ThreadPoolExecutor | None = None
        self._queue: queue.SimpleQueue | None = None
        self._thread: threading.Thread | None = None
        self._batched: list[_Batched] = []
        self._closed = False
        if threads == 1:
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._loop, name="heldout-writer", daemon=True)
            self._thread.start()
        else:
            self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="heldout-writer")

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the writer and wait for it (its errors propagate)."""
        call = functools.partial(fn, *args, **kwargs)
        if self._pool is not None:
            return await asyncio.wrap_future(self._pool.submit(call))
        return await self._queued(_Job(call))

    async def run_batched(self, fn: Callable[..., list[T | Exception]], /, *args: Any, item: ItemT) -> T:
        """``fn(*args, items)`` for ``item`` and the other items handed in for the same ``fn`` and
        ``args`` in this turn of the loop (see the module); returns this item's outcome, or raises
        it if it is an error."""
        if self._pool is not None:
            (outcome,) = await asyncio.wrap_future(self._pool.submit(fn, *args, [item]))
        else:
            if self._closed:
                raise RuntimeError("the writer is closed")
            loop = asyncio.get_running_loop()
            job = _Batched((fn, args), item, loop.create_future())
            self._batched.append(job)
            if len(self._batched) == 1:
                loop.call_soon(self._flush)
            outcome = await job.future
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _queued(self, job: _Job) -> Any:
        if self._thread is None or not self._thread.is_alive():
            raise RuntimeError("the writer is closed")
        self._queue.put(job)
        return await asyncio.wrap_future(job.future)

    def close(self) -> None:
        """Finish the writes already handed in, then stop."""
        self._closed = True
        self._flush()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        elif self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _flush(self) -> None:
        """Run the batched items handed in so far: consecutive items of one ``fn`` and ``args``
        together, at most :data:`MAX_GROUP` at a time."""
        jobs, self._batched = self._batched, []
        while jobs:
            size = 1
            while size < min(len(jobs), MAX_GROUP) and jobs[size].batch == jobs[0].batch:
                size += 1
            self._run_batch(jobs[:size])
            jobs = jobs[size:]

    # --- the writer thread and the batches -------------------------------------------------

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is _STOP:
                return
            _run_alone(job)

    def _run_batch(self, batch: list[_Batched]) -> None:
        try:
            fn, args = batch[0].batch
            outcomes = fn(*args, [job.item for job in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} outcomes for {len(batch)} items")
        except BaseException as error:  # noqa: BLE001 - nothing of the batch is acknowledged
            for job in batch:
                if not job.future.done():
                    job.future.set_exception(error)
            return
        if len(batch) > 1:
            self.groups += 1
            self.grouped += len(batch)
            self.largest_group = max(self.largest_group, len(batch))
        for job, outcome in zip(batch, outcomes, strict=True):
            if not job.future.done():  # its caller went away: stored all the same
                job.future.set_result(outcome)


def _run_alone(job: _Job) -> None:
    try:
        outcome = (True, job.call())
    except BaseException as error:  # noqa: BLE001 - handed to the job's caller
        outcome = (False, error)
    _settle(job, outcome)


def _settle(job: _Job, outcome: tuple[bool, Any]) -> None:
    if job.future.set_running_or_notify_cancel():
        ok, value = outcome
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
