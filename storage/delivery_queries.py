"""Named queries of the delivery queue and of delivery audiences.

Claiming is one ``UPDATE … WHERE id IN (due rows) AND still unlocked … RETURNING id``:
a single statement, so on SQLite two workers (the server's and a ``tessera worker``) can
never both take a row, and a crashed worker's rows come back by themselves when their
``locked_until`` passes. The lock value doubles as the claim's token: a worker records a
result only on rows that still carry the lock it set, so a worker that overran its lock
cannot overwrite the row another worker has since taken.

SQLite hands datetimes back without a zone; every stored time is UTC, and :func:`aware`
puts the zone back before Python compares them with the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, event, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.federation_models import Delivery, InboxItem, Mention, OutboxActivity, RemoteHost
from storage.in_lists import padded
from storage.models import Actor, Boost, Follow, Post

__all__ = [
    "ClaimedDelivery",
    "aware",
    "boosters_of",
    "call_after_commit",
    "claim_due",
    "finish_deliveries",
    "finish_delivery",
    "follower_actors",
    "load_claimed",
    "load_hosts",
    "mentioned_actors",
    "parent_author",
    "postpone_unavailable",
    "put_host",
    "received_payload",
    "release",
    "release_all_locks",
]


def aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _unlocked(now: datetime) -> Any:
    return or_(col(Delivery.locked_until).is_(None), col(Delivery.locked_until) < now)


async def postpone_unavailable(session: AsyncSession, *, now: datetime) -> int:
    """Move the due rows of hosts marked unavailable to the end of their pause, so they
    wait instead of being attempted (and are not scanned again until then)."""
    until = (
        sa_select(RemoteHost.unavailable_until)
        .where(col(RemoteHost.host) == col(Delivery.host))
        .scalar_subquery()
    )
    down = sa_select(RemoteHost.host).where(col(RemoteHost.unavailable_until) > now)
    result = await session.exec(  # type: ignore[call-overload]
        update(Delivery)
        .where(
            col(Delivery.state) == "pending",
            col(Delivery.host).in_(down),
            col(Delivery.next_attempt_at) < until,
            _unlocked(now),
        )
        .values(next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def claim_due(
    session: AsyncSession, *, now: datetime, lock_until: datetime, limit: int
) -> list[int]:
    """Lock up to ``limit`` due pending rows (oldest due first) and return their ids.

    Due: pending, ``next_attempt_at <= now``, not locked (or the lock expired), and the
    host not marked unavailable. On PostgreSQL the inner select should gain
    ``.with_for_update(skip_locked=True)`` so concurrent workers skip each other's rows
    instead of waiting; SQLite has no row locks and runs the whole UPDATE atomically.
    """
    down = sa_select(RemoteHost.host).where(col(RemoteHost.unavailable_until) > now)
    due = (
        sa_select(Delivery.id)
        .where(
            col(Delivery.state) == "pending",
            col(Delivery.next_attempt_at) <= now,
            _unlocked(now),
            col(Delivery.host).not_in(down),
        )
        .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
        .limit(limit)
        # PostgreSQL: .with_for_update(skip_locked=True)
    )
    result = await session.exec(  # type: ignore[call-overload]
        update(Delivery)
        .where(col(Delivery.id).in_(due), col(Delivery.state) == "pending", _unlocked(now))
        .values(locked_until=lock_until)
        .returning(col(Delivery.id))
        .execution_options(synchronize_session=False)
    )
    return [int(row[0]) for row in result.all()]


@dataclass(frozen=True)
class ClaimedDelivery:
    """A claimed row with what sending it needs: the payload and the signing key."""

    delivery: Delivery
    payload: str
    key_id: str | None
    private_key_pem: str | None
    body: bytes  # the payload as sent; one shared object per activity in a claim


async def load_claimed(session: AsyncSession, ids: Sequence[int]) -> list[ClaimedDelivery]:
    if not ids:
        return []
    result = await session.exec(
        select(Delivery, OutboxActivity.payload, Actor.key_id, Actor.private_key_pem)
        .join(OutboxActivity, col(OutboxActivity.id) == col(Delivery.activity_id))
        .join(Actor, col(Actor.id) == col(OutboxActivity.actor_id))
        .where(col(Delivery.id).in_(padded(ids)))
        .order_by(col(Delivery.id))
    )
    bodies: dict[int, bytes] = {}
    claimed = []
    for d, p, k, pem in result.all():
        body = bodies.get(d.activity_id)
        if body is None:
            body = bodies[d.activity_id] = p.encode("utf-8")
        claimed.append(ClaimedDelivery(d, p, k, pem, body))
    return claimed


async def finish_delivery(
    session: AsyncSession, delivery_id: int, *, lock: datetime, values: dict[str, Any]
) -> bool:
    """Record an attempt's outcome on a row this worker still holds (``lock`` matches);
    the lock is released. False when the row was meanwhile taken by another worker."""
    result = await session.exec(  # type: ignore[call-overload]
        update(Delivery)
        .where(col(Delivery.id) == delivery_id, col(Delivery.locked_until) == lock)
        .values(locked_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


async def finish_deliveries(
    session: AsyncSession, results: Iterable[tuple[int, datetime, dict[str, Any]]]
) -> set[int]:
    """:func:`finish_delivery` for many rows at once: ``(id, lock, values)`` triples.

    Rows that get the same values (every success of a fan-out: delivered, status 202,
    attempt 1) are written by one ``UPDATE … WHERE id IN (…) RETURNING id``, so recording
    a batch costs a statement per distinct outcome instead of one per row. Returns the ids
    that still carried their lock and were updated.
    """
    groups: dict[tuple[datetime, tuple[tuple[str, Any], ...]], list[int]] = {}
    for delivery_id, lock, values in results:
        groups.setdefault((lock, tuple(sorted(values.items()))), []).append(delivery_id)
    updated: set[int] = set()
    for (lock, items), ids in groups.items():
        result = await session.exec(  # type: ignore[call-overload]
            update(Delivery)
            .where(col(Delivery.id).in_(padded(ids)), col(Delivery.locked_until) == lock)
            .values(locked_until=None, **dict(items))
            .returning(col(Delivery.id))
            .execution_options(synchronize_session=False)
        )
        updated.update(int(row[0]) for row in result.all())
    return updated


def call_after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's transaction has committed (never on rollback).

    The outbox uses it to wake the delivery worker of this process as soon as new rows
    are visible to it, instead of leaving them until the worker's next idle poll.
    """
    event.listen(session.sync_session, "after_commit", lambda _session: callback(), once=True)


async def release(
    session: AsyncSession, delivery_ids: Sequence[int], *, lock: datetime, next_at: datetime
) -> None:
    """Give claimed rows back unattempted, due again at ``next_at``."""
    if not delivery_ids:
        return
    await session.exec(  # type: ignore[call-overload]
        update(Delivery)
        .where(col(Delivery.id).in_(padded(delivery_ids)), col(Delivery.locked_until) == lock)
        .values(locked_until=None, next_attempt_at=next_at)
        .execution_options(synchronize_session=False)
    )


async def release_all_locks(session: AsyncSession) -> int:
    """Unlock every claimed row, due again at once (their ``next_attempt_at`` is kept).

    Only correct when no worker is running: a live worker's rows would be sent twice.
    ``federation.delivery.run_workers`` calls it at start when it knows it is the only
    worker process, so a restart after a crash resumes without waiting for the locks of
    the dead process to expire. Returns how many rows were unlocked.
    """
    result = await session.exec(  # type: ignore[call-overload]
        update(Delivery)
        .where(col(Delivery.locked_until).is_not(None))
        .values(locked_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def load_hosts(session: AsyncSession, hosts: Iterable[str]) -> dict[str, RemoteHost]:
    """The ``remote_host`` rows of ``hosts`` that exist, by host, in one query."""
    names = sorted(set(hosts))
    if not names:
        return {}
    result = await session.exec(select(RemoteHost).where(col(RemoteHost.host).in_(padded(names))))
    return {row.host: row for row in result.all()}


def put_host(
    session: AsyncSession,
    row: RemoteHost | None,
    host: str,
    *,
    consecutive_failures: int,
    failing_since: datetime | None,
    unavailable_until: datetime | None,
    last_success_at: datetime | None,
) -> None:
    """Write a host's health onto its row as read by :func:`load_hosts` (``None``: the host
    has no row yet), so a batch of results does not read each host again."""
    row = row or RemoteHost(host=host)
    row.consecutive_failures = consecutive_failures
    row.failing_since = failing_since
    row.unavailable_until = unavailable_until
    row.last_success_at = last_success_at
    session.add(row)


# --- audiences ---------------------------------------------------------------------------


async def follower_actors(session: AsyncSession, actor_id: int) -> list[Actor]:
    """Remote actors whose follow of ``actor_id`` is accepted."""
    result = await session.exec(
        select(Actor)
        .join(Follow, col(Follow.follower_id) == col(Actor.id))
        .where(
            col(Follow.followee_id) == actor_id,
            col(Follow.state) == "accepted",
            col(Actor.domain).is_not(None),
        )
    )
    return list(result.all())


async def mentioned_actors(session: AsyncSession, post_id: int) -> list[Actor]:
    result = await session.exec(
        select(Actor)
        .join(Mention, col(Mention.actor_id) == col(Actor.id))
        .where(col(Mention.post_id) == post_id)
    )
    return list(result.all())


async def boosters_of(session: AsyncSession, post_id: int) -> list[Actor]:
    """Remote actors who boosted the post: their servers hold a copy worth updating."""
    result = await session.exec(
        select(Actor)
        .join(Boost, col(Boost.actor_id) == col(Actor.id))
        .where(and_(col(Boost.post_id) == post_id, col(Actor.domain).is_not(None)))
    )
    return list(result.all())


async def parent_author(session: AsyncSession, post: Post) -> Actor | None:
    """The author of the post ``post`` answers, when we have that post."""
    if post.in_reply_to_id is None:
        return None
    result = await session.exec(
        select(Actor)
        .join(Post, col(Post.actor_id) == col(Actor.id))
        .where(col(Post.id) == post.in_reply_to_id)
    )
    return result.first()


async def received_payload(session: AsyncSession, activity_id: str) -> str | None:
    """The raw JSON of an activity we received (the Follow an Accept should embed)."""
    result = await session.exec(
        select(InboxItem.payload).where(col(InboxItem.activity_id) == activity_id)
    )
    return result.first()
