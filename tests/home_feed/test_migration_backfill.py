"""Migration 0005 fills the home feeds of a database that had posts, follows and boosts
before feeds existed, and the home timeline then reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlmodel import col, select

from storage import api_queries
from storage.db import Database
from storage.ids import new_id
from storage.migrate import upgrade
from storage.models import Actor, Boost, Follow, HomeFeedEntry, LocalUser, Post


def actor(name: str, *, domain: str | None = None) -> Actor:
    base = f"https://{domain}" if domain else "http://gallery.test"
    return Actor(
        id=new_id(),
        username=name,
        username_lower=name,
        domain=domain,
        ap_id=f"{base}/users/{name}",
    )


LATER_ACTOR_COLUMNS = {"moved_to_id"}  # added by migrations after 0004


def as_of_0004(row: Actor) -> dict[str, Any]:
    """An actor row's values for the schema of 0004 (the ORM model has later columns)."""
    return {
        column.name: getattr(row, column.name)
        for column in Actor.__table__.columns  # type: ignore[attr-defined]
        if column.name not in LATER_ACTOR_COLUMNS
    }


def post(author: Actor, visibility: str = "public") -> Post:
    post_id = new_id()
    return Post(
        id=post_id,
        actor_id=author.id,
        ap_id=f"{author.ap_id}/statuses/{post_id}",
        local=author.domain is None,
        visibility=visibility,
    )


def follow(follower: Actor, followee: Actor, state: str = "accepted") -> Follow:
    return Follow(id=new_id(), follower_id=follower.id, followee_id=followee.id, state=state)


async def feed_of(db: Database, owner: Actor) -> list[tuple[int, int, int | None]]:
    async with db.session() as session:
        rows = await session.exec(
            select(HomeFeedEntry)
            .where(col(HomeFeedEntry.owner_id) == owner.id)
            .order_by(col(HomeFeedEntry.entry_id).desc())
        )
        return [(r.entry_id, r.post_id, r.boost_id) for r in rows.all()]


async def test_backfill_of_a_database_from_before_home_feeds(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    await upgrade(db, "0004")
    alice, bob, dave, erin, frank = (actor(n) for n in ("alice", "bob", "dave", "erin", "frank"))
    carol = actor("carol", domain="elsewhere.example")
    everyone = [alice, bob, dave, erin, frank, carol]
    rows: list[Any] = [*everyone]
    rows += [LocalUser(actor_id=a.id, password_hash="x") for a in everyone if a.domain is None]
    rows += [follow(alice, bob), follow(alice, carol, "pending"), follow(erin, frank)]
    own_direct = post(alice, "direct")
    bob_public, bob_followers, bob_direct = (
        post(bob, v) for v in ("public", "followers", "direct")
    )
    carol_post = post(carol)
    rows += [own_direct, bob_public, bob_followers, bob_direct, carol_post]
    franks = [post(frank) for _ in range(805)]
    rows += franks
    async with db.transaction() as session:
        for row in rows:  # parents before children: foreign keys are on
            if isinstance(row, Actor):
                await session.exec(insert(Actor).values(**as_of_0004(row)))  # type: ignore[call-overload]
                continue
            session.add(row)
            await session.flush()
        boost = Boost(id=new_id(), actor_id=bob.id, post_id=carol_post.id)
        session.add(boost)

    await upgrade(db)

    assert await feed_of(db, alice) == [
        (boost.id, carol_post.id, boost.id),
        (bob_followers.id, bob_followers.id, None),
        (bob_public.id, bob_public.id, None),
        (own_direct.id, own_direct.id, None),
    ]
    assert await feed_of(db, bob) == [
        (boost.id, carol_post.id, boost.id),
        *[(p.id, p.id, None) for p in (bob_direct, bob_followers, bob_public)],
    ]
    assert await feed_of(db, dave) == []
    assert await feed_of(db, carol) == []  # remote accounts have no home here
    # Newest 800 lines an account: the oldest of frank's 805 posts stay on his profile.
    newest = sorted((p.id for p in franks), reverse=True)[:800]
    assert [entry for entry, _post, _boost in await feed_of(db, erin)] == newest

    async with db.session() as session:  # the client API's home reads what was filled
        entries = await api_queries.home(session, alice.id, api_queries.Page(limit=10))
    assert [(e.id, e.post.id) for e in entries] == [
        (boost.id, carol_post.id),
        (bob_followers.id, bob_followers.id),
        (bob_public.id, bob_public.id),
        (own_direct.id, own_direct.id),
    ]
    await db.dispose()
