"""Home feeds: which posts and boosts each local account's home timeline lists.

Mastodon's design on SQL. A line is written when something arrives (a post, a boost, a
follow being accepted), in the transaction that stores it, and removed when its reason
goes (unfollow, block, a deleted post or boost: foreign keys cascade). Reading home is
then one index search, ``home_feed_entry (owner_id, entry_id < ?)``, newest first, for a
page; no walk through ``post`` that costs the whole table when the follows are quiet.

Who gets a line:

* a post: its (local) author, whatever the visibility; the author's local accepted
  followers for public, unlisted and followers-only posts (a direct message is only in
  its author's home, as the timeline query always had it);
* a boost of a public or unlisted post: the (local) booster and their local followers;
* an accepted follow: the newest ``FOLLOW_BACKFILL`` posts and boosts of the followed
  account land in the follower's feed at once.

Who may see a line is still checked when reading (visibility, blocks), so a post turned
followers-only, or a follow that ended without its lines, never shows a post to someone
it is not meant for. Every statement ignores lines already there (``INSERT OR IGNORE`` on
SQLite, ``ON CONFLICT DO NOTHING`` on PostgreSQL): writing a line twice (a repeated
delivery, an edit fanning out again) changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, Insert, bindparam, delete, insert, literal, null, union_all
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Boost, Follow, HomeFeedEntry, LocalUser, Post
from storage.posts import unindexed

FOLLOW_BACKFILL = 400
"""Posts (and as many boosts) of a newly followed account copied into the follower's
feed, as Mastodon merges a followed account's recent statuses; older ones are on the
account's profile."""

REBUILD_LIMIT = 800
"""Lines per account when a whole feed is built from existing rows (benchmark seeding, as
migration 0005 did): the newest stretch of history, not all of it."""

FOLLOWER_VISIBILITIES = ("public", "unlisted", "followers")
BOOSTABLE = ("public", "unlisted")
COLUMNS = ("owner_id", "entry_id", "post_id", "boost_id", "via_id")


def _visibility() -> Any:
    """``post.visibility`` as a filter only: without statistics SQLite would otherwise read
    every public post through ``ix_post_visibility_local_id`` (see ``unindexed``)."""
    return unindexed(col(Post.visibility))


def _insert(rows: Any, dialect: str = "sqlite") -> Insert:
    """(owner, entry, post, boost, via) rows from a select, skipping lines already there."""
    table = HomeFeedEntry.__table__  # type: ignore[attr-defined]
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql  # only there (storage.remote_queries)

        return postgresql.insert(table).from_select(list(COLUMNS), rows).on_conflict_do_nothing()
    return insert(table).from_select(list(COLUMNS), rows).prefix_with("OR IGNORE")


def _dialect(session: AsyncSession) -> str:
    bind = session.bind
    return bind.dialect.name if bind is not None else "sqlite"


def _id(value: int) -> Any:
    """An id as a 64-bit SQL literal: untyped, PostgreSQL would take it for a 32-bit
    integer, and our time-ordered ids do not fit one."""
    return literal(value, BigInteger)


def _local(actor_id: Any) -> Any:
    return select(LocalUser.actor_id).where(col(LocalUser.actor_id) == actor_id)


def _local_followers(actor_id: Any) -> Any:
    return (
        select(Follow.follower_id)
        .join(LocalUser, col(LocalUser.actor_id) == col(Follow.follower_id))
        .where(col(Follow.followee_id) == actor_id, col(Follow.state) == "accepted")
    )


def _audience(actor_id: int, *, followers: bool) -> Any:
    """The actor (when local) and, if ``followers``, its local accepted followers."""
    own = _local(actor_id)
    return union_all(own, _local_followers(actor_id)).subquery() if followers else own.subquery()


def _add_post_statement(session: AsyncSession, visibility: str) -> Any:
    shape = (visibility in FOLLOWER_VISIBILITIES, _dialect(session))
    stmt = _ADD_POST.get(shape)
    if stmt is None:
        author = bindparam("author_id", type_=BigInteger)
        post_id = bindparam("post_id", type_=BigInteger)
        owners = _audience(author, followers=shape[0])
        rows = select(owners.c[0], post_id, post_id, null(), author)
        stmt = _ADD_POST[shape] = _insert(rows, shape[1])
    return stmt


async def add_post(session: AsyncSession, post: Post) -> None:
    """Lines for a new post, local or remote (stored in this transaction)."""
    await session.flush()
    params = {"author_id": post.actor_id, "post_id": post.id}
    await session.exec(_add_post_statement(session, post.visibility), params=params)  # type: ignore[call-overload]


async def add_posts(session: AsyncSession, posts: Sequence[Mapping[str, Any]]) -> None:
    """``add_post`` for many new posts (rows with ``id``, ``actor_id``, ``visibility``):
    one ``executemany`` per statement shape."""
    grouped: dict[Any, list[dict[str, int]]] = {}
    for post in posts:
        stmt = _add_post_statement(session, post["visibility"])
        grouped.setdefault(stmt, []).append({"author_id": post["actor_id"], "post_id": post["id"]})
    for stmt, params in grouped.items():
        await session.exec(stmt, params=params)  # type: ignore[call-overload]


_ADD_POST: dict[tuple[bool, str], Any] = {}
"""Built once per (followers see it, dialect): every post stored, local or from the
inbox, runs one."""


async def add_boost(session: AsyncSession, booster_id: int, post_id: int) -> None:
    """Lines for the boost of ``post_id`` by ``booster_id`` (stored in this transaction)."""
    await session.flush()
    found = (
        await session.exec(
            select(Boost.id)
            .join(Post, col(Post.id) == col(Boost.post_id))
            .where(
                col(Boost.actor_id) == booster_id,
                col(Boost.post_id) == post_id,
                _visibility().in_(BOOSTABLE),
            )
        )
    ).first()
    if found is None:
        return
    owners = _audience(booster_id, followers=True)
    rows = select(owners.c[0], _id(found), _id(post_id), _id(found), _id(booster_id))
    await session.exec(_insert(rows, _dialect(session)))  # type: ignore[call-overload]


def _recent_of(owner_id: int, author_id: int, limit: int) -> tuple[Any, Any]:
    """The author's newest posts (those followers may see) and boosts, as lines of
    ``owner_id``'s feed."""
    owner = _id(owner_id)
    posts = (
        select(owner, col(Post.id), col(Post.id), null(), col(Post.actor_id))
        .where(col(Post.actor_id) == author_id, _visibility().in_(FOLLOWER_VISIBILITIES))
        .order_by(col(Post.id).desc())
        .limit(limit)
    )
    boosts = (
        select(owner, col(Boost.id), col(Boost.post_id), col(Boost.id), col(Boost.actor_id))
        .join(Post, col(Post.id) == col(Boost.post_id))
        .where(col(Boost.actor_id) == author_id, _visibility().in_(BOOSTABLE))
        .order_by(col(Boost.id).desc())
        .limit(limit)
    )
    return posts, boosts


async def backfill(
    session: AsyncSession, owner_id: int, author_id: int, limit: int = FOLLOW_BACKFILL
) -> None:
    """``owner_id`` now follows ``author_id`` (accepted): copy the author's recent posts
    and boosts into the owner's feed. Nothing when the owner is a remote account."""
    if (await session.exec(_local(owner_id))).first() is None:
        return
    await session.flush()
    for part in _recent_of(owner_id, author_id, limit):
        await session.exec(_insert(part, _dialect(session)))  # type: ignore[call-overload]


async def remove_author(session: AsyncSession, owner_id: int, author_id: int) -> None:
    """``owner_id`` stopped following ``author_id``: their posts and boosts leave the feed
    (the owner's own boosts of them stay, as they would on a profile)."""
    await session.flush()
    await session.exec(  # type: ignore[call-overload]
        delete(HomeFeedEntry).where(
            col(HomeFeedEntry.owner_id) == owner_id, col(HomeFeedEntry.via_id) == author_id
        )
    )


def rebuild_statement(owner_id: int, limit: int = REBUILD_LIMIT) -> Insert:
    """The newest ``limit`` lines of one account's feed built from the existing rows (its
    own posts and boosts, and those of the accounts it follows), for seeding a benchmark
    database. A plain statement, so a synchronous connection runs it as well as a session.

    Posts are walked newest first by primary key with the author as a filter: about
    ``limit`` times (accounts / followed accounts) rows for someone following active
    accounts, fourteen times faster than gathering every post of every followed account
    and sorting them; the walk would cost the whole table for someone whose follows are
    quiet (the migration that introduced feeds gathers and sorts instead).
    """
    followed = select(Follow.followee_id).where(
        col(Follow.follower_id) == owner_id, col(Follow.state) == "accepted"
    )
    owner, author = _id(owner_id), unindexed(col(Post.actor_id))
    posts = (
        select(owner, col(Post.id), col(Post.id), null(), col(Post.actor_id))
        .where(
            (author == owner_id) | (author.in_(followed) & _visibility().in_(FOLLOWER_VISIBILITIES))
        )
        .order_by(col(Post.id).desc())
        .limit(limit)
    )
    boosts = (
        select(owner, col(Boost.id), col(Boost.post_id), col(Boost.id), col(Boost.actor_id))
        .join(Post, col(Post.id) == col(Boost.post_id))
        .where(
            (col(Boost.actor_id) == owner_id) | col(Boost.actor_id).in_(followed),
            _visibility().in_(BOOSTABLE),
        )
        .order_by(col(Boost.id).desc())
        .limit(limit)
    )
    every = union_all(posts.subquery().select(), boosts.subquery().select()).subquery()
    return _insert(select(every).order_by(every.c[1].desc()).limit(limit))


__all__ = [
    "FOLLOW_BACKFILL",
    "REBUILD_LIMIT",
    "add_boost",
    "add_post",
    "backfill",
    "rebuild_statement",
    "remove_author",
]
