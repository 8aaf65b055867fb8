"""The rows a ``Move`` changes: the moved account, its local followers and blockers."""

from __future__ import annotations

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.federation_models import Block
from storage.models import Actor, Follow

__all__ = ["local_blocks_of", "local_followers_of", "mark_moved"]


async def mark_moved(session: AsyncSession, actor_id: int, target_id: int) -> None:
    """``actor_id`` moved to ``target_id``; the target itself is where the account lives
    now, so a mark it carried (an earlier move the other way) is cleared."""
    await session.exec(  # type: ignore[call-overload]
        update(Actor).where(col(Actor.id) == actor_id).values(moved_to_id=target_id)
    )
    await session.exec(  # type: ignore[call-overload]
        update(Actor).where(col(Actor.id) == target_id).values(moved_to_id=None)
    )


async def local_followers_of(
    session: AsyncSession, followee_id: int, *, after: int, limit: int
) -> list[tuple[Follow, Actor]]:
    """Accepted follows of local accounts to ``followee_id`` with the follower, by follow
    id after ``after`` (a page at a time)."""
    result = await session.exec(
        select(Follow, Actor)
        .join(Actor, col(Actor.id) == col(Follow.follower_id))
        .where(
            col(Follow.followee_id) == followee_id,
            col(Follow.state) == "accepted",
            col(Actor.domain).is_(None),
            col(Follow.id) > after,
        )
        .order_by(col(Follow.id))
        .limit(limit)
    )
    return list(result.all())


async def local_blocks_of(
    session: AsyncSession, target_id: int, *, after: int, limit: int
) -> list[tuple[int, Actor]]:
    """(block id, blocker) of the blocks local accounts hold against ``target_id``, by
    block id after ``after``."""
    result = await session.exec(
        select(Block.id, Actor)
        .join(Actor, col(Actor.id) == col(Block.actor_id))
        .where(
            col(Block.target_id) == target_id, col(Actor.domain).is_(None), col(Block.id) > after
        )
        .order_by(col(Block.id))
        .limit(limit)
    )
    return [(block_id, actor) for block_id, actor in result.all()]
