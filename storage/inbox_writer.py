"""Group commit for received activities: many deliveries, one transaction.

Each delivery used to cost its own pool checkout, duplicate check and commit. On one event
loop in front of SQLite's single writer, those round trips to the database thread were
most of the inbox's time. The writer instead collects the rows that arrive while it is
busy and stores them with one ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` in one
transaction (:func:`storage.remote_queries.insert_inbox_items`). Every caller still learns
whether its own row was new, and only hears so after the commit: an inbox that answers
"accepted" has the activity on disk.

No delay is added to wait for company: a lone delivery is written at once, and batches form
by themselves under load (what arrives during one commit makes the next batch).

Other writers of the same database in this process should give way to waiting deliveries
(:meth:`InboxWriter.wait_idle` before each of their transactions): SQLite's lock is not
fair, and a sender waiting seconds for its 202 retries, which costs more than it saves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

from storage.db import Database
from storage.remote_queries import NewInboxItem, insert_inbox_items

__all__ = ["InboxWriter"]

MAX_BATCH = 256
"""Rows per transaction at most: bounds a commit's time (and its statement's parameters)."""

MAX_YIELD = 1.0
"""Seconds another writer gives way to waiting deliveries at most (see ``wait_idle``)."""

_Waiting = tuple[NewInboxItem, "asyncio.Future[bool]"]


class _Tally:
    """How many of something are under way, and a bounded wait for none to be."""

    def __init__(self) -> None:
        self.count = 0
        self._none: asyncio.Event | None = None

    def forget_loop(self) -> None:
        """Events belong to the loop that waited on them: a new loop gets a new one."""
        self._none = None

    @contextlib.contextmanager
    def one(self) -> Iterator[None]:
        self.count += 1
        if self._none is not None:
            self._none.clear()
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0 and self._none is not None:
                self._none.set()

    async def wait_none(self, timeout: float | None) -> None:
        if self.count == 0:
            return
        if self._none is None:
            self._none = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._none.wait()


class InboxWriter:
    """One per running app; its task starts on first use, in the loop that uses it."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[_Waiting] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._busy = _Tally()  # rows waiting or being written
        self._others = _Tally()  # transactions of other writers in this process under way
        self._deferring = False

    async def insert(self, item: NewInboxItem) -> bool:
        """Store ``item`` with whatever else is waiting; False when its id was stored before.

        Returns once the transaction holding the row has committed; a failed transaction
        raises its error in every caller whose row it held.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        self._pending.append((item, future))
        self._wake(loop)
        with self._busy.one():
            return await future

    @property
    def waiting(self) -> int:
        """Deliveries waiting for their row to be committed."""
        return self._busy.count

    async def wait_idle(self, timeout: float | None = MAX_YIELD) -> None:
        """Return once no delivery is waiting to be stored (or after ``timeout`` seconds).

        Why: SQLite has one write lock, and a writer that finds it taken polls for it
        (sleeping up to 100 ms between tries) while the holder may take it again at once.
        Next to a worker committing batch after batch, the inbox's writer waited seconds.
        Bulk writers of this process (inbox processing) call this before each transaction,
        so a delivery waits for one of their transactions at most; the timeout keeps them
        moving under a flood that never lets the inbox go idle.
        """
        await self._busy.wait_none(timeout)

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Wrap another writer's transaction (inbox processing) in this: the writer waits
        for it to end before its next commit, instead of meeting SQLite's lock.

        Why: a writer that finds the lock taken sleeps in SQLite's busy handler, 1, 2, 5,
        10, 15, 20, 25 ms and on between tries, whenever the holder lets go: one unlucky
        collision with a transaction of 6 ms cost a delivery 20-40 ms, which was the
        inbox's p99. Waiting here ends the moment the other transaction does. Together
        with ``wait_idle`` before each such transaction, a delivery waits for at most one.
        """
        with self._others.one():
            yield

    @property
    def deferring(self) -> bool:
        """Whether the writer is holding its next batch until another writer's
        transaction ends (see ``writing``)."""
        return self._deferring

    async def _after_others(self) -> None:
        if self._others.count == 0:
            return
        self._deferring = True
        try:
            await self._others.wait_none(MAX_YIELD)
        finally:
            self._deferring = False

    def _wake(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not loop:  # events belong to the loop that made them
            self._loop, self._task = loop, None
            self._busy.forget_loop()
            self._others.forget_loop()
        if self._task is None or self._task.done():
            self._closing = False
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run(), name="inbox-writer")
        assert self._wakeup is not None
        self._wakeup.set()

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                await self._after_others()
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                await self._write(batch)
            if self._closing:
                return

    async def _write(self, batch: list[_Waiting]) -> None:
        try:
            new = await insert_inbox_items(self._db, [item for item, _ in batch])
        except Exception as exc:  # every waiter sees the failure; the writer carries on
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for item, future in batch:
            fresh = item.activity_id in new
            new.discard(item.activity_id)  # a repeat within the batch is a duplicate
            if not future.done():
                future.set_result(fresh)

    async def close(self) -> None:
        """Write what is waiting, then stop (a later ``insert`` starts the writer again)."""
        task = self._task
        if task is None or task.done() or self._loop is not asyncio.get_running_loop():
            self._task = None
            return
        self._closing = True
        assert self._wakeup is not None
        self._wakeup.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._task = None
