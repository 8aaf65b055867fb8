"""Named queries for notifications, follow requests, blocks and account search."""

from __future__ import annotations

from sqlalchemy import bindparam, func, or_, update
from sqlalchemy import delete as sa_delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.federation_models import Block, Notification
from storage.models import Actor, Follow, LocalUser, Post


async def notifications_for(
    session: AsyncSession, recipient_id: int, *, limit: int
) -> list[tuple[Notification, Actor, Post | None]]:
    result = await session.exec(
        select(Notification, Actor, Post)
        .join(Actor, col(Actor.id) == col(Notification.from_actor_id))
        .join(Post, col(Post.id) == col(Notification.post_id), isouter=True)
        .where(col(Notification.recipient_id) == recipient_id)
        .order_by(col(Notification.id).desc())
        .limit(limit)
    )
    return [(n, a, p) for n, a, p in result.all()]


_UNREAD_COUNT = (
    select(func.count())
    .select_from(Notification)
    .where(
        col(Notification.recipient_id) == bindparam("recipient_id"),
        col(Notification.read).is_(False),
    )
)


async def unread_count(session: AsyncSession, recipient_id: int) -> int:
    """The badge on every signed-in page: built once."""
    result = await session.exec(_UNREAD_COUNT, params={"recipient_id": recipient_id})  # type: ignore[call-overload]
    return int(result.one())


async def mark_notifications_read(session: AsyncSession, recipient_id: int) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(Notification)
        .where(col(Notification.recipient_id) == recipient_id, col(Notification.read).is_(False))
        .values(read=True)
    )


async def pending_follow_requests(
    session: AsyncSession, followee_id: int
) -> list[tuple[Follow, Actor]]:
    result = await session.exec(
        select(Follow, Actor)
        .join(Actor, col(Actor.id) == col(Follow.follower_id))
        .where(col(Follow.followee_id) == followee_id, col(Follow.state) == "pending")
        .order_by(col(Follow.id))
    )
    return [(f, a) for f, a in result.all()]


_BLOCK_BETWEEN = select(Block).where(
    col(Block.actor_id) == bindparam("actor_id"), col(Block.target_id) == bindparam("target_id")
)


async def block_between(session: AsyncSession, actor_id: int, target_id: int) -> Block | None:
    """Whether ``actor_id`` blocks ``target_id`` (asked on every signed-in profile and post
    page, so the statement is built once)."""
    params = {"actor_id": actor_id, "target_id": target_id}
    result = await session.exec(_BLOCK_BETWEEN, params=params)  # type: ignore[call-overload]
    return result.first()  # type: ignore[no-any-return]


async def search_local_actors(session: AsyncSession, prefix: str, *, limit: int) -> list[Actor]:
    """Local, active accounts whose name starts with ``prefix`` (an index range scan)."""
    prefix = prefix.lower().replace("%", "").replace("_", r"\_")
    result = await session.exec(
        select(Actor)
        .join(LocalUser, col(LocalUser.actor_id) == col(Actor.id))
        .where(
            col(Actor.domain).is_(None),
            col(Actor.username_lower).like(f"{prefix}%", escape="\\"),
            col(LocalUser.disabled).is_(False),
            col(LocalUser.approved).is_(True),
        )
        .order_by(col(Actor.username_lower))
        .limit(limit)
    )
    return list(result.all())


async def blocks_either_way(session: AsyncSession, a: int, b: int) -> bool:
    """Whether either account blocks the other."""
    result = await session.exec(
        select(Block.id).where(
            or_(
                (col(Block.actor_id) == a) & (col(Block.target_id) == b),
                (col(Block.actor_id) == b) & (col(Block.target_id) == a),
            )
        )
    )
    return result.first() is not None


async def delete_follow_notifications(
    session: AsyncSession, recipient_id: int, from_actor_id: int
) -> None:
    """The follow and follow-request notifications ``from_actor_id`` left ``recipient_id``
    (a follow that ends with a block)."""
    await session.exec(  # type: ignore[call-overload]
        sa_delete(Notification).where(
            col(Notification.recipient_id) == recipient_id,
            col(Notification.from_actor_id) == from_actor_id,
            col(Notification.kind).in_(("follow", "follow_request")),
        )
    )
