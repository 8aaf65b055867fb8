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
import logging
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from federation import background, inbox_batch, json_documents
from federation.handlers import actors, follows, moderation, moves, notes, reactions
from federation.handlers.base import DONE, IGNORED, InboxContext, InboxServices
from federation.parse import NOTE_TYPES, first, id_of, parse_activity, type_of
from storage import inbox_queries as q
from storage.inbox_writer import MAX_YIELD
from storage.sqlite_driver import deferred_writes, read_inline

__all__ = [
    "LOCK_FOR",
    "MAX_ATTEMPTS",
    "NeedsSingleRun",
    "notify",
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
    "Move": moves.on_move,
}


async def process_payload(
    services: InboxServices, payload: str, *, sender: str, item_id: int = 0
) -> str:
    """Process one stored activity; returns ``done`` or ``ignored`` (raises to retry).

    ``sender`` is the actor the inbox verified; an activity claiming another actor is
    ignored (the endpoint should never store one, but the worker does not rely on it).
    """
    try:
        document: Any = json_documents.loads(payload)
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


class NeedsSingleRun(Exception):
    """Raised while an item is processed in one transaction when it wants something that
    does not give it: a network request (which must not hold a write transaction), or a
    transaction of its own that failed. The item is then processed on its own, with its
    own transactions, exactly as it would be without the shortcut. Not a ``FetchError``:
    handlers let it through."""


class _Offline:
    """The transport inside an item's transaction: reaching for it sends the item to a
    single run (before any other work for the request, such as the instance signer)."""

    def __getattr__(self, name: str) -> Any:
        raise NeedsSingleRun(f"transport.{name}")


class _UnitDatabase:
    """The item's one session where handlers expect a database: their reads and their
    transactions use it, and the item's transaction commits them all. A handler that
    catches an error from its transaction expects that transaction rolled back; here it
    would not be, so any error leaving one becomes ``NeedsSingleRun``, which no handler
    catches, and the whole item rolls back."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        yield self._session

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        try:
            yield self._session
            await self._session.flush()
        except NeedsSingleRun:
            raise
        except Exception as exc:
            raise NeedsSingleRun(f"{type(exc).__name__}: {exc}") from exc

    def __getattr__(self, name: str) -> Any:
        raise NeedsSingleRun(f"db.{name}")


class _UnitServices:
    """The application's services as handlers see them in an item's transaction: its
    session for ``db``, no network; everything else (config, clock, blobs) unchanged."""

    def __init__(self, services: InboxServices, session: AsyncSession) -> None:
        self._services = services
        self.db = _UnitDatabase(session)
        self.transport = _Offline()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._services, name)


SINGLE_ONLY = frozenset({"Update", "Delete"})
"""Types always run on their own: they delete files after their commit (a post's
images), which must not happen before the item's own commit is certain."""

CLAIM_SIZE = 100
"""Items claimed at once (one select, one update)."""

BUSY_CLAIM_SIZE = 75
"""Items claimed at once while deliveries are waiting to be stored. A pass holds the event
loop for its parsing, reads and decisions, and the inbox's writer waits for its write
transaction, so a smaller pass keeps the inbox's latency down; but each pass also waits
its turn behind every delivery in flight at each of its awaits, so a smaller one falls
behind a flood. Measured at 32 deliveries in flight (inbox benchmark, two runs each):
50 items, p99 31-34 ms and a backlog growing through the flood (peak 1,300 rows); 100,
p99 49-69 ms and a peak of 158; 75, p99 40-53 ms and a peak of 580-700."""

GIVE_WAY = 0.005
"""Seconds the background worker's passes give way to waiting deliveries at most
(``run_once`` otherwise waits up to ``MAX_YIELD``). Under a flood deliveries are hardly
ever all stored at once, and a worker that waited up to a second for that, twice a pass,
processed nothing for seconds while the backlog grew by every delivery accepted
(bench/analysis.md); the writer still never meets the worker's write lock
(``InboxWriter.writing``)."""

SINGLE_CONCURRENCY = 8
"""Items processed on their own (network fetches) at once; one sender's in order."""

GATHER = 0.025
"""Seconds the background worker lets deliveries gather after a pass that claimed fewer
than it could take, before it claims again. A pass costs its claim, the batch's reads
and its write transaction whatever its size, so a worker that chases a steady trickle
claims one or two items a pass and spends most of the event loop on those fixed costs
(the inbox's latency with it: a delivery's commit waits for the pass's transaction). A
lone delivery is still processed at once (the pass that a ``notify`` starts does not
wait); what arrives while a pass runs waits at most this much longer."""


def _error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


async def _record_failure(
    session: AsyncSession, item: q.ClaimedItem, error: BaseException, now: datetime
) -> None:
    attempts = item.attempts + 1
    await q.record_failure(
        session,
        item.id,
        attempts=attempts,
        error=_error_text(error),
        now=now,
        retry_at=None if attempts >= MAX_ATTEMPTS else now + retry_delay(attempts),
    )


async def _run_single(services: InboxServices, item: q.ClaimedItem) -> None:
    """One item with its own transactions, free to wait on the network."""
    try:
        state = await process_payload(
            services, item.payload, sender=item.actor_ap_id, item_id=item.id
        )
    except Exception as exc:
        log.warning("inbox item %s failed: %s", item.id, exc, exc_info=True)
        async with services.db.transaction() as session:
            await _record_failure(session, item, exc, services.clock())
        return
    async with services.db.transaction() as session:
        await q.finish_items(session, [item.id], state=state, now=services.clock())


async def _run_singles(services: InboxServices, items: list[q.ClaimedItem]) -> None:
    """Deferred items: one sender's in claim order, different senders concurrently."""
    by_sender: dict[str, list[q.ClaimedItem]] = defaultdict(list)
    for item in items:
        by_sender[item.actor_ap_id].append(item)
    slots = asyncio.Semaphore(SINGLE_CONCURRENCY)

    async def run(group: list[q.ClaimedItem]) -> None:
        async with slots:
            for item in group:
                await _run_single(services, item)

    await asyncio.gather(*(run(group) for group in by_sender.values()))


async def _run_unit(services: InboxServices, item: q.ClaimedItem, give_way: float) -> bool:
    """Process ``item`` in one transaction with its outcome (one session, one commit);
    False, with nothing written, when it must run on its own instead."""
    try:
        writer = services.inbox_writer
        await writer.wait_idle(give_way)
        async with writer.writing(), services.db.transaction() as session:
            state = await process_payload(
                _UnitServices(services, session),
                item.payload,
                sender=item.actor_ap_id,
                item_id=item.id,
            )
            await q.finish_items(session, [item.id], state=state, now=services.clock())
    except Exception as exc:
        # Wants the network, or failed: the single run does it, or records the failure
        # for a retry with backoff.
        log.debug("inbox item %s runs on its own: %s", item.id, exc)
        return False
    return True


async def run_once(
    services: InboxServices,
    *,
    limit: int = CLAIM_SIZE,
    batch: bool = True,
    give_way: float = MAX_YIELD,
) -> int:
    """Claim up to ``limit`` due items and process them; returns how many were claimed.

    First the Likes and self-contained notes among them are processed together, set-wise
    (``federation.inbox_batch``; ``batch=False`` skips that, so tests can compare both
    ways). What the batch leaves, and everything else, goes on as follows.

    Each item that needs nothing but the database is processed in one transaction, its
    outcome included: one session and one commit per item, and SQLite's write lock held
    only from its first write to that commit. Before each of these transactions the
    worker gives way to deliveries the inbox endpoint is waiting to store
    (``InboxWriter.wait_idle``): a writer waiting for SQLite's lock polls for it, and a
    worker that takes the lock again right after each commit would starve it.
    An item that wants the network (an actor or object to fetch, an image), is of a
    ``SINGLE_ONLY`` type, or raised, is processed again on its own after the others, as
    it always was (a failure is recorded for a retry with backoff), and so are the later
    items of the same sender: one sender's activities take effect in the order they were
    stored (an Undo after its Like).
    """
    with background.working():  # no full collection in the middle of a pass
        return await _run_pass(services, limit=limit, batch=batch, give_way=give_way)


async def _run_pass(services: InboxServices, *, limit: int, batch: bool, give_way: float) -> int:
    writer = services.inbox_writer
    await writer.wait_idle(give_way)
    now = services.clock()
    # the claim writes too: the inbox's writer waits for it rather than meeting its lock
    # (its update goes to SQLite's thread with the commit, in one hand-off)
    with deferred_writes():
        async with writer.writing(), services.db.transaction() as session:
            claimed = await q.claim_due_items(
                session, now=now, lock_until=now + LOCK_FOR, limit=limit
            )
    claimed.sort(key=lambda item: item.id)
    batched: set[int] = set()
    if batch:
        candidates, _rest = inbox_batch.plan(claimed, services.config.base_url)
        if candidates:
            left = set(await inbox_batch.run_batch(services, candidates, give_way=give_way))
            batched = {c.item.id for c in candidates} - left
    deferred: list[q.ClaimedItem] = []
    held_back: set[str] = set()  # senders with an item deferred: their later ones wait too
    for item in claimed:
        if item.id in batched:
            continue
        if (
            item.actor_ap_id in held_back
            or item.activity_type in SINGLE_ONLY
            or not await _run_unit(services, item, give_way)
        ):
            held_back.add(item.actor_ap_id)
            deferred.append(item)
    if deferred:
        await _run_singles(services, deferred)
    return len(claimed)


_wakers: weakref.WeakKeyDictionary[object, asyncio.Event] = weakref.WeakKeyDictionary()


def notify(db: object) -> None:
    """Wake the worker that processes the queue of ``db`` (the application's
    ``services.db``), if one runs in this process: call it after new items were committed,
    so they are processed now instead of at the next poll."""
    event = _wakers.get(db)
    if event is not None:
        event.set()


async def run_forever(
    services: InboxServices, stop: asyncio.Event, *, idle: float = 0.25, gather: float = GATHER
) -> None:
    """Process the queue until ``stop`` is set, resting up to ``idle`` seconds whenever it
    is empty (``notify`` ends the rest early; an empty poll is one indexed select, so a
    short rest costs little and new deliveries wait at most that long), and ``gather``
    seconds after a pass that found fewer items than it could claim. A pass that fails
    as a whole (the database briefly unavailable) is logged and tried again after the
    rest; items themselves never escape ``run_once``."""
    read_inline()  # this task's point lookups skip the SQLite thread's hand-off
    wake = _wakers.setdefault(services.db, asyncio.Event())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            wake.clear()
            limit = BUSY_CLAIM_SIZE if services.inbox_writer.waiting else CLAIM_SIZE
            try:
                claimed = await run_once(services, limit=limit, give_way=GIVE_WAY)
            except Exception:
                log.exception("inbox processing pass failed")
                claimed = 0
            if claimed == 0 and not wake.is_set():
                waking = asyncio.ensure_future(wake.wait())
                await asyncio.wait(
                    {stopping, waking}, timeout=idle, return_when=asyncio.FIRST_COMPLETED
                )
                waking.cancel()
            elif 0 < claimed < limit:  # a partial pass: let the next one gather
                await asyncio.wait({stopping}, timeout=gather)
    finally:
        stopping.cancel()
        if _wakers.get(services.db) is wake:
            del _wakers[services.db]
