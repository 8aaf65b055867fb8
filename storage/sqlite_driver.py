"""aiosqlite with one thread hand-off per statement instead of four.

aiosqlite runs every call on a connection's own thread and hands the result back to the
event loop: creating a cursor, executing, fetching the rows and closing the cursor are
four hand-offs, and SQLAlchemy makes all four for every statement. A hand-off is a queue
put, a thread wake-up, a write to the loop's self-pipe and a pass through ``epoll``, each
with the GIL changing hands: in the inbox worker (about ten small statements an
activity) the hand-offs cost more than SQLite's own work (docs/performance.md).

Here a cursor is made on the loop's thread (a cheap Python object; the connection is
opened with ``check_same_thread=False`` and SQLite is built serialized), ``execute`` runs
the statement *and* fetches its rows in one hand-off, the fetch methods answer from those
rows, and ``close`` runs inline (the statement is already reset once its rows are read).
Commits, rollbacks and everything else go through aiosqlite's thread as before. SQLite
runs on the event loop's thread only for the reads of a task that asked for it
(``read_inline``: the inbox processor's index lookups), so a long query never blocks it.
The fetch methods serve the rows read with the statement, server-side cursors (``stream``)
included: nothing here streams results larger than memory.

Plugged in as the DBAPI module of SQLAlchemy's own aiosqlite dialect (``module=``), so
URLs, pooling, type handling and error translation are SQLAlchemy's, unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import types
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

__all__ = [
    "dbapi_module",
    "deferred_writes",
    "read_inline",
    "reads_inline",
    "reads_on_thread",
    "write_and_commit",
]

_Deferred = tuple[str, Any, bool]
"""A write held back until the transaction needs it: SQL, parameters, ``executemany``."""

_DEFERRABLE = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _execute_and_fetch(cursor: sqlite3.Cursor, sql: str, parameters: Any) -> list[Any] | None:
    """Runs on the connection's thread: the statement and, if it returns rows, all of them."""
    cursor.execute(sql, parameters)
    return cursor.fetchall() if cursor.description else None


def _write_returning(connection: sqlite3.Connection, sql: str, parameters: Any) -> list[Any]:
    """Runs on the connection's thread: one write, its rows and the commit, or nothing."""
    try:
        rows = connection.execute(sql, parameters).fetchall()
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    return rows


def _run_deferred(
    connection: sqlite3.Connection, statements: list[_Deferred], commit: bool
) -> None:
    """Runs on the connection's thread: held-back writes in order, then the commit if
    asked. A failure rolls the whole transaction back here, as the caller's rollback
    would (which then finds nothing to roll back)."""
    try:
        for sql, parameters, many in statements:
            if many:
                connection.executemany(sql, parameters)
            else:
                connection.execute(sql, parameters)
        if commit:
            connection.commit()
    except BaseException:
        connection.rollback()
        raise


async def write_and_commit(driver_connection: Any, sql: str, parameters: Any) -> list[Any] | None:
    """Run one write statement in a transaction of its own on ``driver_connection``'s
    thread and commit it, in a single hand-off; the rows it returns (``RETURNING``).

    For a connection checked out of the pool with no transaction under way (the inbox's
    group commit): SQLAlchemy's execution path around the same statement costs the event
    loop more than SQLite's work does. None when the connection is not this driver's.
    """
    if not isinstance(driver_connection, Connection):
        return None
    if driver_connection._connection is None:
        raise sqlite3.OperationalError("no active connection")
    if driver_connection._connection.in_transaction or driver_connection.deferred:
        raise sqlite3.OperationalError("a transaction is already under way")
    return await driver_connection._execute(
        _write_returning, driver_connection._connection, sql, parameters
    )


class Cursor(aiosqlite.Cursor):
    """An aiosqlite cursor whose rows arrive with ``execute``."""

    def __init__(self, conn: aiosqlite.Connection, cursor: sqlite3.Cursor) -> None:
        super().__init__(conn, cursor)
        self._rows: list[Any] = []
        self._next = 0  # index of the next row to hand out

    def __await__(self) -> Generator[Any, None, Cursor]:
        """``await connection.cursor()`` works as with aiosqlite, without a hand-off."""
        return self
        yield  # a generator: the await never suspends

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Cursor:
        values = [] if parameters is None else parameters
        self._rows, self._next = [], 0
        if _writes_deferred.get() and self._defer(sql, values, many=False):
            return self
        conn: Connection = self._conn  # type: ignore[assignment]
        if conn.deferred:
            await conn.flush_deferred()
        is_select = sql.lstrip()[:6].upper() == "SELECT"
        if is_select and _reads_inline.get():
            rows = _execute_and_fetch(self._cursor, sql, values)
        else:
            if not is_select:
                conn.writes_sent = True
            rows = await conn._execute(_execute_and_fetch, self._cursor, sql, values)
        self._rows, self._next = rows if rows is not None else [], 0
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Cursor:
        self._rows, self._next = [], 0
        if _writes_deferred.get() and self._defer(sql, parameters, many=True):
            return self
        conn: Connection = self._conn  # type: ignore[assignment]
        await conn.flush_deferred()
        conn.writes_sent = True
        return await super().executemany(sql, parameters)

    def _defer(self, sql: str, parameters: Any, *, many: bool) -> bool:
        """Hold a write back for the transaction's next statement or its commit (called
        inside ``deferred_writes``); False for anything whose answer is read now."""
        head = sql.lstrip()[:7].upper()
        if not head.startswith(_DEFERRABLE) or "RETURNING" in sql.upper():
            return False
        conn: Connection = self._conn  # type: ignore[assignment]
        conn.deferred.append((sql, list(parameters) if many else parameters, many))
        return True

    async def executescript(self, sql_script: str) -> Cursor:
        self._rows, self._next = [], 0
        return await super().executescript(sql_script)

    async def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        start = self._next
        self._next = min(
            len(self._rows), start + (self._cursor.arraysize if size is None else size)
        )
        return self._rows[start : self._next]

    async def fetchall(self) -> Sequence[Any]:
        start, self._next = self._next, len(self._rows)
        return self._rows[start:] if start else self._rows

    async def close(self) -> None:
        self._rows, self._next = [], 0
        self._cursor.close()


_reads_inline: ContextVar[bool] = ContextVar("tessera_sqlite_reads_inline", default=False)


def read_inline() -> None:
    """Let the current task (and the tasks it starts from now on) run its SELECTs on the
    event loop's thread instead of handing them to the connection's thread.

    For the inbox processor: its reads are point lookups by index of tens of
    microseconds, about seven of the ten statements an activity makes, and each
    hand-off costs more than the read (a thread wake-up and a pass through the loop,
    ~100 µs here). A read never waits for SQLite's write lock in WAL mode, so it cannot
    hold the loop behind another writer; writes and commits still go to the thread. (A
    reader can still meet a busy database while a crashed writer's WAL is recovered or a
    truncating checkpoint runs: rare, and then it waits on the loop's thread.) Work that
    reads without bounds opts out with ``reads_on_thread``."""
    _reads_inline.set(True)


@contextlib.contextmanager
def reads_inline() -> Iterator[None]:
    """Within this block, reads run on the event loop's thread (as after ``read_inline``),
    for a request whose reads are bounded index lookups: a client-API timeline page reads
    in three statements what the hand-offs to a thread and back cost more CPU than (4.5
    against 6-8 ms of the server's CPU per home timeline request, measured in ``bench/``)."""
    token = _reads_inline.set(True)
    try:
        yield
    finally:
        _reads_inline.reset(token)


@contextlib.contextmanager
def reads_on_thread() -> Iterator[None]:
    """Within this block, reads go to the connection's thread again (for work whose reads
    are not bounded point lookups, such as deleting an account's every post)."""
    token = _reads_inline.set(False)
    try:
        yield
    finally:
        _reads_inline.reset(token)


_writes_deferred: ContextVar[bool] = ContextVar("tessera_sqlite_writes_deferred", default=False)


@contextlib.contextmanager
def deferred_writes() -> Iterator[None]:
    """Within this block, writes that return nothing (``INSERT``/``UPDATE``/``DELETE``
    without ``RETURNING``) are held back and sent to the connection's thread together with
    the transaction's next statement that must run now (a read, a ``RETURNING``) or with
    its commit: a transaction of such writes is one hand-off, not one per statement.

    Why: SQLite has one write lock, and a transaction holds it from its first write to its
    commit. Each hand-off resumes only when the busy event loop comes round to it, so under
    load a pass of the inbox worker (a claim, then seven or eight ``executemany``) held
    the lock 10-40 ms for ~2 ms of SQLite's work, and every delivery waiting to be stored
    waited with it (measured in ``bench/``). Now the lock is held for SQLite's time.

    What changes for the code inside: a held-back write's error (a constraint) is raised
    by the statement that sends it - the next read or the commit - and rolls the whole
    transaction back (savepoints cannot catch it); its ``rowcount`` is unknown (-1) and
    its ``lastrowid`` None. So only for transactions of Core statements that read no row
    counts or generated keys and treat any failure as the whole transaction's, such as the
    inbox worker's claims and batch writes: an ORM flush of changed objects checks row
    counts and would fail here."""
    token = _writes_deferred.set(True)
    try:
        yield
    finally:
        _writes_deferred.reset(token)


class Connection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors are made without a hand-off."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deferred: list[_Deferred] = []
        self.writes_sent = False
        """Writes were handed to the thread since the last commit or rollback: the
        rollback must go there too, even if ``in_transaction`` (read on the loop's
        thread) says no, because a hand-off whose waiter was cancelled may still run."""

    async def flush_deferred(self) -> None:
        """Send the held-back writes (``deferred_writes``) to the thread, in order."""
        if self.deferred:
            statements, self.deferred = self.deferred, []
            await self._send_deferred(statements, commit=False)

    async def _send_deferred(self, statements: list[_Deferred], *, commit: bool) -> None:
        self.writes_sent = True
        try:
            await self._execute(_run_deferred, self._conn, statements, commit)
        except asyncio.CancelledError:
            raise  # the call may still run on the thread: the rollback must follow it
        except BaseException:
            self.writes_sent = False  # _run_deferred rolled back on the thread
            raise
        if commit:
            self.writes_sent = False

    def cursor(self) -> Cursor:  # type: ignore[override]
        if self._connection is None:
            # What aiosqlite raises inside its own cursor call, as the DBAPI error the
            # dialect knows as a disconnect (SQLAlchemy then drops the connection).
            raise sqlite3.OperationalError("no active connection")
        return Cursor(self, self._connection.cursor())

    async def commit(self) -> None:
        if self.deferred:  # the held-back writes and the commit, in one hand-off
            statements, self.deferred = self.deferred, []
            await self._send_deferred(statements, commit=True)
        elif self._conn.in_transaction or self.writes_sent:
            await super().commit()
            self.writes_sent = False

    async def rollback(self) -> None:
        """The pool rolls back every connection it takes back; after a commit, or a
        session that only read (the driver begins a transaction at the first write),
        there is nothing to roll back and sqlite3's own rollback would do nothing, so
        that case costs no hand-off."""
        self.deferred = []
        if self._conn.in_transaction or self.writes_sent:
            await super().rollback()
            self.writes_sent = False


def connect(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> Connection:
    """As ``aiosqlite.connect``; the thread is a daemon (as SQLAlchemy makes aiosqlite's)
    so a connection the pool never closed cannot keep the process alive."""
    kwargs["check_same_thread"] = False

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, **kwargs)

    connection = Connection(connector, iter_chunk_size)
    connection._thread.daemon = True
    return connection


def _driver() -> types.SimpleNamespace:
    names = (
        "DatabaseError",
        "Error",
        "IntegrityError",
        "NotSupportedError",
        "OperationalError",
        "ProgrammingError",
        "sqlite_version",
        "sqlite_version_info",
    )
    return types.SimpleNamespace(
        **{name: getattr(aiosqlite, name) for name in names},
        connect=connect,
        Connection=Connection,
    )


def dbapi_module() -> AsyncAdapt_aiosqlite_dbapi:
    """The module to give ``create_async_engine(..., module=...)`` for an aiosqlite URL."""
    return AsyncAdapt_aiosqlite_dbapi(_driver(), sqlite3)
