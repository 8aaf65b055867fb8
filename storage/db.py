"""Engine and sessions.

SQLite is opened with WAL (readers never wait for the writer), foreign keys on (SQLite
leaves them off by default) and a busy timeout so short write contention waits instead of
failing. Nothing here runs at import time: ``Database`` is built from the configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_driver


def redacted_url(url: str) -> str:
    """A database URL safe to print or log: the password replaced by ``***`` and any
    ``password``/``secret`` query parameter by ``redacted``; an unparseable URL is not
    echoed at all (it may still hold a password). URLs with nothing to hide are returned
    exactly as written."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "<unparseable database URL>"
    secret = [k for k in parsed.query if any(w in k.lower() for w in ("pass", "secret"))]
    if parsed.password is None and not secret:
        return url
    query = {k: "redacted" if k in secret else v for k, v in parsed.query.items()}
    return parsed.set(query=query).render_as_string(hide_password=True)


SQLITE_POOL_SIZE = 5
SQLITE_MAX_OVERFLOW = 5
SQLITE_CACHE_KIB = 512
"""Each pooled SQLite connection keeps its own page cache (2 MiB by default) and, through
aiosqlite, a thread of its own (and so, with glibc, a malloc arena of its own: ~2 MB each
after a load, measured in /proc/PID/smaps). The process serves requests on one event
loop, so more connections add memory and threads contending for the GIL, not reads in
parallel. Requests get at most three sessions at work at once (``SQLITE_SESSION_GATE``);
the background workers (inbox processing, deliveries) pass the gate and the inbox writer
uses the engine directly, so the
pool keeps five, which covers both without opening and closing overflow connections in
a steady load (each costs a thread, the pragmas and a schema read). With the gate, the
benchmark's client-API home timeline answered more requests per second at 8 in flight
than with ten sessions at once (118-130 against 94-113; docs/performance.md). Pages beyond
the cache come from the operating system's file cache at the cost of a read call."""

SQLITE_SESSION_GATE = 3
SESSION_GATE_WAIT = 0.1
"""How long a session waits for one of the gate's places before it goes ahead anyway.

The gate is soft on purpose: a request that holds a session while it waits on something
else (another task's commit, the network) must never wait for itself, so after this
wait a session opens beside the others (an overflow connection) instead of queueing
behind them. Under normal load the wait is short and the gate keeps the number of
sessions at work near three; when places are held for long, it costs each waiter at most
this much latency, never a deadlock. A session opened inside another in the same task
does not wait at all (it already has a place)."""

_holding: ContextVar[bool] = ContextVar("tessera_db_session_place", default=False)


def exempt_from_gate() -> None:
    """Let the sessions of the current task (and of the tasks it starts from now on) pass
    the gate without waiting. For the background workers (deliveries, inbox processing):
    there are a few of them, and the gate is there to keep many concurrent requests from
    contending, not to hold processing back behind readers. (The inbox writer stores
    through the engine directly and never meets the gate.)"""
    _holding.set(True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    kwargs: dict[str, Any] = {"echo": echo}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 10}
        if make_url(url).get_driver_name() == "aiosqlite":
            kwargs["module"] = sqlite_driver.dbapi_module()
        if ":memory:" not in url:
            kwargs["pool_size"] = SQLITE_POOL_SIZE
            kwargs["max_overflow"] = SQLITE_MAX_OVERFLOW
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


async def column_rows(
    session: AsyncSession, stmt: Any, params: dict[str, Any] | None = None
) -> Sequence[Any]:
    """The rows of a statement that selects columns, not entities, run as SQLAlchemy Core
    on the session's connection (same transaction, same connection).

    ``session.exec`` sends every statement through the ORM's path: a compile state, a
    loading step and a row processor per column, there to build entities. For a page of
    forty rows of plain columns that path was about a sixth of a client-API timeline
    request (in-process, 1.8-2.2 against 1.6 ms a request; docs/performance.md).

    Core does not flush the session first, as ``session.exec`` does: objects added to
    the session and not yet flushed are not seen. For reads, not for a write's own
    read-back."""
    connection = await session.connection()
    return (await connection.execute(stmt, params)).all()


class Database:
    """The engine plus a session factory; one per running app. On an SQLite file, the
    sessions at work at once are limited by a soft gate (``SQLITE_SESSION_GATE``)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        gated = url.startswith("sqlite") and ":memory:" not in url
        self._gate = asyncio.Semaphore(SQLITE_SESSION_GATE) if gated else None

    @asynccontextmanager
    async def _place(self) -> AsyncIterator[None]:
        """A place at the gate for the session opened inside, if one comes free within
        ``SESSION_GATE_WAIT`` seconds; else the session goes ahead without one."""
        gate = self._gate
        if gate is None or _holding.get():
            yield
            return
        if gate.locked():  # only a wait needs the timer
            try:
                # Not wait_for: on 3.11 it can swallow a cancellation that lands as the
                # acquire completes; an acquire cancelled here hands its place back.
                async with asyncio.timeout(SESSION_GATE_WAIT):
                    await gate.acquire()
            except TimeoutError:
                yield
                return
        else:
            await gate.acquire()
        mark = _holding.set(True)
        try:
            yield
        finally:
            gate.release()  # first: nothing below may keep the place for good
            with contextlib.suppress(ValueError):  # exited in another context
                _holding.reset(mark)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; writes must go through ``transaction``."""
        async with self._place(), self._sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits together at the end, or not at all."""
        async with self._place(), self._sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
