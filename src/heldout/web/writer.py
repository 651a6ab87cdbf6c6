"""One writer: every catalog write of the app runs here, so on SQLite writes never contend.

Like datasette's ``execute_write_fn``: handlers ``await writer.run(fn, ...)``; ``fn`` is a library
call that opens its own transaction and returns after the commit, so a handler acknowledges
nothing that is not committed. On SQLite one thread runs the writes in order; on PostgreSQL a
small pool runs them concurrently (row locks keep them correct).

**Group commit** (SQLite). ``await writer.run(fn, ..., group=True)`` marks a write that may share
its transaction with the other grouped writes queued at the same moment (the worker submissions):
the writer thread takes every grouped job waiting in its queue (at most :data:`MAX_GROUP`), opens
one transaction, takes the write lock, runs each job in its own savepoint (so a job that fails,
e.g. refused answers, is rolled back alone and gets its own error while the others go on; the
library's own ``project.transaction()`` nests inside it), commits once, and only then resolves
each job's future. So every acknowledgement still follows the commit of what it acknowledges, and
a crash before the commit acknowledges none of the group. If the shared commit fails, every job
of the group that had succeeded gets that error. Jobs not marked ``group`` run alone, in order.
On PostgreSQL ``group`` is ignored: the pool runs each job in its own transaction.
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

MAX_GROUP = 64
"""At most this many grouped writes share one transaction."""


@dataclass
class _Job:
    call: Callable[[], Any]
    group: bool
    future: Future = field(default_factory=Future)


_STOP = object()


class Writer:
    def __init__(self, project: Project, *, threads: int | None = None):
        if threads is None:
            threads = 1 if project.engine.dialect.name == "sqlite" else 4
        self.project = project
        self.threads = threads
        self.groups = 0
        """How many shared transactions ran (for tests and the benchmark)."""
        self.largest_group = 0
        self.grouped = 0
        """How many jobs ran in them."""
        self._pool: ThreadPoolExecutor | None = None
        self._queue: queue.SimpleQueue | None = None
        self._thread: threading.Thread | None = None
        if threads == 1:
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._loop, name="heldout-writer", daemon=True)
            self._thread.start()
        else:
            self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="heldout-writer")

    async def run(self, fn: Callable[..., T], /, *args: Any, group: bool = False, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the writer and wait for it (its errors propagate).
        ``group=True``: it may share a transaction with other grouped writes (see the module)."""
        call = functools.partial(fn, *args, **kwargs)
        if self._pool is not None:
            return await asyncio.wrap_future(self._pool.submit(call))
        job = _Job(call, group)
        if self._thread is None or not self._thread.is_alive():
            raise RuntimeError("the writer is closed")
        self._queue.put(job)
        return await asyncio.wrap_future(job.future)

    def close(self) -> None:
        """Finish the writes already queued, then stop."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        elif self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    # --- the writer thread ---------------------------------------------------------------------

    def _loop(self) -> None:
        pending: list[Any] = []
        while True:
            job = pending.pop(0) if pending else self._queue.get()
            if job is _STOP:
                self._drain_and_stop(pending)
                return
            if not job.group:
                _run_alone(job)
                continue
            group = [job]
            while len(group) < MAX_GROUP:
                try:
                    more = pending.pop(0) if pending else self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP or not more.group:
                    pending.insert(0, more)
                    break
                group.append(more)
            if len(group) == 1:
                _run_alone(job)
            else:
                self._run_group(group)

    def _drain_and_stop(self, pending: list[Any]) -> None:
        while True:
            for job in pending:
                if job is not _STOP:
                    _run_alone(job)
            pending = []
            try:
                pending.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def _run_group(self, group: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.project.transaction() as session:
                for job in group:
                    try:
                        with session.begin_nested():
                            outcomes.append((True, job.call()))
                    except BaseException as error:  # noqa: BLE001 - handed to the job's caller
                        outcomes.append((False, error))
        except BaseException as error:  # noqa: BLE001 - the shared commit failed: nothing acknowledged
            for index, job in enumerate(group):
                if index < len(outcomes) and not outcomes[index][0]:
                    _settle(job, outcomes[index])
                else:
                    _settle(job, (False, error))
            return
        self.groups += 1
        self.grouped += len(group)
        self.largest_group = max(self.largest_group, len(group))
        for job, outcome in zip(group, outcomes, strict=True):
            _settle(job, outcome)


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
