"""Engine and sessions.

SQLite is opened with WAL (readers never wait for the writer), foreign keys on (SQLite
leaves them off by default) and a busy timeout so short write contention waits instead of
failing. Nothing here runs at import time: ``Database`` is built from the configuration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


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
aiosqlite, a thread of its own; SQLAlchemy's default pool opens up to 15 of them. The
process serves requests on one event loop, so more connections add memory, not reads in
parallel: with ten at most, and half a MiB of pages each, resident memory stayed within
10% of idle after thousands of page requests where the defaults grew it by 15-20% (see
docs/performance.md). Pages beyond the cache come from the operating system's file cache
at the cost of a read call."""


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
        if ":memory:" not in url:
            kwargs["pool_size"] = SQLITE_POOL_SIZE
            kwargs["max_overflow"] = SQLITE_MAX_OVERFLOW
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


class Database:
    """The engine plus a session factory; one per running app."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; writes must go through ``transaction``."""
        async with self._sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits together at the end, or not at all."""
        async with self._sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
