"""Batch lookups behind the client API's entities: counts, fields, mentions, bookmarks and
relationships for many rows at once (a timeline page is a few queries, not one per post).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, literal, union_all, update
from sqlalchemy import delete as sa_delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import column_rows
from storage.federation_models import Block, Mention, Notification
from storage.in_lists import padded
from storage.models import Actor, Boost, Follow, Hashtag, Like, LocalUser, Post
from storage.oauth_models import Bookmark, IdempotencyKey, Marker, ProfileField


@dataclass
class AccountStats:
    followers: int = 0
    following: int = 0
    statuses: int = 0
    last_status_at: datetime | None = None


# The statements a timeline page runs are built once, with their id lists as expanding
# parameters: building one costs more Python than SQLite spends answering it, and a
# statement object built once also keeps its cache key (SQLAlchemy memoizes it).
IDS = bindparam("ids", expanding=True)
VIEWER = bindparam("viewer")


def _count(*conditions: Any) -> Any:
    return select(func.count()).where(*conditions).scalar_subquery()


_ACCEPTED = col(Follow.state) == "accepted"
_STATS = select(
    col(Actor.id),
    _count(col(Follow.followee_id) == col(Actor.id), _ACCEPTED),
    _count(col(Follow.follower_id) == col(Actor.id), _ACCEPTED),
    _count(col(Post.actor_id) == col(Actor.id)),
    select(func.max(Post.created_at)).where(col(Post.actor_id) == col(Actor.id)).scalar_subquery(),
).where(col(Actor.id).in_(IDS))
_FIELDS = (
    select(ProfileField)
    .where(col(ProfileField.actor_id).in_(IDS))
    .order_by(col(ProfileField.actor_id), col(ProfileField.position))
)
_MENTIONS = (
    select(Mention.post_id, Actor)
    .join(Actor, col(Actor.id) == col(Mention.actor_id))
    .where(col(Mention.post_id).in_(IDS))
)
_MARKS = union_all(
    *(
        select(literal(kind), col(model.post_id)).where(
            col(model.actor_id) == VIEWER, col(model.post_id).in_(IDS)
        )
        for kind, model in ((0, Like), (1, Boost), (2, Bookmark))
    )
)
_AUTHORS = select(Post.id, Post.actor_id).where(col(Post.id).in_(IDS))


async def account_stats(session: AsyncSession, ids: Sequence[int]) -> dict[int, AccountStats]:
    """Counts and last post time of many accounts in one statement.

    One row per account, each figure a correlated subquery that SQLite answers from a
    covering index (``ix_follow_followee_state``, ``ix_follow_follower_state`` and
    ``ix_post_actor_created``): a timeline page names about forty accounts, and three
    grouped queries over their rows cost a table read per post they ever made (80 ms a
    page at 100,000 posts) plus a thread hand-off each in aiosqlite.
    """
    stats: dict[int, AccountStats] = {i: AccountStats() for i in ids}
    if not ids:
        return stats
    result = await session.exec(_STATS, params={"ids": padded(ids)})
    for i, followers, following, statuses, last in result.all():
        stats[i] = AccountStats(int(followers), int(following), int(statuses), last)
    return stats


async def profile_fields(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, list[ProfileField]]:
    grouped: dict[int, list[ProfileField]] = defaultdict(list)
    if not ids:
        return grouped
    for row in (await session.exec(_FIELDS, params={"ids": padded(ids)})).all():
        grouped[row.actor_id].append(row)
    return grouped


async def mentions_of(session: AsyncSession, post_ids: Sequence[int]) -> dict[int, list[Actor]]:
    grouped: dict[int, list[Actor]] = defaultdict(list)
    if not post_ids:
        return grouped
    for post_id, actor in (await session.exec(_MENTIONS, params={"ids": padded(post_ids)})).all():
        grouped[post_id].append(actor)
    return grouped


async def bookmarked(session: AsyncSession, viewer_id: int, post_ids: Sequence[int]) -> set[int]:
    if not post_ids:
        return set()
    result = await session.exec(
        select(Bookmark.post_id).where(
            Bookmark.actor_id == viewer_id, col(Bookmark.post_id).in_(padded(post_ids))
        )
    )
    return set(result.all())


async def viewer_marks(
    session: AsyncSession, viewer_id: int, post_ids: Sequence[int]
) -> tuple[set[int], set[int], set[int]]:
    """Which of these posts the viewer has liked, boosted and bookmarked, in one statement
    (one hand-off to the database thread instead of three)."""
    found: tuple[set[int], set[int], set[int]] = (set(), set(), set())
    if not post_ids:
        return found
    params = {"viewer": viewer_id, "ids": padded(post_ids)}
    for kind, post_id in await column_rows(session, _MARKS, params):
        found[kind].add(post_id)
    return found


async def delete_bookmark(session: AsyncSession, actor_id: int, post_id: int) -> None:
    await session.exec(  # type: ignore[call-overload]
        sa_delete(Bookmark).where(
            col(Bookmark.actor_id) == actor_id, col(Bookmark.post_id) == post_id
        )
    )


async def authors_of(session: AsyncSession, post_ids: Sequence[int]) -> dict[int, int]:
    """post id → author id (for ``in_reply_to_account_id``)."""
    if not post_ids:
        return {}
    result = await session.exec(_AUTHORS, params={"ids": padded(post_ids)})
    return {post_id: actor_id for post_id, actor_id in result.all()}


@dataclass
class Ties:
    following: bool = False
    requested: bool = False
    followed_by: bool = False
    requested_by: bool = False
    blocking: bool = False
    blocked_by: bool = False


async def relationships(
    session: AsyncSession, viewer_id: int, target_ids: Sequence[int]
) -> dict[int, Ties]:
    ties = {i: Ties() for i in target_ids}
    if not target_ids:
        return ties
    targets = padded(target_ids)
    outgoing = await session.exec(
        select(Follow.followee_id, Follow.state).where(
            Follow.follower_id == viewer_id, col(Follow.followee_id).in_(targets)
        )
    )
    for target, state in outgoing.all():
        ties[target].following = state == "accepted"
        ties[target].requested = state == "pending"
    incoming = await session.exec(
        select(Follow.follower_id, Follow.state).where(
            Follow.followee_id == viewer_id, col(Follow.follower_id).in_(targets)
        )
    )
    for target, state in incoming.all():
        ties[target].followed_by = state == "accepted"
        ties[target].requested_by = state == "pending"
    blocks = await session.exec(
        select(Block.target_id).where(
            Block.actor_id == viewer_id, col(Block.target_id).in_(targets)
        )
    )
    for target in blocks.all():
        ties[target].blocking = True
    blocked = await session.exec(
        select(Block.actor_id).where(Block.target_id == viewer_id, col(Block.actor_id).in_(targets))
    )
    for target in blocked.all():
        ties[target].blocked_by = True
    return ties


async def moved_targets(session: AsyncSession, ids: Sequence[int]) -> dict[int, Actor]:
    """The accounts that moved accounts point to, by id; suspended ones left out."""
    if not ids:
        return {}
    result = await session.exec(
        select(Actor).where(col(Actor.id).in_(padded(ids)), col(Actor.suspended).is_(False))
    )
    return {actor.id: actor for actor in result.all()}


async def visible_account(session: AsyncSession, actor_id: int) -> Actor | None:
    """An account the API may show: remote and not suspended, or local, active and a real
    user (not the instance actor)."""
    actor = await session.get(Actor, actor_id)
    if actor is None or actor.suspended:
        return None
    if actor.domain is None:
        user = await session.get(LocalUser, actor_id)
        if user is None or user.disabled or not user.approved:
            return None
    return actor


async def peers(session: AsyncSession) -> list[str]:
    result = await session.exec(
        select(Actor.domain)
        .where(col(Actor.domain).is_not(None))
        .distinct()
        .order_by(col(Actor.domain))
    )
    return [d for d in result.all() if d]


async def count_posts(session: AsyncSession) -> int:
    result = await session.exec(select(func.count()).select_from(Post))
    return int(result.one())


async def hashtags_starting(session: AsyncSession, prefix: str, *, limit: int) -> list[Hashtag]:
    prefix = prefix.lower().replace("\\", "").replace("%", "").replace("_", r"\_")
    result = await session.exec(
        select(Hashtag)
        .where(col(Hashtag.name).like(f"{prefix}%", escape="\\"))
        .order_by(col(Hashtag.name))
        .limit(limit)
    )
    return list(result.all())


async def post_by_url(session: AsyncSession, url: str) -> Post | None:
    result = await session.exec(
        select(Post).where((col(Post.ap_id) == url) | (col(Post.url) == url)).limit(1)
    )
    return result.first()


async def idempotent_post(session: AsyncSession, actor_id: int, key: str) -> IdempotencyKey | None:
    return await session.get(IdempotencyKey, (actor_id, key))


async def markers(session: AsyncSession, actor_id: int, timelines: Sequence[str]) -> list[Marker]:
    result = await session.exec(
        select(Marker).where(Marker.actor_id == actor_id, col(Marker.timeline).in_(list(timelines)))
    )
    return list(result.all())


async def notification_row(
    session: AsyncSession, recipient_id: int, note_id: int
) -> tuple[Notification, Actor, Post | None] | None:
    note = await session.get(Notification, note_id)
    if note is None or note.recipient_id != recipient_id:
        return None
    who = await session.get(Actor, note.from_actor_id)
    if who is None:
        return None
    post = await session.get(Post, note.post_id) if note.post_id else None
    return note, who, post


async def delete_notifications(
    session: AsyncSession, recipient_id: int, note_id: int | None
) -> int:
    """Delete one notification of ``recipient_id`` (or all, when ``note_id`` is None)."""
    stmt = sa_delete(Notification).where(col(Notification.recipient_id) == recipient_id)
    if note_id is not None:
        stmt = stmt.where(col(Notification.id) == note_id)
    result = await session.exec(stmt)  # type: ignore[call-overload]
    return int(result.rowcount or 0)


async def mark_read_up_to(session: AsyncSession, recipient_id: int, last_id: int) -> None:
    """Notifications up to a client's read marker count as read on the web too."""
    await session.exec(  # type: ignore[call-overload]
        update(Notification)
        .where(
            col(Notification.recipient_id) == recipient_id,
            col(Notification.id) <= last_id,
            col(Notification.read).is_(False),
        )
        .values(read=True)
    )
