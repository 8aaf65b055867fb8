"""Tables for the Mastodon client API: OAuth 2 apps, codes and tokens, and the little state
clients keep on the server (bookmarks, read markers, idempotency keys, profile fields).

Secrets are never stored in the clear: a client secret, an authorization code, an access
token and a refresh token are each kept as their SHA-256 (they are long random strings,
so a plain hash is enough; a leaked database signs nobody in). A client secret is shown
once, when the app is registered, exactly as Mastodon clients expect.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models import _fk, utcnow


class OAuthApp(SQLModel, table=True):
    __tablename__ = "oauth_app"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(max_length=255)
    website: str | None = Field(default=None, sa_column=Column(Text))
    redirect_uris: str = Field(sa_column=Column(Text, nullable=False))  # one per line
    scopes: str = Field(default="read", max_length=1000)  # space-separated
    client_id: str = Field(max_length=64, unique=True)
    client_secret_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class OAuthCode(SQLModel, table=True):
    """An authorization code: single use (deleted when exchanged), valid ten minutes."""

    __tablename__ = "oauth_code"

    code_hash: str = Field(primary_key=True, max_length=64)
    app_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("oauth_app.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    actor_id: int = Field(sa_column=_fk("actor.id"))
    redirect_uri: str = Field(sa_column=Column(Text, nullable=False))
    scopes: str = Field(max_length=1000)
    code_challenge: str | None = Field(default=None, max_length=128)
    code_challenge_method: str | None = Field(default=None, max_length=16)
    expires_at: datetime
    created_at: datetime = Field(default_factory=utcnow)


class OAuthToken(SQLModel, table=True):
    """A bearer token; ``actor_id`` is None for an app-only (client_credentials) token."""

    __tablename__ = "oauth_token"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    token_hash: str = Field(max_length=64, unique=True)
    refresh_hash: str | None = Field(default=None, max_length=64, unique=True)
    app_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("oauth_app.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    actor_id: int | None = Field(default=None, sa_column=_fk("actor.id", nullable=True))
    scopes: str = Field(max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class Bookmark(SQLModel, table=True):
    __tablename__ = "bookmark"
    __table_args__ = (
        UniqueConstraint("actor_id", "post_id", name="uq_bookmark_actor_post"),
        Index("ix_bookmark_actor_id_id", "actor_id", "id"),
    )

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    actor_id: int = Field(sa_column=_fk("actor.id"))
    post_id: int = Field(sa_column=_fk("post.id"))
    created_at: datetime = Field(default_factory=utcnow)


class Marker(SQLModel, table=True):
    """Where a person stopped reading a timeline (``home`` or ``notifications``)."""

    __tablename__ = "marker"

    actor_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("actor.id", ondelete="CASCADE"), primary_key=True)
    )
    timeline: str = Field(primary_key=True, max_length=16)
    last_read_id: str = Field(max_length=32)
    version: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class IdempotencyKey(SQLModel, table=True):
    """A client's ``Idempotency-Key`` for a status it created, so a retried request returns
    the same status instead of publishing twice."""

    __tablename__ = "idempotency"

    actor_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("actor.id", ondelete="CASCADE"), primary_key=True)
    )
    key: str = Field(primary_key=True, max_length=255)
    post_id: int = Field(sa_column=_fk("post.id"))
    created_at: datetime = Field(default_factory=utcnow)


class ProfileField(SQLModel, table=True):
    """A name/value pair shown on a profile (Mastodon's ``fields``), in order."""

    __tablename__ = "profile_field"

    actor_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("actor.id", ondelete="CASCADE"), primary_key=True)
    )
    position: int = Field(primary_key=True)
    name: str = Field(max_length=255)
    value: str = Field(sa_column=Column(Text, nullable=False))
