"""Named queries about actors and local users."""

from __future__ import annotations

from sqlalchemy import bindparam, delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Actor, Follow, LocalUser, WebSession


async def local_actor_by_username(session: AsyncSession, username: str) -> Actor | None:
    result = await session.exec(
        select(Actor).where(Actor.username_lower == username.lower(), col(Actor.domain).is_(None))
    )
    return result.first()


async def actor_by_handle(session: AsyncSession, username: str, domain: str | None) -> Actor | None:
    if domain is None:
        return await local_actor_by_username(session, username)
    result = await session.exec(
        select(Actor).where(Actor.username_lower == username.lower(), Actor.domain == domain)
    )
    return result.first()


async def local_user(session: AsyncSession, actor_id: int) -> LocalUser | None:
    return await session.get(LocalUser, actor_id)


async def local_user_with_actor(
    session: AsyncSession, username: str
) -> tuple[Actor, LocalUser] | None:
    result = await session.exec(
        select(Actor, LocalUser)
        .join(LocalUser, col(LocalUser.actor_id) == col(Actor.id))
        .where(Actor.username_lower == username.lower(), col(Actor.domain).is_(None))
    )
    row = result.first()
    return (row[0], row[1]) if row else None


async def list_local_users(session: AsyncSession) -> list[tuple[Actor, LocalUser]]:
    result = await session.exec(
        select(Actor, LocalUser)
        .join(LocalUser, col(LocalUser.actor_id) == col(Actor.id))
        .order_by(col(Actor.id))
    )
    return [(a, u) for a, u in result.all()]


async def count_local_users(session: AsyncSession) -> int:
    result = await session.exec(select(func.count()).select_from(LocalUser))
    return int(result.one())


async def pending_signups(session: AsyncSession) -> list[tuple[Actor, LocalUser]]:
    result = await session.exec(
        select(Actor, LocalUser)
        .join(LocalUser, col(LocalUser.actor_id) == col(Actor.id))
        .where(col(LocalUser.approved).is_(False))
        .order_by(col(Actor.id))
    )
    return [(a, u) for a, u in result.all()]


_FOLLOW_BETWEEN = select(Follow).where(
    col(Follow.follower_id) == bindparam("follower_id"),
    col(Follow.followee_id) == bindparam("followee_id"),
)


async def follow_between(
    session: AsyncSession, follower_id: int, followee_id: int
) -> Follow | None:
    """The follow of ``followee_id`` by ``follower_id`` in any state (asked on every
    signed-in profile page, so the statement is built once)."""
    params = {"follower_id": follower_id, "followee_id": followee_id}
    result = await session.exec(_FOLLOW_BETWEEN, params=params)  # type: ignore[call-overload]
    return result.first()  # type: ignore[no-any-return]


async def follow_counts(session: AsyncSession, actor_id: int) -> tuple[int, int]:
    """(followers, following) counting accepted follows only."""
    followers = await session.exec(
        select(func.count())
        .select_from(Follow)
        .where(Follow.followee_id == actor_id, Follow.state == "accepted")
    )
    following = await session.exec(
        select(func.count())
        .select_from(Follow)
        .where(Follow.follower_id == actor_id, Follow.state == "accepted")
    )
    return int(followers.one()), int(following.one())


async def delete_sessions_except(
    session: AsyncSession, actor_id: int, keep_token_hash: str | None
) -> None:
    """Sign an account out of every web session but ``keep_token_hash`` (if given)."""
    stmt = delete(WebSession).where(col(WebSession.actor_id) == actor_id)
    if keep_token_hash is not None:
        stmt = stmt.where(col(WebSession.token_hash) != keep_token_hash)
    await session.exec(stmt)  # type: ignore[call-overload]


_WEB_SESSION = (
    select(WebSession, Actor, LocalUser)
    .join(Actor, col(Actor.id) == col(WebSession.actor_id))
    .join(LocalUser, col(LocalUser.actor_id) == col(WebSession.actor_id))
    .where(col(WebSession.token_hash) == bindparam("token_hash"))
)


async def web_session_context(
    session: AsyncSession, token_hash: str
) -> tuple[WebSession, Actor, LocalUser] | None:
    """A browser session with its account and user, in one statement (built once): every
    signed-in page asks, and three lookups by key cost three round trips."""
    row = (await session.exec(_WEB_SESSION, params={"token_hash": token_hash})).first()  # type: ignore[call-overload]
    return (row[0], row[1], row[2]) if row else None
