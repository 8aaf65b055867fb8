"""Database tables.

Local and remote accounts share one ``actor`` table so that likes, boosts, follows and
posts point at one kind of row whichever server they came from; what only local accounts
have (password, roles) lives in ``localuser``. Ids are time-ordered (``storage.ids``) so
every list paginates by primary key.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _fk(target: str, *, nullable: bool = False, ondelete: str = "CASCADE") -> Column:
    return Column(BigInteger, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=True)


class Actor(SQLModel, table=True):
    __tablename__ = "actor"
    __table_args__ = (
        UniqueConstraint("username_lower", "domain", name="uq_actor_handle"),
        # Every signed request is verified by looking its key id up here.
        Index("ix_actor_key_id", "key_id"),
    )

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    username: str = Field(max_length=255)
    username_lower: str = Field(max_length=255)
    domain: str | None = Field(default=None, max_length=255, index=True)  # None: local
    actor_type: str = Field(default="Person", max_length=32)
    display_name: str = Field(default="", max_length=255)
    bio_source: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    bio_html: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    avatar_key: str | None = Field(default=None, max_length=200, index=True)
    header_key: str | None = Field(default=None, max_length=200, index=True)
    avatar_remote_url: str | None = Field(default=None, sa_column=Column(Text))
    header_remote_url: str | None = Field(default=None, sa_column=Column(Text))
    ap_id: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    url: str | None = Field(default=None, sa_column=Column(Text))
    inbox_url: str | None = Field(default=None, sa_column=Column(Text))
    shared_inbox_url: str | None = Field(default=None, sa_column=Column(Text))
    outbox_url: str | None = Field(default=None, sa_column=Column(Text))
    followers_url: str | None = Field(default=None, sa_column=Column(Text))
    following_url: str | None = Field(default=None, sa_column=Column(Text))
    key_id: str | None = Field(default=None, sa_column=Column(Text))
    public_key_pem: str | None = Field(default=None, sa_column=Column(Text))
    private_key_pem: str | None = Field(default=None, sa_column=Column(Text))
    manually_approves_followers: bool = False
    discoverable: bool = True
    suspended: bool = False
    moved_to_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    """The account this one moved to (a verified ``Move``), or None."""
    fetched_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class LocalUser(SQLModel, table=True):
    __tablename__ = "localuser"

    actor_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("actor.id", ondelete="CASCADE"), primary_key=True)
    )
    email: str | None = Field(default=None, max_length=320)
    password_hash: str = Field(max_length=255)
    is_admin: bool = False
    disabled: bool = False
    approved: bool = True
    signup_reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    invite_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class Post(SQLModel, table=True):
    __tablename__ = "post"
    __table_args__ = (
        Index("ix_post_actor_id_id", "actor_id", "id"),
        Index("ix_post_visibility_local_id", "visibility", "local", "id"),
        # An account's post count and newest post, from the index alone (client API).
        Index("ix_post_actor_created", "actor_id", "created_at"),
    )

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    actor_id: int = Field(sa_column=_fk("actor.id"))
    ap_id: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    url: str | None = Field(default=None, sa_column=Column(Text))
    local: bool = True
    visibility: str = Field(default="public", max_length=16)  # public|unlisted|followers|direct
    caption_source: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    content_html: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    content_warning: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    sensitive: bool = False
    language: str | None = Field(default=None, max_length=16)
    prompt: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    model_name: str = Field(default="", max_length=255)
    in_reply_to_id: int | None = Field(
        default=None, sa_column=_fk("post.id", nullable=True, ondelete="SET NULL")
    )
    in_reply_to_ap_id: str | None = Field(default=None, sa_column=Column(Text))
    likes_count: int = 0
    boosts_count: int = 0
    replies_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    edited_at: datetime | None = None


class MediaAttachment(SQLModel, table=True):
    __tablename__ = "media_attachment"
    __table_args__ = (Index("ix_media_post_position", "post_id", "position"),)

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    actor_id: int = Field(sa_column=_fk("actor.id"))
    post_id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, ForeignKey("post.id", ondelete="CASCADE"), nullable=True),
    )
    position: int = 0
    media_type: str = Field(default="image", max_length=16)
    original_key: str | None = Field(default=None, max_length=200, index=True)
    original_mime: str = Field(default="", max_length=64)
    original_size: int = 0
    display_key: str | None = Field(default=None, max_length=200, index=True)
    thumb_key: str | None = Field(default=None, max_length=200, index=True)
    width: int = 0
    height: int = 0
    display_width: int = 0
    display_height: int = 0
    thumb_width: int = 0
    thumb_height: int = 0
    blurhash: str | None = Field(default=None, max_length=100)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    focal_x: float | None = None
    focal_y: float | None = None
    remote_url: str | None = Field(default=None, sa_column=Column(Text))
    source_format: str = Field(default="", max_length=16)
    a1111_parameters: str | None = Field(default=None, sa_column=Column(Text))
    comfy_prompt: str | None = Field(default=None, sa_column=Column(Text))
    comfy_workflow: str | None = Field(default=None, sa_column=Column(Text))
    c2pa_present: bool = False
    generator_software: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


class Hashtag(SQLModel, table=True):
    __tablename__ = "hashtag"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(max_length=100, unique=True)  # lower-cased
    display_name: str = Field(max_length=100)


class PostHashtag(SQLModel, table=True):
    __tablename__ = "post_hashtag"
    __table_args__ = (Index("ix_post_hashtag_tag_post", "hashtag_id", "post_id"),)

    post_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("post.id", ondelete="CASCADE"), primary_key=True)
    )
    hashtag_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("hashtag.id", ondelete="CASCADE"), primary_key=True)
    )


class Like(SQLModel, table=True):
    __tablename__ = "post_like"
    __table_args__ = (UniqueConstraint("actor_id", "post_id", name="uq_like_actor_post"),)

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    actor_id: int = Field(sa_column=_fk("actor.id"))
    post_id: int = Field(sa_column=_fk("post.id"))
    ap_id: str | None = Field(default=None, sa_column=Column(Text, unique=True))
    created_at: datetime = Field(default_factory=utcnow)


class Boost(SQLModel, table=True):
    __tablename__ = "boost"
    __table_args__ = (UniqueConstraint("actor_id", "post_id", name="uq_boost_actor_post"),)

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    actor_id: int = Field(sa_column=_fk("actor.id"))
    post_id: int = Field(sa_column=_fk("post.id"))
    ap_id: str | None = Field(default=None, sa_column=Column(Text, unique=True))
    created_at: datetime = Field(default_factory=utcnow)


class Follow(SQLModel, table=True):
    __tablename__ = "follow"
    __table_args__ = (
        UniqueConstraint("follower_id", "followee_id", name="uq_follow_pair"),
        Index("ix_follow_followee_state", "followee_id", "state"),
        Index("ix_follow_follower_state", "follower_id", "state"),
    )

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    follower_id: int = Field(sa_column=_fk("actor.id"))
    followee_id: int = Field(sa_column=_fk("actor.id"))
    state: str = Field(default="pending", max_length=16)  # pending|accepted
    ap_id: str | None = Field(default=None, sa_column=Column(Text, unique=True))
    created_at: datetime = Field(default_factory=utcnow)


class HomeFeedEntry(SQLModel, table=True):
    """One line of a local account's home timeline, written when the post or boost arrives.

    Reading home by walking ``post`` and filtering on "followed or boosted by followed"
    costs the whole table for someone whose follows are quiet; this feed is searched by
    ``(owner_id, entry_id < ?)`` and stops after one page whatever anyone follows (what
    Mastodon keeps in Redis, here as rows written in the same transaction as the post).
    ``entry_id`` is the timeline id: the post's id, or the boost row's id for a boost (the
    client API's order); the web page lists each post once at its own id (``post_id``).
    ``via_id`` is who put it there (the author, or the booster), so an unfollow removes
    exactly that account's lines. See ``storage.home_feed``.
    """

    __tablename__ = "home_feed_entry"
    __table_args__ = (Index("ix_home_feed_entry_owner_post", "owner_id", "post_id"),)

    owner_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("actor.id", ondelete="CASCADE"), primary_key=True)
    )
    entry_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    post_id: int = Field(sa_column=_fk("post.id"))
    boost_id: int | None = Field(default=None, sa_column=_fk("boost.id", nullable=True))
    via_id: int = Field(sa_column=Column(BigInteger, nullable=False))


class WebSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds the token; only its hash is stored."""

    __tablename__ = "web_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    actor_id: int = Field(sa_column=_fk("actor.id"))
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    user_agent: str = Field(default="", max_length=255)


class Invite(SQLModel, table=True):
    __tablename__ = "invite"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    code: str = Field(max_length=64, unique=True)
    created_by_id: int = Field(sa_column=_fk("actor.id"))
    max_uses: int | None = None
    uses: int = 0
    expires_at: datetime | None = None
    revoked: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Tombstone(SQLModel, table=True):
    """What remains of a deleted local object, so its URL can answer 410 Gone."""

    __tablename__ = "tombstone"

    ap_id: str = Field(sa_column=Column(Text, primary_key=True))
    former_type: str = Field(default="Note", max_length=32)
    deleted_at: datetime = Field(default_factory=utcnow)


ALL_TABLES = SQLModel.metadata


# Registers the federation and client API tables on the same metadata (own modules, for size).
from storage import federation_models, oauth_models  # noqa: E402, F401
