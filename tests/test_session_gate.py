"""The soft gate on SQLite sessions (``storage.db``): at most a few sessions at work at
once under load, never a deadlock when a session's holder waits on another session."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from storage import db as dbmod
from storage.db import Database


async def test_sessions_at_work_stay_within_the_gate(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    busy = 0
    most = 0

    async def read() -> None:
        nonlocal busy, most
        async with db.session() as session:
            busy += 1
            most = max(most, busy)
            await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
            await asyncio.sleep(0.005)
            busy -= 1

    try:
        await asyncio.gather(*(read() for _ in range(6)))
    finally:
        await db.dispose()
    assert most == dbmod.SQLITE_SESSION_GATE


async def test_a_session_inside_a_session_does_not_wait(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
    loop = asyncio.get_running_loop()
    try:
        holders = [db.session() for _ in range(dbmod.SQLITE_SESSION_GATE - 1)]
        for holder in holders:
            await holder.__aenter__()
        async with db.session():
            started = loop.time()
            async with db.transaction() as inner:  # same task: it already has a place
                await inner.exec(text("SELECT 1"))  # type: ignore[call-overload]
            assert loop.time() - started < dbmod.SESSION_GATE_WAIT
        for holder in holders:
            await holder.__aexit__(None, None, None)
    finally:
        await db.dispose()


async def test_holders_waiting_on_another_session_do_not_deadlock(tmp_path: Path) -> None:
    """Every place is held by a task that waits for a fourth task's write: a hard limit
    would never let that write in; the soft gate lets it through after its short wait."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    written = asyncio.Event()

    async def holder() -> None:
        async with db.session() as session:
            await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
            await written.wait()

    async def writer() -> None:
        await asyncio.sleep(0.01)  # the holders take every place first
        async with db.transaction() as session:
            await session.exec(text("CREATE TABLE t (x INTEGER)"))  # type: ignore[call-overload]
        written.set()

    try:
        await asyncio.wait_for(
            asyncio.gather(*(holder() for _ in range(dbmod.SQLITE_SESSION_GATE)), writer()),
            timeout=10,
        )
    finally:
        await db.dispose()
    assert written.is_set()


async def test_background_tasks_pass_the_gate(tmp_path: Path) -> None:
    """A worker marked with ``exempt_from_gate`` opens its session at once even while
    requests hold every place (the inbox processor and the delivery worker)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    loop = asyncio.get_running_loop()
    release = asyncio.Event()
    held = 0

    async def request() -> None:
        nonlocal held
        async with db.session():
            held += 1
            await release.wait()

    async def worker() -> float:
        dbmod.exempt_from_gate()
        started = loop.time()
        async with db.transaction() as session:
            await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        return loop.time() - started

    requests = [asyncio.create_task(request()) for _ in range(dbmod.SQLITE_SESSION_GATE)]
    try:
        while held < dbmod.SQLITE_SESSION_GATE:
            await asyncio.sleep(0.001)
        waited = await asyncio.create_task(worker())
        assert waited < dbmod.SESSION_GATE_WAIT
    finally:
        release.set()
        await asyncio.gather(*requests)
        await db.dispose()
