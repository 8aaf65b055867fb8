"""Named queries for remote actors and received activities.

Remote actors are cached in the ``actor`` table, one row per ActivityPub id. A remote
document may only ever write the row of its own (verified) id: the upsert looks the row up
by ``ap_id`` and nothing else, refuses to touch local accounts, and refuses a handle
(``username@domain``) another id already holds rather than rewriting that row.

Received activities are stored once per activity id; the unique constraint is the
idempotency key, so a duplicate delivery - even one racing the first - stores nothing.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType

from sqlalchemy import bindparam
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import Insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_driver
from storage.db import Database
from storage.federation_models import InboxItem
from storage.ids import new_id
from storage.models import Actor

__all__ = [
    "ActorRecord",
    "HandleTaken",
    "NewInboxItem",
    "actor_by_ap_id",
    "actor_by_key_id",
    "insert_inbox_items",
    "upsert_remote_actor",
]


class HandleTaken(Exception):
    """Another actor row already holds this ``username@domain``, or the id is local."""


@dataclass(frozen=True)
class ActorRecord:
    """The values of a remote actor row (storage does not know the document shapes)."""

    ap_id: str
    domain: str
    actor_type: str
    username: str
    display_name: str
    bio_html: str
    url: str | None
    inbox_url: str | None
    shared_inbox_url: str | None
    outbox_url: str | None
    followers_url: str | None
    following_url: str | None
    key_id: str | None
    public_key_pem: str | None
    avatar_remote_url: str | None
    header_remote_url: str | None
    manually_approves_followers: bool
    discoverable: bool


async def actor_by_ap_id(session: AsyncSession, ap_id: str) -> Actor | None:
    return (await session.exec(_ACTOR_BY_AP_ID, params={"ap_id": ap_id})).first()


_ACTOR_BY_AP_ID = select(Actor).where(col(Actor.ap_id) == bindparam("ap_id"))
"""Built once: every inbox activity looks its sender up (see storage.inbox_queries)."""


async def actor_by_key_id(session: AsyncSession, key_id: str) -> Actor | None:
    """The remote actor whose stored key has this id (newest fetch first if several)."""
    result = await session.exec(
        select(Actor)
        .where(Actor.key_id == key_id, col(Actor.domain).is_not(None))
        .order_by(col(Actor.fetched_at).desc())
    )
    return result.first()


def _apply(row: Actor, record: ActorRecord, now: datetime) -> None:
    row.username = record.username
    row.username_lower = record.username.lower()
    row.domain = record.domain
    row.actor_type = record.actor_type
    row.display_name = record.display_name
    row.bio_html = record.bio_html
    row.url = record.url
    row.inbox_url = record.inbox_url
    row.shared_inbox_url = record.shared_inbox_url
    row.outbox_url = record.outbox_url
    row.followers_url = record.followers_url
    row.following_url = record.following_url
    row.key_id = record.key_id
    row.public_key_pem = record.public_key_pem
    row.avatar_remote_url = record.avatar_remote_url
    row.header_remote_url = record.header_remote_url
    row.manually_approves_followers = record.manually_approves_followers
    row.discoverable = record.discoverable
    row.fetched_at = now
    row.updated_at = now


async def _handle_holder(session: AsyncSession, record: ActorRecord) -> Actor | None:
    result = await session.exec(
        select(Actor).where(
            Actor.username_lower == record.username.lower(), Actor.domain == record.domain
        )
    )
    return result.first()


async def upsert_remote_actor(db: Database, record: ActorRecord, *, now: datetime) -> Actor:
    """Insert or update the row whose ``ap_id`` is ``record.ap_id``, in its own transaction.

    Raises :class:`HandleTaken` when the id belongs to a local account or the handle to
    another row. Two fetches of a new actor racing each other: the loser's insert hits the
    unique ``ap_id`` and it updates the winner's row instead.
    """
    for _attempt in range(2):
        try:
            async with db.transaction() as session:
                row = await actor_by_ap_id(session, record.ap_id)
                if row is not None and row.domain is None:
                    raise HandleTaken("the id belongs to a local account")
                holder = await _handle_holder(session, record)
                if holder is not None and holder.ap_id != record.ap_id:
                    raise HandleTaken("another actor holds this handle")
                if row is None:
                    row = Actor(id=new_id(), username=record.username, ap_id=record.ap_id)
                    row.created_at = now
                _apply(row, record, now)
                session.add(row)
            return row
        except IntegrityError:
            continue
    raise HandleTaken("the actor row could not be written")


@dataclass(frozen=True)
class NewInboxItem:
    """A verified activity to store for the inbox worker (``activity_id`` is its key)."""

    activity_id: str
    actor_ap_id: str
    activity_type: str
    payload: str
    key_id: str
    received_at: datetime


def _postgresql() -> ModuleType:
    """SQLAlchemy's PostgreSQL dialect, imported when first needed: an instance on SQLite
    never needs it, and importing it was ~15-20 ms of every start."""
    from sqlalchemy.dialects import postgresql

    return postgresql


def _insert_ignoring_duplicates(dialect: str) -> Insert:
    """``INSERT ... ON CONFLICT (activity_id) DO NOTHING RETURNING activity_id``: the rows
    returned are the ones that were new, in one statement, without a prior duplicate check
    (which a racing delivery could slip past anyway)."""
    table = InboxItem.__table__  # type: ignore[attr-defined]
    insert = _postgresql().insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.activity_id])
        .returning(table.c.activity_id)
    )


_INBOX_COLUMNS = (
    "id",
    "activity_id",
    "actor_ap_id",
    "activity_type",
    "payload",
    "key_id",
    "state",
    "attempts",
    "next_attempt_at",
    "received_at",
)


@functools.lru_cache(maxsize=64)
def _sqlite_insert_sql(count: int) -> str:
    """The batch's statement for ``count`` rows, written once per batch size: what
    SQLAlchemy would compile for the same multi-row ``INSERT ... ON CONFLICT DO NOTHING
    RETURNING``, without compiling it again for every batch."""
    row = "(" + ", ".join("?" * len(_INBOX_COLUMNS)) + ")"
    return (
        f"INSERT INTO inbox_item ({', '.join(_INBOX_COLUMNS)}) VALUES "
        + ", ".join([row] * count)
        + " ON CONFLICT (activity_id) DO NOTHING RETURNING activity_id"
    )


def _inbox_row(item: NewInboxItem) -> dict[str, object]:
    return {
        "id": new_id(),
        "activity_id": item.activity_id,
        "actor_ap_id": item.actor_ap_id,
        "activity_type": item.activity_type[:64],
        "payload": item.payload,
        "key_id": item.key_id,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": item.received_at,
        "received_at": item.received_at,
    }


async def insert_inbox_items(db: Database, items: Sequence[NewInboxItem]) -> set[str]:
    """Store verified activities in one transaction; the activity ids that were new.

    An id already stored - or repeated within ``items`` - is stored once: callers tell a
    duplicate by its absence from the answer (only the first of repeats counts as new).

    On SQLite the batch is one statement and its commit in a single hand-off to the
    connection's thread (``sqlite_driver.write_and_commit``): through SQLAlchemy's
    execution path the same batch cost ~1-2 ms of the event loop (a multi-row statement
    rendered for every batch, a begin, an execute and a commit), about a third of what a
    delivery cost the inbox in all (docs/performance.md). Elsewhere it runs as Core.
    """
    rows: dict[str, dict[str, object]] = {}
    for item in items:
        if item.activity_id not in rows:
            rows[item.activity_id] = _inbox_row(item)
    if not rows:
        return set()
    if db.engine.dialect.name == "sqlite":
        stored = await _insert_on_sqlite(db, list(rows.values()))
        if stored is not None:
            return stored
    statement = _insert_ignoring_duplicates(db.engine.dialect.name)
    async with db.engine.begin() as connection:
        result = await connection.execute(statement, list(rows.values()))
        return {row[0] for row in result.all()}


async def _insert_on_sqlite(db: Database, rows: list[dict[str, object]]) -> set[str] | None:
    """The batch through our SQLite driver; None when the engine runs another driver."""
    dialect = db.engine.dialect
    to_text = _datetime_binder(dialect)
    parameters: list[object] = []
    for row in rows:
        for name in _INBOX_COLUMNS:
            value = row[name]
            parameters.append(to_text(value) if isinstance(value, datetime) else value)
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        try:
            found = await sqlite_driver.write_and_commit(
                raw.driver_connection, _sqlite_insert_sql(len(rows)), parameters
            )
        except sqlite3.Error:
            # past SQLAlchemy's error handling: a connection that failed is not trusted
            # back into the pool (it may be closed or in a state we did not leave it in)
            await connection.invalidate()
            raise
    return None if found is None else {row[0] for row in found}


_DATETIME_BINDERS: dict[str, Callable[[datetime], object]] = {}


def _datetime_binder(dialect: Dialect) -> Callable[[datetime], object]:
    """How SQLAlchemy writes a ``DateTime`` column on this dialect (its text format on
    SQLite), so rows written here compare with the bound values of every other query.
    Kept by dialect name (each engine has a dialect object of its own)."""
    binder = _DATETIME_BINDERS.get(dialect.name)
    if binder is None:
        column_type = InboxItem.__table__.c.received_at.type  # type: ignore[attr-defined]
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        binder = _DATETIME_BINDERS[dialect.name] = process or (lambda value: value)
    return binder
