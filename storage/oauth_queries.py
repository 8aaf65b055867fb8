"""Named queries for OAuth apps and tokens (lookups are by hash; secrets never reach SQL)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Actor, LocalUser
from storage.oauth_models import OAuthApp, OAuthCode, OAuthToken


async def app_by_client_id(session: AsyncSession, client_id: str) -> OAuthApp | None:
    result = await session.exec(select(OAuthApp).where(OAuthApp.client_id == client_id))
    return result.first()


async def code_by_hash(session: AsyncSession, code_hash: str) -> OAuthCode | None:
    return await session.get(OAuthCode, code_hash)


async def token_by_hash(session: AsyncSession, token_hash: str) -> OAuthToken | None:
    result = await session.exec(select(OAuthToken).where(OAuthToken.token_hash == token_hash))
    return result.first()


async def token_by_refresh_hash(session: AsyncSession, refresh_hash: str) -> OAuthToken | None:
    result = await session.exec(select(OAuthToken).where(OAuthToken.refresh_hash == refresh_hash))
    return result.first()


async def token_context(
    session: AsyncSession, token_hash: str
) -> tuple[OAuthToken, OAuthApp, Actor | None, LocalUser | None] | None:
    """A live token with its app and (for user tokens) its account, in one round trip."""
    result = await session.exec(
        select(OAuthToken, OAuthApp, Actor, LocalUser)
        .join(OAuthApp, col(OAuthApp.id) == col(OAuthToken.app_id))
        .join(Actor, col(Actor.id) == col(OAuthToken.actor_id), isouter=True)
        .join(LocalUser, col(LocalUser.actor_id) == col(OAuthToken.actor_id), isouter=True)
        .where(col(OAuthToken.token_hash) == token_hash, col(OAuthToken.revoked_at).is_(None))
    )
    row = result.first()
    return (row[0], row[1], row[2], row[3]) if row else None


async def authorized_apps(
    session: AsyncSession, actor_id: int
) -> list[tuple[OAuthApp, OAuthToken]]:
    """Live tokens a person granted, newest first, with their apps."""
    result = await session.exec(
        select(OAuthApp, OAuthToken)
        .join(OAuthToken, col(OAuthToken.app_id) == col(OAuthApp.id))
        .where(col(OAuthToken.actor_id) == actor_id, col(OAuthToken.revoked_at).is_(None))
        .order_by(col(OAuthToken.id).desc())
    )
    return [(a, t) for a, t in result.all()]


async def revoke_tokens(session: AsyncSession, *, actor_id: int, app_id: int, now: datetime) -> int:
    """Revoke every live token of one app for one person; returns how many."""
    result = await session.exec(  # type: ignore[call-overload]
        update(OAuthToken)
        .where(
            col(OAuthToken.actor_id) == actor_id,
            col(OAuthToken.app_id) == app_id,
            col(OAuthToken.revoked_at).is_(None),
        )
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)


async def revoke_all_tokens(session: AsyncSession, *, actor_id: int, now: datetime) -> int:
    """Revoke every live token a person holds, whatever the app, and drop the
    authorization codes not yet exchanged (each would become a new token); returns how
    many tokens were revoked."""
    await session.exec(delete(OAuthCode).where(col(OAuthCode.actor_id) == actor_id))  # type: ignore[call-overload]
    result = await session.exec(  # type: ignore[call-overload]
        update(OAuthToken)
        .where(col(OAuthToken.actor_id) == actor_id, col(OAuthToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)
