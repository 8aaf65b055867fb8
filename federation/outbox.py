"""Queueing outgoing activities: one ``outbox_activity`` row and one ``delivery`` row per
target inbox, written in the caller's transaction.

Writing deliveries in the same transaction as the data they announce means a post and
its Create are committed together or not at all; the delivery worker sends them later and
a crash in between loses nothing. Shared inboxes are preferred and deduplicated, so 10,000
followers on 1,000 servers cost 1,000 requests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.delivery_queries import call_after_commit
from storage.federation_models import Delivery, OutboxActivity
from storage.ids import new_id
from storage.models import Actor, Follow, utcnow

_listeners: list[Callable[[], None]] = []


def on_queued(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener`` whenever a transaction of this process that queued deliveries
    has committed; returns the function that unsubscribes it.

    The delivery worker running in the same process subscribes, so a new post starts
    going out at once instead of at the worker's next idle poll. Other processes (a
    separate ``tessera worker``) still find the rows by polling.
    """
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def _queued() -> None:
    for listener in list(_listeners):
        listener()


def inbox_for(actor: Actor) -> str | None:
    """Where to deliver to this remote actor: its server's shared inbox when it has one."""
    if actor.domain is None:
        return None
    return actor.shared_inbox_url or actor.inbox_url


async def follower_inboxes(session: AsyncSession, actor_id: int) -> set[str]:
    """Deduplicated inboxes of the remote accepted followers of ``actor_id``."""
    result = await session.exec(
        select(Actor)
        .join(Follow, col(Follow.follower_id) == col(Actor.id))
        .where(
            col(Follow.followee_id) == actor_id,
            col(Follow.state) == "accepted",
            col(Actor.domain).is_not(None),
        )
    )
    return {inbox for actor in result.all() if (inbox := inbox_for(actor))}


async def enqueue_activity(
    session: AsyncSession,
    *,
    actor: Actor,
    activity: dict[str, Any],
    inboxes: Iterable[str],
    local_base_url: str,
    now: datetime | None = None,
) -> OutboxActivity | None:
    """Store ``activity`` and a pending delivery to each remote inbox (no commit here).

    Inboxes on our own instance are skipped: local recipients see the rows directly.
    Returns None when there is nobody to deliver to (nothing is stored then). ``now`` (the
    injectable clock) dates the rows: deliveries are due from then, and retried for at
    most the configured age counted from then.
    """
    when = now or utcnow()
    local_host = urlsplit(local_base_url).netloc.lower()
    targets = sorted({url for url in inboxes if url and urlsplit(url).netloc.lower() != local_host})
    if not targets:
        return None
    ap_id = str(activity.get("id") or "")
    existing = (
        await session.exec(select(OutboxActivity).where(OutboxActivity.ap_id == ap_id))
    ).first()
    outbox = existing or OutboxActivity(
        id=new_id(),
        ap_id=ap_id,
        actor_id=actor.id,
        activity_type=str(activity.get("type", "")),
        payload=json.dumps(activity, separators=(",", ":"), ensure_ascii=False),
        created_at=when,
    )
    if existing is None:
        session.add(outbox)
        await session.flush()
    already = set(
        (
            await session.exec(select(Delivery.inbox_url).where(Delivery.activity_id == outbox.id))
        ).all()
    )
    for url in targets:
        if url not in already:
            session.add(
                Delivery(
                    id=new_id(),
                    activity_id=outbox.id,
                    inbox_url=url,
                    host=urlsplit(url).netloc.lower(),
                    created_at=when,
                    next_attempt_at=when,
                )
            )
    await session.flush()
    if _listeners:
        call_after_commit(session, _queued)
    return outbox
