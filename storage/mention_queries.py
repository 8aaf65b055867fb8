"""Named queries of mentions: finding the accounts a caption names, and a post's mentions.

A caption names accounts by handle; these look the handles up in one query each (local
names, then remote handles) so that a post naming thirty people costs two queries, not
thirty. Suspended, disabled and unapproved accounts cannot be mentioned: a mention links to
a profile and notifies, and neither should reach an account that is not in use.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import and_, or_
from sqlalchemy import delete as sa_delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.federation_models import Mention
from storage.in_lists import padded
from storage.models import Actor, LocalUser

__all__ = [
    "is_mentioned",
    "local_actors_named",
    "mentions_for",
    "remote_actors_by_handle",
    "replace_mentions",
]


async def local_actors_named(session: AsyncSession, names: Iterable[str]) -> dict[str, Actor]:
    """Active local accounts by lower-cased username."""
    lowered = sorted({name.lower() for name in names})
    if not lowered:
        return {}
    result = await session.exec(
        select(Actor)
        .join(LocalUser, col(LocalUser.actor_id) == col(Actor.id))
        .where(
            col(Actor.username_lower).in_(padded(lowered)),
            col(Actor.domain).is_(None),
            col(Actor.suspended).is_(False),
            col(LocalUser.disabled).is_(False),
            col(LocalUser.approved).is_(True),
        )
    )
    return {actor.username_lower: actor for actor in result.all()}


async def remote_actors_by_handle(
    session: AsyncSession, handles: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Actor]:
    """Known, unsuspended remote actors by (lower-cased name, lower-cased domain)."""
    wanted = sorted({(name.lower(), domain.lower()) for name, domain in handles})
    if not wanted:
        return {}
    result = await session.exec(
        select(Actor).where(
            or_(
                *(
                    and_(col(Actor.username_lower) == name, col(Actor.domain) == domain)
                    for name, domain in wanted
                )
            ),
            col(Actor.suspended).is_(False),
        )
    )
    return {(a.username_lower, (a.domain or "").lower()): a for a in result.all()}


async def mentions_for(session: AsyncSession, post_ids: Sequence[int]) -> dict[int, list[Actor]]:
    """The actors each post mentions, in a stable order (by actor id)."""
    if not post_ids:
        return {}
    result = await session.exec(
        select(Mention.post_id, Actor)
        .join(Actor, col(Actor.id) == col(Mention.actor_id))
        .where(col(Mention.post_id).in_(padded(post_ids)))
        .order_by(col(Mention.post_id), col(Actor.id))
    )
    found: dict[int, list[Actor]] = {}
    for post_id, actor in result.all():
        found.setdefault(post_id, []).append(actor)
    return found


async def is_mentioned(session: AsyncSession, post_id: int, actor_id: int) -> bool:
    row = await session.get(Mention, (post_id, actor_id))
    return row is not None


async def replace_mentions(
    session: AsyncSession, post_id: int, actors: Sequence[Actor]
) -> tuple[list[Actor], list[Actor]]:
    """Make ``actors`` the post's mentions; returns (newly mentioned, no longer mentioned)."""
    before = (await mentions_for(session, [post_id])).get(post_id, [])
    before_ids = {a.id for a in before}
    wanted = {a.id: a for a in actors}
    removed = [a for a in before if a.id not in wanted]
    added = [a for a in wanted.values() if a.id not in before_ids]
    if removed:
        await session.exec(  # type: ignore[call-overload]
            sa_delete(Mention).where(
                col(Mention.post_id) == post_id,
                col(Mention.actor_id).in_([a.id for a in removed]),
            )
        )
    for actor in added:
        session.add(Mention(post_id=post_id, actor_id=actor.id))
    await session.flush()
    return added, removed
