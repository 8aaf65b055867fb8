"""The inbox worker: claims stored activities and hands each to its handler.

The inbox endpoint only verifies, stores (``inbox_item``) and answers 202; everything
that takes time - fetching actors, parents and images, writing rows - happens here,
where a failure is retried instead of lost. Rows move ``pending`` → ``done`` /
``ignored`` (a type we do not handle, or an activity about something we do not have or
that its sender may not change), or stay ``pending`` with ``last_error``, ``attempts``
and a later ``next_attempt_at`` after an exception, until the fifth failure marks them
``failed``.

Claiming sets ``locked_until`` (as the delivery queue does), so an item held by a worker
that crashed comes back once the lock expires. Every handler is idempotent - processing
an item twice leaves the rows as processing it once - because "at least once" is the
only promise a crash-safe queue can make.

``run_once`` is the unit the background loop repeats and the tests call directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from federation.handlers import actors, follows, moderation, notes, reactions
from federation.handlers.base import DONE, IGNORED, InboxContext, InboxServices
from federation.parse import NOTE_TYPES, first, id_of, parse_activity, type_of
from storage import inbox_queries as q
from storage.federation_models import InboxItem

__all__ = [
    "LOCK_FOR",
    "MAX_ATTEMPTS",
    "process_payload",
    "retry_delay",
    "run_forever",
    "run_once",
]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
LOCK_FOR = timedelta(minutes=10)
"""How long a claimed item stays with its worker before another may take it."""

Handler = Callable[[InboxContext], Awaitable[str]]


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the ``attempts``-th failure: 1 min, 4 min, 16 min, 64 min (capped)."""
    return timedelta(minutes=min(4 ** max(0, attempts - 1), 6 * 60))


# --- dispatch ------------------------------------------------------------------------------


async def _undo(ctx: InboxContext) -> str:
    """Undo{X}: only the author of X may undo it, so an inlined X must name the Undo's
    actor; a bare id is looked up among that actor's own follows, reactions and blocks."""
    inner = ctx.activity.object
    if isinstance(inner, dict):
        inner_actor = id_of(first(inner.get("actor")))
        if inner_actor is not None and inner_actor != ctx.activity.actor:
            return IGNORED
        kind = type_of(inner)
        if kind == "Follow":
            return await follows.on_undo_follow(ctx, inner)
        if kind == "Like":
            return await reactions.on_undo_reaction(ctx, inner, reactions.Like)
        if kind == "Announce":
            return await reactions.on_undo_reaction(ctx, inner, reactions.Boost)
        if kind == "Block":
            return await moderation.on_undo_block(ctx, inner)
        if kind:
            return IGNORED
    if id_of(inner) is None:
        return IGNORED
    for attempt in (
        lambda: follows.on_undo_follow(ctx, inner),
        lambda: reactions.on_undo_reaction(ctx, inner, reactions.Like),
        lambda: reactions.on_undo_reaction(ctx, inner, reactions.Boost),
        lambda: moderation.on_undo_block(ctx, inner),
    ):
        if await attempt() == DONE:
            return DONE
    return IGNORED


async def _create(ctx: InboxContext) -> str:
    obj = ctx.activity.object
    if isinstance(obj, dict) and type_of(obj) not in NOTE_TYPES:
        return IGNORED
    return await notes.on_create(ctx)


async def _update(ctx: InboxContext) -> str:
    obj = ctx.activity.object
    if ctx.activity.object_id is not None and ctx.activity.object_id == ctx.activity.actor:
        return await actors.on_update_actor(ctx)
    if isinstance(obj, dict) and type_of(obj) not in NOTE_TYPES:
        return IGNORED
    return await notes.on_update(ctx)


async def _delete(ctx: InboxContext) -> str:
    if ctx.activity.object_id is not None and ctx.activity.object_id == ctx.activity.actor:
        return await actors.on_delete_actor(ctx)
    return await notes.on_delete(ctx)


async def _ignore(_ctx: InboxContext) -> str:
    return IGNORED


HANDLERS: dict[str, Handler] = {
    "Follow": follows.on_follow,
    "Accept": follows.on_accept,
    "Reject": follows.on_reject,
    "Undo": _undo,
    "Like": reactions.on_like,
    "Announce": reactions.on_announce,
    "Create": _create,
    "Update": _update,
    "Delete": _delete,
    "Block": moderation.on_block,
    "Flag": moderation.on_flag,
    "Move": _ignore,
}


async def process_payload(
    services: InboxServices, payload: str, *, sender: str, item_id: int = 0
) -> str:
    """Process one stored activity; returns ``done`` or ``ignored`` (raises to retry).

    ``sender`` is the actor the inbox verified; an activity claiming another actor is
    ignored (the endpoint should never store one, but the worker does not rely on it).
    """
    try:
        document: Any = json.loads(payload)
    except ValueError:
        return IGNORED
    if not isinstance(document, dict):
        return IGNORED
    activity = parse_activity(document)
    if activity.actor is None or activity.actor != sender:
        return IGNORED
    handler = HANDLERS.get(activity.type)
    if handler is None:
        return IGNORED
    return await handler(InboxContext(services=services, activity=activity, item_id=item_id))


# --- the queue -------------------------------------------------------------------------------


async def _finish(services: InboxServices, item_id: int, state: str) -> None:
    async with services.db.transaction() as session:
        item = await session.get(InboxItem, item_id)
        if item is None:
            return
        item.state = state
        item.processed_at = services.clock()
        item.locked_until = None
        session.add(item)


async def _fail(services: InboxServices, item_id: int, error: BaseException) -> None:
    now = services.clock()
    async with services.db.transaction() as session:
        item = await session.get(InboxItem, item_id)
        if item is None:
            return
        item.attempts += 1
        item.last_error = f"{type(error).__name__}: {error}"[:2000]
        item.locked_until = None
        if item.attempts >= MAX_ATTEMPTS:
            item.state = "failed"
            item.processed_at = now
        else:
            item.next_attempt_at = now + retry_delay(item.attempts)
        session.add(item)


async def run_once(services: InboxServices, *, limit: int = 50) -> int:
    """Claim up to ``limit`` due items and process each; returns how many were claimed."""
    now = services.clock()
    async with services.db.transaction() as session:
        items = await q.claim_due_items(session, now=now, lock_until=now + LOCK_FOR, limit=limit)
        claimed = [(item.id, item.payload, item.actor_ap_id) for item in items]
    for item_id, payload, sender in claimed:
        try:
            state = await process_payload(services, payload, sender=sender, item_id=item_id)
        except Exception as exc:
            log.warning("inbox item %s failed: %s", item_id, exc, exc_info=True)
            await _fail(services, item_id, exc)
            continue
        await _finish(services, item_id, state)
    return len(claimed)


async def run_forever(services: InboxServices, stop: asyncio.Event, *, idle: float = 1.0) -> None:
    """Process the queue until ``stop`` is set, resting ``idle`` seconds whenever it is
    empty. A pass that fails as a whole (the database briefly unavailable) is logged and
    tried again after the rest; items themselves never escape ``run_once``."""
    while not stop.is_set():
        try:
            claimed = await run_once(services)
        except Exception:
            log.exception("inbox processing pass failed")
            claimed = 0
        if claimed == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=idle)
