"""Named queries behind processing incoming activities (``federation.inbox_process``).

Claiming follows the delivery queue's pattern: a due, pending row gets a lock expiry
(``locked_until``) so a crashed worker's rows come back by themselves; on PostgreSQL the
select takes ``FOR UPDATE SKIP LOCKED`` so several workers never claim the same row
(SQLite ignores the clause; one worker runs there).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, bindparam, exists, or_
from sqlalchemy import delete as sa_delete
from sqlalchemy import insert as sa_insert
from sqlalchemy import update as sa_update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.federation_models import Block, InboxItem, Notification, Report
from storage.ids import new_id
from storage.in_lists import padded
from storage.models import (
    Actor,
    Boost,
    Follow,
    Hashtag,
    Like,
    LocalUser,
    MediaAttachment,
    Post,
    PostHashtag,
    utcnow,
)

# --- the queue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedItem:
    """What processing needs of a claimed row (plain values: no ORM object to go stale)."""

    id: int
    actor_ap_id: str
    payload: str
    attempts: int
    activity_type: str  # as the endpoint stored it; processing reads the payload's own


async def claim_due_items(
    session: AsyncSession, *, now: datetime, lock_until: datetime, limit: int
) -> list[ClaimedItem]:
    """Pending items whose time has come and which nobody holds, oldest first, locked
    until ``lock_until`` (one select, one update)."""
    result = await session.exec(
        select(
            col(InboxItem.id),
            col(InboxItem.actor_ap_id),
            col(InboxItem.payload),
            col(InboxItem.attempts),
            col(InboxItem.activity_type),
        )
        .where(
            col(InboxItem.state) == "pending",
            col(InboxItem.next_attempt_at) <= now,
            or_(col(InboxItem.locked_until).is_(None), col(InboxItem.locked_until) <= now),
        )
        .order_by(col(InboxItem.next_attempt_at), col(InboxItem.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    items = [ClaimedItem(*row) for row in result.all()]
    await lock_items(session, [item.id for item in items], lock_until)
    return items


async def finish_items(
    session: AsyncSession, item_ids: Sequence[int], *, state: str, now: datetime
) -> None:
    """Mark processed items ``state`` (``done`` / ``ignored``) in one statement."""
    if not item_ids:
        return
    await session.exec(  # type: ignore[call-overload]
        _FINISH_ITEMS, params={"ids": padded(item_ids), "new_state": state, "now": now}
    )


_FINISH_ITEMS = (
    sa_update(InboxItem)
    .where(col(InboxItem.id).in_(bindparam("ids", expanding=True)))
    .values(state=bindparam("new_state"), processed_at=bindparam("now"), locked_until=None)
    .execution_options(synchronize_session=False)
)
"""Built once, as are the other statements every processed activity runs: building a
statement and its cache key took about a third of a small query's time in the worker
(~100-150 of ~300-400 µs)."""


async def record_failure(
    session: AsyncSession,
    item_id: int,
    *,
    attempts: int,
    error: str,
    now: datetime,
    retry_at: datetime | None,
) -> None:
    """Store a failed attempt: ``attempts`` is the new count; without ``retry_at`` the item
    has used its attempts and is ``failed`` for good."""
    values: dict[str, Any] = {"attempts": attempts, "last_error": error, "locked_until": None}
    if retry_at is None:
        values.update(state="failed", processed_at=now)
    else:
        values.update(next_attempt_at=retry_at)
    await session.exec(  # type: ignore[call-overload]
        sa_update(InboxItem)
        .where(col(InboxItem.id) == item_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def lock_items(session: AsyncSession, item_ids: Sequence[int], lock_until: datetime) -> None:
    """Set (or renew) the claim on ``item_ids`` until ``lock_until``."""
    if not item_ids:
        return
    await session.exec(  # type: ignore[call-overload]
        sa_update(InboxItem)
        .where(col(InboxItem.id).in_(padded(item_ids)))
        .values(locked_until=lock_until)
        .execution_options(synchronize_session=False)
    )


async def release_all_item_locks(session: AsyncSession) -> int:
    """Unlock every claimed item; only correct when no worker is running (see
    ``storage.delivery_queries.release_all_locks``). Returns how many were unlocked."""
    result = await session.exec(  # type: ignore[call-overload]
        sa_update(InboxItem)
        .where(col(InboxItem.locked_until).is_not(None))
        .values(locked_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


# --- actors --------------------------------------------------------------------------------


async def actor_by_ap_id(session: AsyncSession, ap_id: str | None) -> Actor | None:
    if not ap_id:
        return None
    return (await session.exec(select(Actor).where(Actor.ap_id == ap_id))).first()


async def local_actor_by_ap_id(session: AsyncSession, ap_id: str | None) -> Actor | None:
    """A local account (not suspended) by its ActivityPub id."""
    actor = await actor_by_ap_id(session, ap_id)
    if actor is None or actor.domain is not None or actor.suspended:
        return None
    return actor


def _active_local() -> Any:
    """A local account people may reach: not suspended, and its user approved and not
    disabled (as ``ap_queries.federated_local_actor``: a pending or disabled account is a
    404 to other servers, so it must not gain followers or mentions either). The instance
    actor has no ``localuser`` row and stays reachable."""
    return and_(
        col(Actor.domain).is_(None),
        col(Actor.suspended).is_(False),
        or_(
            col(LocalUser.actor_id).is_(None),
            and_(col(LocalUser.approved).is_(True), col(LocalUser.disabled).is_(False)),
        ),
    )


async def active_local_actor_by_ap_id(session: AsyncSession, ap_id: str | None) -> Actor | None:
    """A local account that may be followed or mentioned (see ``_active_local``)."""
    if not ap_id:
        return None
    result = await session.exec(
        select(Actor)
        .join(LocalUser, col(LocalUser.actor_id) == col(Actor.id), isouter=True)
        .where(col(Actor.ap_id) == ap_id, _active_local())
    )
    return result.first()


async def local_actors_by_ap_ids(session: AsyncSession, ap_ids: Iterable[str]) -> list[Actor]:
    """The active local accounts (see ``_active_local``) among ``ap_ids``."""
    wanted = sorted(set(ap_ids))
    if not wanted:
        return []
    global _LOCAL_ACTORS_BY_AP_IDS
    if _LOCAL_ACTORS_BY_AP_IDS is None:
        _LOCAL_ACTORS_BY_AP_IDS = (
            select(Actor)
            .join(LocalUser, col(LocalUser.actor_id) == col(Actor.id), isouter=True)
            .where(col(Actor.ap_id).in_(bindparam("ap_ids", expanding=True)), _active_local())
        )
    result = await session.exec(_LOCAL_ACTORS_BY_AP_IDS, params={"ap_ids": padded(wanted)})
    return list(result.all())


_LOCAL_ACTORS_BY_AP_IDS: Any = None  # built on first use: _active_local is defined below


async def has_local_follower(session: AsyncSession, actor_id: int) -> bool:
    """Whether any local account follows ``actor_id`` (accepted follows only)."""
    result = await session.exec(_HAS_LOCAL_FOLLOWER, params={"actor_id": actor_id})
    return result.first() is not None


_HAS_LOCAL_FOLLOWER = (
    select(Follow.id)
    .join(Actor, col(Actor.id) == col(Follow.follower_id))
    .where(
        col(Follow.followee_id) == bindparam("actor_id"),
        col(Follow.state) == "accepted",
        col(Actor.domain).is_(None),
    )
    .limit(1)
)


# --- posts ---------------------------------------------------------------------------------


def _origin(url: str | None) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL; None for anything else."""
    try:
        parts = urlsplit(url or "")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.scheme not in ("http", "https"):
        return None
    return parts.scheme, host.lower(), port or (443 if parts.scheme == "https" else 80)


async def post_by_ap_id(session: AsyncSession, ap_id: str | None) -> Post | None:
    """A post by its ActivityPub id only: the key for "do we have this note already"."""
    if not ap_id:
        return None
    return (await session.exec(_POST_BY_AP_ID, params={"ap_id": ap_id})).first()


_POST_BY_AP_ID = select(Post).where(col(Post.ap_id) == bindparam("ap_id"))


async def post_by_reference(session: AsyncSession, ref: str | None) -> Post | None:
    """A post by its ActivityPub id, or by its page URL (Mastodon's Announce of a status
    sometimes names the ``url``, not the ``id``).

    A URL only names a post that lives on that URL's own origin: a ``url`` field is what
    the sending server claims, and a post from one server whose ``url`` names another
    server's post must never stand in for it (rows stored before ``url`` was checked at
    parse time included).
    """
    found = await post_by_ap_id(session, ref)
    if found is not None or not ref:
        return found
    wanted = _origin(ref)
    if wanted is None:
        return None
    candidates = await session.exec(select(Post).where(Post.url == ref).limit(20))
    return next((p for p in candidates.all() if _origin(p.ap_id) == wanted), None)


async def posts_of(session: AsyncSession, actor_id: int) -> list[Post]:
    result = await session.exec(select(Post).where(Post.actor_id == actor_id))
    return list(result.all())


async def media_of(session: AsyncSession, post_id: int) -> list[MediaAttachment]:
    result = await session.exec(
        select(MediaAttachment)
        .where(MediaAttachment.post_id == post_id)
        .order_by(col(MediaAttachment.position))
    )
    return list(result.all())


async def set_post_hashtags(
    session: AsyncSession, post_id: int, names: Sequence[str], *, fresh: bool = False
) -> None:
    """Replace a post's hashtags (names without '#'; lower-cased for lookup); a ``fresh``
    post (inserted in this transaction) has none to remove."""
    if not fresh:
        await session.exec(sa_delete(PostHashtag).where(col(PostHashtag.post_id) == post_id))  # type: ignore[call-overload]
    done: set[str] = set()
    for name in names:
        key = name.lower()
        if key in done:
            continue
        done.add(key)
        tag = (await session.exec(select(Hashtag).where(Hashtag.name == key))).first()
        if tag is None:
            tag = Hashtag(id=new_id(), name=key, display_name=name)
            session.add(tag)
            await session.flush()
        session.add(PostHashtag(post_id=post_id, hashtag_id=tag.id))


# --- follows, reactions, blocks ---------------------------------------------------------------


async def follow_by_ap_id(session: AsyncSession, ap_id: str | None) -> Follow | None:
    if not ap_id:
        return None
    return (await session.exec(select(Follow).where(Follow.ap_id == ap_id))).first()


async def follow_between(
    session: AsyncSession, follower_id: int, followee_id: int
) -> Follow | None:
    result = await session.exec(
        select(Follow).where(Follow.follower_id == follower_id, Follow.followee_id == followee_id)
    )
    return result.first()


async def pending_local_follows_to(session: AsyncSession, followee_id: int) -> list[Follow]:
    """Our accounts' follow requests to ``followee_id`` still waiting for an answer."""
    result = await session.exec(
        select(Follow)
        .join(Actor, col(Actor.id) == col(Follow.follower_id))
        .where(
            col(Follow.followee_id) == followee_id,
            col(Follow.state) == "pending",
            col(Actor.domain).is_(None),
        )
    )
    return list(result.all())


async def delete_follows_between(session: AsyncSession, a: int, b: int) -> None:
    """Remove follows (and requests) in both directions between two actors."""
    await session.exec(  # type: ignore[call-overload]
        sa_delete(Follow).where(
            or_(
                (col(Follow.follower_id) == a) & (col(Follow.followee_id) == b),
                (col(Follow.follower_id) == b) & (col(Follow.followee_id) == a),
            )
        )
    )


async def delete_follows_of(session: AsyncSession, actor_id: int) -> None:
    await session.exec(  # type: ignore[call-overload]
        sa_delete(Follow).where(
            or_(col(Follow.follower_id) == actor_id, col(Follow.followee_id) == actor_id)
        )
    )


async def reaction_by_ap_id(
    session: AsyncSession, model: type[Like] | type[Boost], ap_id: str | None
) -> Like | Boost | None:
    if not ap_id:
        return None
    return (await session.exec(select(model).where(model.ap_id == ap_id))).first()


async def reaction_between(
    session: AsyncSession, model: type[Like] | type[Boost], actor_id: int, post_id: int
) -> Like | Boost | None:
    result = await session.exec(
        select(model).where(model.actor_id == actor_id, model.post_id == post_id)
    )
    return result.first()


async def reactions_like(
    session: AsyncSession,
    model: type[Like] | type[Boost],
    actor_id: int,
    post_id: int,
    ap_id: str | None,
) -> list[Like | Boost]:
    """In one query, the rows a new reaction would repeat: ``actor_id``'s on ``post_id``,
    and any other that already carries the id ``ap_id``."""
    shape = (model, bool(ap_id))
    stmt = _REACTIONS_LIKE.get(shape)
    if stmt is None:
        same = and_(
            col(model.actor_id) == bindparam("actor_id"),
            col(model.post_id) == bindparam("post_id"),
        )
        where = or_(same, col(model.ap_id) == bindparam("ap_id")) if ap_id else same
        stmt = _REACTIONS_LIKE[shape] = select(model).where(where).limit(2)
    params = {"actor_id": actor_id, "post_id": post_id, "ap_id": ap_id}
    return list((await session.exec(stmt, params=params)).all())


_REACTIONS_LIKE: dict[tuple[type, bool], Any] = {}


async def reactions_of(
    session: AsyncSession, model: type[Like] | type[Boost], actor_id: int
) -> list[Like | Boost]:
    return list((await session.exec(select(model).where(model.actor_id == actor_id))).all())


async def block_by_ap_id(session: AsyncSession, ap_id: str | None) -> Block | None:
    if not ap_id:
        return None
    return (await session.exec(select(Block).where(Block.ap_id == ap_id))).first()


async def block_between(session: AsyncSession, actor_id: int, target_id: int) -> Block | None:
    result = await session.exec(
        _BLOCK_BETWEEN, params={"actor_id": actor_id, "target_id": target_id}
    )
    return result.first()


_BLOCK_BETWEEN = select(Block).where(
    col(Block.actor_id) == bindparam("actor_id"), col(Block.target_id) == bindparam("target_id")
)


async def blockers_of(session: AsyncSession, actor_ids: Iterable[int], target_id: int) -> set[int]:
    """Which of ``actor_ids`` block ``target_id``."""
    wanted = sorted(set(actor_ids))
    if not wanted:
        return set()
    result = await session.exec(
        _BLOCKERS_OF, params={"actor_ids": padded(wanted), "target_id": target_id}
    )
    return set(result.all())


_BLOCKERS_OF = select(Block.actor_id).where(
    col(Block.actor_id).in_(bindparam("actor_ids", expanding=True)),
    col(Block.target_id) == bindparam("target_id"),
)


async def report_by_ap_id(session: AsyncSession, ap_id: str | None) -> Report | None:
    if not ap_id:
        return None
    return (await session.exec(select(Report).where(Report.ap_id == ap_id))).first()


# --- notifications --------------------------------------------------------------------------


async def ensure_notification(
    session: AsyncSession,
    *,
    recipient_id: int,
    kind: str,
    from_actor_id: int,
    post_id: int | None = None,
    created_at: datetime | None = None,
) -> bool:
    """Add a notification unless the same one exists (processing may run twice).

    One ``INSERT ... SELECT ... WHERE NOT EXISTS`` rather than a lookup and an insert:
    every Like and reply to a local post comes through here.
    """
    values = {
        "id": new_id(),
        "recipient_id": recipient_id,
        "kind": kind,
        "from_actor_id": from_actor_id,
        "post_id": post_id,
        "read": False,
        "created_at": created_at or utcnow(),
    }
    stmt = _ENSURE_NOTIFICATION.get(post_id is None)
    if stmt is None:
        stmt = _ENSURE_NOTIFICATION[post_id is None] = _ensure_notification(post_id is None)
    result = await session.exec(stmt, params=values)  # type: ignore[call-overload]
    return bool(result.rowcount)


async def ensure_notifications(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """``ensure_notification`` for many about posts (``recipient_id``, ``kind``,
    ``from_actor_id``, ``post_id``) in one ``executemany`` of the same statement: each row
    sees the ones before it, so a repeat within ``rows`` is skipped as one already stored."""
    if not rows:
        return
    stmt = _ENSURE_NOTIFICATION.get(False)
    if stmt is None:
        stmt = _ENSURE_NOTIFICATION[False] = _ensure_notification(False)
    now = utcnow()
    params = [{"id": new_id(), "read": False, "created_at": now, **row} for row in rows]
    await session.exec(stmt, params=params)  # type: ignore[call-overload]


_NOTIFICATION_COLUMNS = ("id", "recipient_id", "kind", "from_actor_id", "post_id", "read")


def _ensure_notification(without_post: bool) -> Any:
    table = Notification.__table__  # type: ignore[attr-defined]
    names = (*_NOTIFICATION_COLUMNS, "created_at")
    same = [
        table.c.recipient_id == bindparam("recipient_id"),
        table.c.kind == bindparam("kind"),
        table.c.from_actor_id == bindparam("from_actor_id"),
        table.c.post_id.is_(None) if without_post else table.c.post_id == bindparam("post_id"),
    ]
    row = select(*(bindparam(name, type_=table.c[name].type) for name in names))
    return sa_insert(table).from_select(list(names), row.where(~exists().where(*same)))


_ENSURE_NOTIFICATION: dict[bool, Any] = {}


async def delete_notifications(
    session: AsyncSession,
    *,
    kind: str,
    from_actor_id: int,
    post_id: int | None = None,
    recipient_id: int | None = None,
) -> None:
    """Withdraw notifications an undone action caused (Undo{Like}, Undo{Follow}, ...)."""
    stmt = sa_delete(Notification).where(
        col(Notification.kind) == kind, col(Notification.from_actor_id) == from_actor_id
    )
    if post_id is not None:
        stmt = stmt.where(col(Notification.post_id) == post_id)
    if recipient_id is not None:
        stmt = stmt.where(col(Notification.recipient_id) == recipient_id)
    await session.exec(stmt)  # type: ignore[call-overload]


async def delete_notifications_from(session: AsyncSession, actor_id: int) -> None:
    await session.exec(  # type: ignore[call-overload]
        sa_delete(Notification).where(col(Notification.from_actor_id) == actor_id)
    )


async def delete_blocks_of(session: AsyncSession, actor_id: int) -> None:
    """Blocks made by or against ``actor_id``."""
    await session.exec(  # type: ignore[call-overload]
        sa_delete(Block).where(
            or_(col(Block.actor_id) == actor_id, col(Block.target_id) == actor_id)
        )
    )


def _reaction_statements(model: type[Like] | type[Boost], counter: str) -> tuple[Any, Any]:
    table = model.__table__  # type: ignore[attr-defined]
    post = Post.__table__  # type: ignore[attr-defined]
    add = sa_insert(table).values(
        id=bindparam("id"),
        actor_id=bindparam("actor_id"),
        post_id=bindparam("post_id"),
        ap_id=bindparam("ap_id"),
        created_at=bindparam("created_at"),
    )
    count = (
        sa_update(post)
        .where(post.c.id == bindparam("post_id"))
        .values({counter: post.c[counter] + 1})
    )
    return add, count


_REACTION_STATEMENTS = {
    Like: _reaction_statements(Like, "likes_count"),
    Boost: _reaction_statements(Boost, "boosts_count"),
}


async def add_reaction(
    session: AsyncSession,
    model: type[Like] | type[Boost],
    *,
    actor_id: int,
    post_id: int,
    ap_id: str | None,
    now: datetime,
) -> None:
    """Store a like or boost and count it on its post: two statements built once, the
    count raised in SQL (``+ 1`` on the stored figure, never a value read earlier),
    instead of the ORM's unit of work for the two rows. Every Like and Announce from the
    inbox comes through here; with ``insert_post`` this took the processing probe from
    237-264 to 264-297 activities/s (bench/analysis.md). The caller checked that the
    reaction is new."""
    add, count = _REACTION_STATEMENTS[model]
    await session.exec(  # type: ignore[call-overload]
        add,
        params={
            "id": new_id(),
            "actor_id": actor_id,
            "post_id": post_id,
            "ap_id": ap_id,
            "created_at": now,
        },
    )
    await session.exec(count, params={"post_id": post_id})  # type: ignore[call-overload]


async def add_reactions(
    session: AsyncSession, model: type[Like] | type[Boost], rows: Sequence[dict[str, Any]]
) -> None:
    """``add_reaction`` for many (``actor_id``, ``post_id``, ``ap_id``, ``created_at``;
    checked new by the caller): the same two statements, each run as one ``executemany``
    (a post liked twice in ``rows`` is counted twice, each time on the stored figure)."""
    if not rows:
        return
    add, count = _REACTION_STATEMENTS[model]
    await session.exec(add, params=[{"id": new_id(), **row} for row in rows])  # type: ignore[call-overload]
    await session.exec(count, params=[{"post_id": row["post_id"]} for row in rows])  # type: ignore[call-overload]


_POST_TABLE = Post.__table__  # type: ignore[attr-defined]
_INSERT_POST = sa_insert(_POST_TABLE).values(
    {column.key: bindparam(column.key) for column in _POST_TABLE.c}
)


async def insert_post(session: AsyncSession, post: Post) -> None:
    """Store a new post row as it stands, in one statement built once, without adding the
    object to the session (no flush of the ORM's unit of work): a remote reply or post
    from the inbox is written once and not changed in the same transaction. A later
    ``session.get`` of it reads the stored row."""
    values = {column.key: getattr(post, column.key) for column in _POST_TABLE.c}
    await session.exec(_INSERT_POST, params=values)  # type: ignore[call-overload]


async def insert_posts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """``insert_post`` for many new rows given as every column's value, one
    ``executemany`` of the same statement (a missing column is an error, not a silent
    default)."""
    if rows:
        await session.exec(_INSERT_POST, params=list(rows))  # type: ignore[call-overload]
