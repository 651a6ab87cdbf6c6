"""One writer: every catalog write of the app runs here, so on SQLite writes never contend.

Like datasette's ``execute_write_fn``: handlers ``await writer.run(fn, ...)``; ``fn`` is a library
call that opens its own transaction and returns after the commit, so a handler acknowledges
nothing that is not committed. On SQLite one thread runs the writes in order; on PostgreSQL a
small pool runs them concurrently (row locks keep them correct).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from heldout.project import Project

__all__ = ["Writer"]

T = TypeVar("T")


class Writer:
    def __init__(self, project: Project, *, threads: int | None = None):
        if threads is None:
            threads = 1 if project.engine.dialect.name == "sqlite" else 4
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="heldout-writer")

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the writer and wait for it (its errors propagate)."""
        return await asyncio.wrap_future(self._pool.submit(functools.partial(fn, *args, **kwargs)))

    def close(self) -> None:
        """Finish the writes already queued, then stop."""
        self._pool.shutdown(wait=True)
