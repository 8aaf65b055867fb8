"""The SQLite driver (``storage.sqlite_driver``): one thread hand-off per statement, none
for a rollback with nothing to roll back, and the same results and errors as aiosqlite."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage import sqlite_driver
from storage.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    async with database.engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
        await conn.exec_driver_sql(
            "INSERT INTO t (id, name) VALUES " + ",".join(f"({i}, 'n{i}')" for i in range(1, 8))
        )
    yield database
    await database.dispose()


async def test_the_engine_uses_the_driver(db: Database) -> None:
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, sqlite_driver.Connection)


async def test_a_read_only_session_costs_one_handoff_per_statement(
    db: Database, handoffs: Counter[str]
) -> None:
    async with db.session() as session:
        await session.exec(text("SELECT 1"))  # type: ignore[call-overload]  # pool warm
    handoffs.clear()
    async with db.session() as session:
        first = (await session.exec(text("SELECT name FROM t ORDER BY id"))).all()  # type: ignore[call-overload]
        count = (await session.exec(text("SELECT count(*) FROM t"))).one()  # type: ignore[call-overload]
    assert [row[0] for row in first] == [f"n{i}" for i in range(1, 8)]
    assert count[0] == 7
    # aiosqlite itself makes four per statement (cursor, execute, fetch, close) and one
    # for the pool's rollback.
    assert handoffs == Counter({"_execute_and_fetch": 2})


async def test_a_write_commits_and_a_failed_one_rolls_back(
    db: Database, handoffs: Counter[str]
) -> None:
    async with db.transaction() as session:
        await session.exec(text("INSERT INTO t (id, name) VALUES (100, 'new')"))  # type: ignore[call-overload]
    assert handoffs["commit"] == 1
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await session.exec(text("INSERT INTO t (id, name) VALUES (101, 'kept out')"))  # type: ignore[call-overload]
            await session.exec(text("INSERT INTO t (id, name) VALUES (102, 'new')"))  # type: ignore[call-overload]
    assert handoffs["rollback"] >= 1
    async with db.session() as session:
        names = (await session.exec(text("SELECT name FROM t WHERE id >= 100"))).all()  # type: ignore[call-overload]
    assert [row[0] for row in names] == ["new"]


async def test_fetching_in_parts_and_streaming(db: Database) -> None:
    async with db.engine.connect() as conn:
        result = await conn.exec_driver_sql("SELECT id FROM t ORDER BY id")
        assert result.fetchone() == (1,)
        assert result.fetchmany(2) == [(2,), (3,)]
        assert result.fetchall() == [(4,), (5,), (6,), (7,)]
        streamed = await conn.stream(text("SELECT id FROM t ORDER BY id"))
        ids = [row[0] async for row in streamed]
        parts = await conn.stream(text("SELECT id FROM t ORDER BY id"))
        chunks = [chunk async for chunk in parts.partitions(3)]
    assert ids == list(range(1, 8))
    assert [[row[0] for row in chunk] for chunk in chunks] == [[1, 2, 3], [4, 5, 6], [7]]


async def test_a_statement_error_reaches_the_caller(db: Database) -> None:
    async with db.session() as session:
        with pytest.raises(Exception, match="no such table"):
            await session.exec(text("SELECT * FROM missing"))  # type: ignore[call-overload]
        again = (await session.exec(text("SELECT count(*) FROM t"))).one()  # type: ignore[call-overload]
    assert again[0] == 7


async def test_reads_run_inline_where_asked_and_writes_never(
    db: Database, handoffs: Counter[str]
) -> None:
    """``read_inline`` (the inbox processor's task): its SELECTs skip the hand-off, its
    writes and commits do not; other tasks are unaffected."""

    async def worker() -> list[str]:
        sqlite_driver.read_inline()
        async with db.transaction() as session:
            names = (await session.exec(text("SELECT name FROM t WHERE id < 3 ORDER BY id"))).all()  # type: ignore[call-overload]
            await session.exec(text("INSERT INTO t (id, name) VALUES (50, 'w')"))  # type: ignore[call-overload]
        return [row[0] for row in names]

    assert await asyncio.create_task(worker()) == ["n1", "n2"]
    assert handoffs == Counter({"_execute_and_fetch": 1, "commit": 1})  # the INSERT
    handoffs.clear()
    async with db.session() as session:  # this task never asked
        await session.exec(text("SELECT count(*) FROM t"))  # type: ignore[call-overload]
    assert handoffs == Counter({"_execute_and_fetch": 1})


async def test_reads_go_back_to_the_thread_inside_reads_on_thread(
    db: Database, handoffs: Counter[str]
) -> None:
    """``reads_on_thread`` (deleting an account: reads without bound) undoes
    ``read_inline`` for its block only."""

    async def worker() -> None:
        sqlite_driver.read_inline()
        with sqlite_driver.reads_on_thread():
            async with db.session() as session:
                await session.exec(text("SELECT count(*) FROM t"))  # type: ignore[call-overload]
        assert handoffs == Counter({"_execute_and_fetch": 1})
        async with db.session() as session:
            await session.exec(text("SELECT count(*) FROM t"))  # type: ignore[call-overload]
        assert handoffs == Counter({"_execute_and_fetch": 1})  # inline again after it

    await asyncio.create_task(worker())


def test_a_cursor_on_a_closed_connection_is_a_database_error() -> None:
    """What the dialect recognises as a disconnect (so the pool drops the connection), not
    a bare ValueError outside SQLAlchemy's error handling."""
    closed = sqlite_driver.connect(":memory:")  # never opened: no sqlite3 connection
    with pytest.raises(sqlite3.OperationalError, match="no active connection"):
        closed.cursor()
