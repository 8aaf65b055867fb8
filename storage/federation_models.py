"""Tables for federation: work that must survive a crash lives in rows with states.

- ``inbox_item``: every verified incoming activity, stored before we answer 202 and keyed
  by its id, so a duplicate delivery is recognised and a crash before processing loses
  nothing (the worker picks pending rows up again).
- ``outbox_activity`` + ``delivery``: an activity we send, and one row per (activity,
  inbox) with its own state, attempts and next attempt time. Workers claim rows with a
  lock expiry (``locked_until``) so a crashed worker's rows come back; on PostgreSQL
  several workers can claim with ``FOR UPDATE SKIP LOCKED``.
- ``remote_host``: per-host health, so a host that keeps failing gets its deliveries
  postponed instead of piling up.
- ``block``, ``report`` (Flag), ``notification``, ``mention``: what those activities and
  local actions leave behind.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models import _fk, utcnow


class InboxItem(SQLModel, table=True):
    __tablename__ = "inbox_item"
    __table_args__ = (Index("ix_inbox_item_state_next", "state", "next_attempt_at"),)

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    activity_id: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    actor_ap_id: str = Field(sa_column=Column(Text, nullable=False))
    activity_type: str = Field(max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # the raw JSON as received
    key_id: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    state: str = Field(default="pending", max_length=16)  # pending|done|failed|ignored
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    locked_until: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    received_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None


class OutboxActivity(SQLModel, table=True):
    __tablename__ = "outbox_activity"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    ap_id: str = Field(sa_column=Column(Text, nullable=False, unique=True))
    actor_id: int = Field(sa_column=_fk("actor.id"))
    activity_type: str = Field(max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # the JSON we sign and send
    created_at: datetime = Field(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("activity_id", "inbox_url", name="uq_delivery_activity_inbox"),
        Index("ix_delivery_state_next", "state", "next_attempt_at"),
        Index("ix_delivery_host_state", "host", "state"),
    )

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    activity_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("outbox_activity.id", ondelete="CASCADE"), nullable=False
        )
    )
    inbox_url: str = Field(sa_column=Column(Text, nullable=False))
    host: str = Field(max_length=255)
    state: str = Field(default="pending", max_length=16)  # pending|delivered|failed|gone
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    locked_until: datetime | None = None
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class RemoteHost(SQLModel, table=True):
    __tablename__ = "remote_host"

    host: str = Field(primary_key=True, max_length=255)
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    unavailable_until: datetime | None = None
    last_success_at: datetime | None = None


class Block(SQLModel, table=True):
    __tablename__ = "block"
    __table_args__ = (UniqueConstraint("actor_id", "target_id", name="uq_block_pair"),)

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    actor_id: int = Field(sa_column=_fk("actor.id"))
    target_id: int = Field(sa_column=_fk("actor.id"))
    ap_id: str | None = Field(default=None, sa_column=Column(Text, unique=True))
    created_at: datetime = Field(default_factory=utcnow)


class Report(SQLModel, table=True):
    """A moderation report (Flag), from a remote server or a local user."""

    __tablename__ = "report"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    reporter_id: int = Field(sa_column=_fk("actor.id"))
    target_id: int | None = Field(
        default=None, sa_column=_fk("actor.id", nullable=True, ondelete="SET NULL")
    )
    post_ap_ids: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    ap_id: str | None = Field(default=None, sa_column=Column(Text, unique=True))
    resolved: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Notification(SQLModel, table=True):
    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_recipient_id", "recipient_id", "id"),)

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    recipient_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("actor.id", ondelete="CASCADE"), nullable=False)
    )
    kind: str = Field(max_length=32)  # follow|follow_request|favourite|reblog|reply|mention
    from_actor_id: int = Field(sa_column=_fk("actor.id"))
    post_id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger, ForeignKey("post.id", ondelete="CASCADE"), nullable=True),
    )
    read: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Mention(SQLModel, table=True):
    __tablename__ = "mention"

    post_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("post.id", ondelete="CASCADE"), primary_key=True)
    )
    actor_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("actor.id", ondelete="CASCADE"), primary_key=True)
    )
