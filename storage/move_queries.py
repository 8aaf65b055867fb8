"""The rows a ``Move`` changes: the moved account, its local followers and blockers."""

from __future__ import annotations

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.federation_models import Block
from storage.models import Actor, Follow

__all__ = ["local_blockers_of", "local_follows_of", "mark_moved"]


async def mark_moved(session: AsyncSession, actor_id: int, target_id: int) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(Actor).where(col(Actor.id) == actor_id).values(moved_to_id=target_id)
    )


async def local_follows_of(session: AsyncSession, followee_id: int) -> list[tuple[Follow, Actor]]:
    """The follows (accepted or pending) of local accounts to ``followee_id``, with the
    follower, oldest first."""
    result = await session.exec(
        select(Follow, Actor)
        .join(Actor, col(Actor.id) == col(Follow.follower_id))
        .where(col(Follow.followee_id) == followee_id, col(Actor.domain).is_(None))
        .order_by(col(Follow.id))
    )
    return list(result.all())


async def local_blockers_of(session: AsyncSession, target_id: int) -> list[Actor]:
    """The local accounts that block ``target_id``."""
    result = await session.exec(
        select(Actor)
        .join(Block, col(Block.actor_id) == col(Actor.id))
        .where(col(Block.target_id) == target_id, col(Actor.domain).is_(None))
        .order_by(col(Block.id))
    )
    return list(result.all())
