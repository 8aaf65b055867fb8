"""The SQLite driver (``storage.sqlite_driver``): one thread hand-off per statement, none
for a rollback with nothing to roll back, and the same results and errors as aiosqlite."""

from __future__ import annotations

import asyncio
import sqlite3
import time
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


async def test_deferred_writes_go_to_the_thread_with_the_commit(
    db: Database, handoffs: Counter[str]
) -> None:
    """Inside ``deferred_writes`` a transaction of writes is one hand-off: an insert, an
    ``executemany`` and an update are sent with the commit, in order."""
    with sqlite_driver.deferred_writes():
        async with db.transaction() as session:
            await session.exec(text("INSERT INTO t (id, name) VALUES (100, 'a')"))  # type: ignore[call-overload]
            await session.exec(  # type: ignore[call-overload]
                text("INSERT INTO t (id, name) VALUES (:id, :name)"),
                params=[{"id": 101, "name": "b"}, {"id": 102, "name": "c"}],
            )
            await session.exec(text("UPDATE t SET name = name || '!' WHERE id >= 100"))  # type: ignore[call-overload]
    assert handoffs == Counter({"_run_deferred": 1})
    async with db.session() as session:
        names = (await session.exec(text("SELECT name FROM t WHERE id >= 100 ORDER BY id"))).all()  # type: ignore[call-overload]
    assert [row[0] for row in names] == ["a!", "b!", "c!"]


async def test_a_read_inside_deferred_writes_sees_the_writes_before_it(
    db: Database, handoffs: Counter[str]
) -> None:
    """A statement whose answer is read now (a select, a ``RETURNING``) first sends what
    was held back, so the transaction reads its own writes."""
    with sqlite_driver.deferred_writes():
        async with db.transaction() as session:
            await session.exec(text("INSERT INTO t (id, name) VALUES (100, 'a')"))  # type: ignore[call-overload]
            count = (await session.exec(text("SELECT count(*) FROM t"))).one()  # type: ignore[call-overload]
            returned = (
                await session.exec(  # type: ignore[call-overload]
                    text("INSERT INTO t (id, name) VALUES (101, 'b') RETURNING name")
                )
            ).one()
    assert count[0] == 8
    assert returned[0] == "b"
    assert handoffs["_run_deferred"] == 1  # the held-back insert, before the select
    assert handoffs["commit"] == 1  # nothing was held back by then


async def test_a_deferred_write_that_fails_fails_the_transaction_and_keeps_nothing(
    db: Database, handoffs: Counter[str]
) -> None:
    """The error of a held-back write arrives with the commit; every write of the
    transaction is rolled back, the ones before it included."""
    with pytest.raises(IntegrityError), sqlite_driver.deferred_writes():
        async with db.transaction() as session:
            await session.exec(text("INSERT INTO t (id, name) VALUES (100, 'kept out')"))  # type: ignore[call-overload]
            await session.exec(text("INSERT INTO t (id, name) VALUES (101, 'n1')"))  # type: ignore[call-overload]
            await session.exec(text("INSERT INTO t (id, name) VALUES (102, 'after')"))  # type: ignore[call-overload]
    # all three went with the commit, which rolled back on the thread: nothing else ran
    assert handoffs == Counter({"_run_deferred": 1})
    async with db.session() as session:
        left = (await session.exec(text("SELECT count(*) FROM t WHERE id >= 100"))).one()  # type: ignore[call-overload]
    assert left[0] == 0
    # the connection went back to the pool clean: the next transaction works
    async with db.transaction() as session:
        await session.exec(text("INSERT INTO t (id, name) VALUES (100, 'fine')"))  # type: ignore[call-overload]


async def test_writes_outside_the_block_fail_at_their_own_statement(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await session.exec(text("INSERT INTO t (id, name) VALUES (100, 'n1')"))  # type: ignore[call-overload]
            pytest.fail("the failing insert should have raised")


async def test_write_and_commit_stores_in_one_handoff_or_not_at_all(
    db: Database, handoffs: Counter[str]
) -> None:
    sql = (
        "INSERT INTO t (id, name) VALUES (?, ?), (?, ?) ON CONFLICT (name) DO NOTHING RETURNING id"
    )
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        stored = await sqlite_driver.write_and_commit(
            raw.driver_connection, sql, [100, "x", 101, "n1"]
        )
        assert stored == [(100,)]  # 'n1' was there already
        with pytest.raises(sqlite3.IntegrityError):  # the same primary key twice
            await sqlite_driver.write_and_commit(raw.driver_connection, sql, [102, "y", 102, "z"])
    assert handoffs == Counter({"_write_returning": 2})
    async with db.session() as session:
        names = (await session.exec(text("SELECT name FROM t WHERE id >= 100"))).all()  # type: ignore[call-overload]
    assert [row[0] for row in names] == ["x"]
    assert await sqlite_driver.write_and_commit(object(), sql, []) is None  # not our driver


async def test_a_rollback_follows_a_write_whose_wait_was_cancelled(db: Database) -> None:
    """A write handed to the thread runs even if the task waiting for it is cancelled
    (a request that timed out, a worker stopped). The rollback that follows must go to the
    thread after it, although ``in_transaction`` still says no when it is asked, or the
    write would leave a transaction open on a pooled connection."""
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert isinstance(driver, sqlite_driver.Connection)
        busy = asyncio.ensure_future(driver._execute(time.sleep, 0.2))  # the thread is busy
        cursor = driver.cursor()
        write = asyncio.ensure_future(cursor.execute("INSERT INTO t (id, name) VALUES (100, 'x')"))
        await asyncio.sleep(0.01)  # the insert is queued behind the sleep
        write.cancel()
        with pytest.raises(asyncio.CancelledError):
            await write
        assert not driver._conn.in_transaction  # not run yet
        await driver.rollback()
        await busy
        assert not driver._conn.in_transaction  # the insert ran, then the rollback
    async with db.session() as session:
        left = (await session.exec(text("SELECT count(*) FROM t WHERE id = 100"))).one()  # type: ignore[call-overload]
    assert left[0] == 0
