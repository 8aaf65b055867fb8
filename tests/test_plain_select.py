"""Hot reads run as compiled SQL on SQLite's driver (``storage.plain_select``) answer
exactly what SQLAlchemy Core answers for the same statement, and fall back to Core
wherever the shortcut would behave differently."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import DateTime, bindparam, event, select, type_coerce
from sqlalchemy.exc import OperationalError

from services import posts as post_service
from services import social
from services.context import Services
from services.posts import PostFields, Upload
from storage import api_queries as apq
from storage.db import column_rows
from storage.models import Actor, Post
from storage.plain_select import PlainSelect, utc_datetime
from storage.sqlite_driver import deferred_writes
from tests.imagegen import png_bytes


async def _seeded(services: Services, make_user: Callable[..., Any]) -> Actor:
    """A home feed with own posts, a followed account's, a boost, a like and an edit."""
    alice = await make_user("alice", "correct horse battery")
    bob = await make_user("bob", "correct horse battery")
    carol = await make_user("carol", "correct horse battery")
    await social.follow(services, alice, bob)
    await social.follow(services, alice, carol)
    image = Upload(png_bytes(40, 30, seed=5), "a.png", "alt")
    made = []
    for author, caption, visibility in (
        (bob, "first", "public"),
        (bob, "for followers", "followers"),
        (carol, "hers", "unlisted"),
        (alice, "mine", "public"),
    ):
        made.append(
            await post_service.create_post(
                services, author, [image], PostFields(caption=caption, visibility=visibility)
            )
        )
    await post_service.set_boost(services, carol, made[0].id, True)
    await post_service.set_like(services, alice, made[2].id, True)
    async with services.db.transaction() as session:
        post = await session.get(Post, made[0].id)
        assert post is not None
        post.edited_at = datetime.now(UTC) - timedelta(minutes=3)
        session.add(post)
    return alice


async def test_the_home_page_reads_as_core_reads_it(
    services: Services, make_user: Callable[..., Any]
) -> None:
    alice = await _seeded(services, make_user)
    stmt = apq._home_statement(False, False, False)
    plain = PlainSelect(stmt)
    params = {"viewer": alice.id, "limit": 40, "max_id": None, "since_id": None, "min_id": None}
    seen: list[str] = []
    finished: list[str] = []
    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    event.listen(engine, "after_cursor_execute", lambda *a: finished.append(a[2]))
    async with services.db.session() as session:
        core = [tuple(row) for row in await column_rows(session, stmt, params)]
        assert len(seen) == len(finished) == 1
        for _ in range(2):  # compiled at the first call, reused at the second
            rows = await plain.rows(session, params)
            # it ran on the driver, not through Core (which reports it when done too);
            # listeners still saw it
            assert len(finished) == 1 and "FROM home_feed_entry" in seen[-1]
            assert rows == core
            for ours, theirs in zip(rows, core, strict=True):
                # equal is not enough: True == 1, and naive and aware datetimes differ
                assert [type(v) for v in ours] == [type(v) for v in theirs]
                for value in ours:
                    if isinstance(value, datetime):
                        assert value.tzinfo is UTC
    assert len(core) == 5  # four posts and the boost
    assert any(row[20] is not None for row in core)  # post.edited_at, set above
    assert sum(1 for row in core if row[-3]) == 1  # alice's like, read with the rows
    assert {type(row[5]) for row in core} == {bool}  # post.local


async def test_other_date_types_read_as_core_reads_them(
    services: Services, make_user: Callable[..., Any]
) -> None:
    """Only our models' aware dates take the fast parse; a plain ``DateTime`` stays naive,
    as SQLAlchemy reads it."""
    alice = await make_user("alice", "correct horse battery")
    stmt = select(
        Actor.id,
        Actor.created_at,
        type_coerce(Actor.created_at, DateTime()).label("naive"),
    ).where(Actor.id == bindparam("id"))
    async with services.db.session() as session:
        core = [tuple(r) for r in await column_rows(session, stmt, {"id": alice.id})]
        rows = await PlainSelect(stmt).rows(session, {"id": alice.id})
    assert rows == core
    [(_, aware, naive)] = rows
    assert aware.tzinfo is UTC and naive.tzinfo is None
    assert aware.replace(tzinfo=None) == naive


async def test_a_page_with_a_cursor_binds_it(
    services: Services, make_user: Callable[..., Any]
) -> None:
    alice = await _seeded(services, make_user)
    stmt = apq._home_statement(True, False, False)
    async with services.db.session() as session:
        first = await PlainSelect(apq._home_statement(False, False, False)).rows(
            session,
            {"viewer": alice.id, "limit": 2, "max_id": None, "since_id": None, "min_id": None},
        )
        params = {"viewer": alice.id, "limit": 40, "max_id": first[-1][0]}
        params.update(since_id=None, min_id=None)
        rows = await PlainSelect(stmt).rows(session, params)
        assert rows == [tuple(r) for r in await column_rows(session, stmt, params)]
    assert len(first) == 2 and len(rows) == 3
    assert all(row[0] < first[-1][0] for row in rows)


async def test_reads_inside_a_transaction_see_its_writes(
    services: Services, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice", "correct horse battery")
    stmt = select(Actor.id, Actor.display_name).where(Actor.id == bindparam("id"))
    plain = PlainSelect(stmt)
    async with services.db.transaction() as session:
        actor = await session.get(Actor, alice.id)
        assert actor is not None
        actor.display_name = "Renamed"
        session.add(actor)
        await session.flush()
        assert await plain.rows(session, {"id": alice.id}) == [(alice.id, "Renamed")]
        # a write held back (``deferred_writes``) goes first, with Core's statement
        with deferred_writes():
            await session.exec(  # type: ignore[call-overload]
                Actor.__table__.update()  # type: ignore[attr-defined]
                .where(Actor.__table__.c.id == alice.id)  # type: ignore[attr-defined]
                .values(display_name="Again")
            )
            assert await plain.rows(session, {"id": alice.id}) == [(alice.id, "Again")]


async def test_an_error_is_raised_as_sqlalchemy_raises_it(services: Services) -> None:
    stmt = select(Actor.id).where(Actor.id == bindparam("id"))
    plain = PlainSelect(stmt)
    async with services.db.session() as session:
        assert await plain.rows(session, {"id": 1}) == []
    async with services.db.engine.begin() as conn:
        await conn.exec_driver_sql("ALTER TABLE actor RENAME TO actor_gone")
    try:
        async with services.db.session() as session:
            with pytest.raises(OperationalError, match="no such table"):
                await plain.rows(session, {"id": 1})
    finally:
        async with services.db.engine.begin() as conn:
            await conn.exec_driver_sql("ALTER TABLE actor_gone RENAME TO actor")


async def test_a_list_given_per_call_is_refused(services: Services) -> None:
    stmt = select(Actor.id).where(Actor.id.in_(bindparam("ids", expanding=True)))  # type: ignore[union-attr]
    async with services.db.session() as session:
        with pytest.raises(ValueError, match="expand"):
            await PlainSelect(stmt).rows(session, {"ids": [1, 2]})


def test_stored_datetimes_read_as_utc() -> None:
    assert utc_datetime(None) is None
    plain = utc_datetime("2026-11-25 03:29:02.438849")
    assert plain == datetime(2026, 11, 25, 3, 29, 2, 438849, tzinfo=UTC)
    assert plain is not None and plain.tzinfo is UTC
    shifted = utc_datetime("2026-11-25T05:29:02+02:00")
    assert shifted == datetime(2026, 11, 25, 3, 29, 2, tzinfo=UTC)
    assert shifted is not None and shifted.tzinfo is UTC
    with pytest.raises(ValueError):
        utc_datetime("yesterday")
