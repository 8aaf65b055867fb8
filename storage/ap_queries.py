"""Named queries behind the ActivityPub documents: who may be served, what goes in each
collection, and the instance's NodeInfo numbers.

Only accounts that can sign in are federated: a disabled, unapproved or suspended account
answers 404, like its profile page. The instance actor has no ``localuser`` row, so it is
looked up by its own id and never appears where people are listed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy import func, union
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import Database
from storage.in_lists import padded
from storage.models import Actor, Follow, Hashtag, LocalUser, Post, PostHashtag, WebSession

OUTBOX_VISIBILITIES = ("public", "unlisted")
"""What an anonymous fetch of an outbox lists (Mastodon's rule): everything but
followers-only and direct posts, whose audience a signed fetch must prove first."""


async def federated_local_actor(session: AsyncSession, username: str) -> Actor | None:
    """A local account that is active (approved, not disabled, not suspended), by name."""
    result = await session.exec(
        select(Actor)
        .join(LocalUser, col(LocalUser.actor_id) == col(Actor.id))
        .where(
            Actor.username_lower == username.lower(),
            col(Actor.domain).is_(None),
            col(Actor.suspended).is_(False),
            col(LocalUser.disabled).is_(False),
            col(LocalUser.approved).is_(True),
        )
    )
    return result.first()


async def actor_by_ap_id(session: AsyncSession, ap_id: str) -> Actor | None:
    return (await session.exec(select(Actor).where(Actor.ap_id == ap_id))).first()


async def get_or_create_instance_actor(
    db: Database, ap_id: str, make: Callable[[], Awaitable[Actor]]
) -> Actor:
    """The instance actor's row, made on first use (with its key pair, by ``make``).

    It takes the database rather than a session because it owns its transaction: two
    first requests racing both insert, the unique ``ap_id`` refuses the second, and the
    loser reads the winner's row instead of failing.
    """
    async with db.session() as session:
        found = await actor_by_ap_id(session, ap_id)
    if found is not None:
        return found
    actor = await make()
    try:
        async with db.transaction() as session:
            session.add(actor)
    except IntegrityError:
        async with db.session() as session:
            found = await actor_by_ap_id(session, ap_id)
        if found is None:
            raise
        return found
    return actor


async def outbox_count(session: AsyncSession, actor_id: int) -> int:
    result = await session.exec(
        select(func.count())
        .select_from(Post)
        .where(Post.actor_id == actor_id, col(Post.visibility).in_(OUTBOX_VISIBILITIES))
    )
    return int(result.one())


async def outbox_posts(
    session: AsyncSession, actor_id: int, *, max_id: int | None, limit: int
) -> list[Post]:
    """Newest first, ``max_id`` exclusive."""
    stmt = select(Post).where(
        Post.actor_id == actor_id, col(Post.visibility).in_(OUTBOX_VISIBILITIES)
    )
    if max_id is not None:
        stmt = stmt.where(col(Post.id) < max_id)
    result = await session.exec(stmt.order_by(col(Post.id).desc()).limit(limit))
    return list(result.all())


async def tags_for(session: AsyncSession, post_ids: Sequence[int]) -> dict[int, list[Hashtag]]:
    """Hashtags of many posts in one query (an outbox page has twenty)."""
    if not post_ids:
        return {}
    result = await session.exec(
        select(PostHashtag.post_id, Hashtag)
        .join(Hashtag, col(Hashtag.id) == col(PostHashtag.hashtag_id))
        .where(col(PostHashtag.post_id).in_(padded(post_ids)))
        .order_by(col(Hashtag.name))
    )
    grouped: dict[int, list[Hashtag]] = defaultdict(list)
    for post_id, tag in result.all():
        grouped[post_id].append(tag)
    return grouped


async def follow_page(
    session: AsyncSession,
    actor_id: int,
    *,
    followers: bool,
    max_id: int | None,
    limit: int,
) -> list[tuple[int, str]]:
    """(follow id, other actor's ap_id) of accepted follows, newest first.

    ``followers=True`` lists who follows ``actor_id``; False, whom it follows. The cursor
    is the follow's id, so a page is stable while new follows arrive.
    """
    mine, other = (
        (Follow.followee_id, Follow.follower_id)
        if followers
        else (Follow.follower_id, Follow.followee_id)
    )
    stmt = (
        select(Follow.id, Actor.ap_id)
        .join(Actor, col(Actor.id) == col(other))
        .where(col(mine) == actor_id, Follow.state == "accepted")
    )
    if max_id is not None:
        stmt = stmt.where(col(Follow.id) < max_id)
    result = await session.exec(stmt.order_by(col(Follow.id).desc()).limit(limit))
    return [(follow_id, ap_id) for follow_id, ap_id in result.all()]


async def count_active_users(session: AsyncSession) -> int:
    result = await session.exec(
        select(func.count())
        .select_from(LocalUser)
        .where(col(LocalUser.approved).is_(True), col(LocalUser.disabled).is_(False))
    )
    return int(result.one())


async def count_users_active_since(session: AsyncSession, since: datetime) -> int:
    """Local accounts that signed in or posted since ``since``.

    We keep no last-sign-in time; a session started or a post made in the window is the
    evidence of activity NodeInfo's "signed in at least once" asks for.
    """
    signed_in = select(WebSession.actor_id).where(col(WebSession.created_at) >= since)
    posted = select(Post.actor_id).where(col(Post.local).is_(True), col(Post.created_at) >= since)
    active = union(signed_in, posted).subquery()
    result = await session.exec(
        select(func.count())
        .select_from(LocalUser)
        .where(
            col(LocalUser.actor_id).in_(select(active.c[0])),
            col(LocalUser.approved).is_(True),
            col(LocalUser.disabled).is_(False),
        )
    )
    return int(result.one())


async def count_local_posts(session: AsyncSession) -> int:
    result = await session.exec(
        select(func.count()).select_from(Post).where(col(Post.local).is_(True))
    )
    return int(result.one())
