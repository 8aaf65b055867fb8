"""The delivery worker: claims due ``delivery`` rows, signs and POSTs them, records results.

One pass (:meth:`DeliveryWorker.run_once`) is what tests step by hand; ``run_forever``
loops it until told to stop, and :func:`run_workers` is what ``tessera serve`` (in the
app's lifespan) and ``tessera worker`` run.

* **Claim** (``storage.delivery_queries.claim_due``): one atomic UPDATE sets
  ``locked_until = now + 2 min`` on due rows, so a crashed worker's rows come back on
  their own, and two workers never send the same row.
* **Send**: rows are grouped by inbox. Groups run concurrently (at most ``concurrency``
  requests in flight), the rows of one inbox one after another, so a slow server is never
  hit with parallel requests from us. Each POST is signed with the key of the activity's
  actor and goes through the one transport.
* **Record**: attempts, last status and error, and the retry policy's decision
  (``federation.retry``), written only if the row still carries our lock. Host health is
  updated in the same transaction; a host marked unavailable gets its other rows released
  and postponed instead of attempted.

* **Restart after a crash**: rows claimed by a killed process stay locked until their
  lock expires (2 min here, 10 min for inbox items). :func:`run_workers` releases them at
  once when it is the only worker process of the instance (see :func:`worker_presence`).

The worker is given the application's ``Services`` (typed here by the few attributes it
reads, since ``federation`` may not import ``services``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

from federation import background, inbox_process, outbox
from federation.addressing import host_of
from federation.retry import (
    Decision,
    HostHealth,
    host_after_failure,
    host_after_success,
    host_counts_as_failure,
    next_attempt,
)
from federation.transport import Signer, Transport
from federation.transport_errors import AddressRefused, FetchError
from storage import delivery_queries as dq
from storage import inbox_queries
from storage.db import Database, exempt_from_gate
from tessera.config import Config

try:  # POSIX; without flock a crashed worker's rows just wait for their locks to expire
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DeliveryWorker",
    "Outcome",
    "WorkerContext",
    "run_workers",
    "user_agent",
    "worker_presence",
]

log = logging.getLogger("tessera.delivery")

LOCK_FOR = timedelta(minutes=2)
ERROR_CHARS = 500
CLAIM_BATCH = 200  # rows per claim in the continuous loop
RECORD_BATCH = 500  # results per write transaction


class WorkerContext(Protocol):
    """What the worker reads from ``services.context.Services``."""

    config: Config
    db: Database
    clock: Callable[[], datetime]


def user_agent(config: Config) -> str:
    """Names the instance, so other servers' admins know who is calling."""
    return f"Tessera/0.1.0 (+{config.base_url})"


@dataclass(frozen=True)
class Outcome:
    """One attempt's result: an HTTP status, or None with an error for no answer."""

    status: int | None
    retry_after: float | None = None
    error: str | None = None
    permanent: bool = False  # never worth retrying (a refused address, no signing key)


class _Recorder:
    """Group commit of attempt results: one write transaction records every result that
    arrived while the previous one was committing.

    A commit per delivery capped the worker at SQLite's single-row commit rate and kept
    the event loop waiting on it; callers still await their own result's commit, so a
    group sends its next row only after the previous outcome (and host health) is stored.
    """

    def __init__(self, write: Callable[[list[_Result]], Awaitable[None]]) -> None:
        self._write = write
        self._pending: list[_Result] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, item: dq.ClaimedDelivery, outcome: Outcome, lock: datetime) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Result(item, outcome, lock, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let results that are ready in this loop turn join
        while self._pending:
            batch, self._pending = self._pending[:RECORD_BATCH], self._pending[RECORD_BATCH:]
            try:
                await self._write(batch)
            except Exception as exc:
                for result in batch:
                    if not result.done.done():
                        result.done.set_exception(exc)
            else:
                for result in batch:
                    if not result.done.done():
                        result.done.set_result(None)


@dataclass(frozen=True)
class _Result:
    item: dq.ClaimedDelivery
    outcome: Outcome
    lock: datetime
    done: asyncio.Future[None]


def _warm_transport() -> None:
    """Import the connection pool and build its TLS context (thread-safe, cached)."""
    from federation.transport_pool import tls_context

    tls_context()


class DeliveryWorker:
    def __init__(
        self,
        services: WorkerContext,
        *,
        transport: Transport | None = None,
        concurrency: int | None = None,
        lock_for: timedelta = LOCK_FOR,
        rng: random.Random | None = None,
    ) -> None:
        self.services = services
        self._transport = transport
        self._own_transport: Transport | None = None
        self._warming: asyncio.Future[None] | None = None
        federation = services.config.federation
        self.concurrency = max(1, concurrency or federation.delivery_concurrency)
        self._slots = asyncio.Semaphore(self.concurrency)
        self._write = asyncio.Lock()  # one short write transaction at a time (SQLite)
        self._recorder = _Recorder(self._write_results)
        self.lock_for = lock_for
        self.rng = rng or random.Random()
        self.max_age = timedelta(hours=federation.delivery_max_age_hours)
        self._down: dict[str, datetime] = {}  # hosts found unavailable, until when
        self._kick = asyncio.Event()  # something changed: new rows, a free slot, stop
        self._due = True  # rows may be waiting to be claimed

    @property
    def transport(self) -> Transport:
        """The given transport, else the application's shared one, else our own."""
        if self._transport is None:
            shared = getattr(self.services, "transport", None)
            if isinstance(shared, Transport):
                self._transport = shared
            else:
                config = self.services.config
                self._own_transport = Transport(
                    user_agent=user_agent(config),
                    allow_private_addresses=config.federation.allow_private_addresses,
                )
                self._transport = self._own_transport
        return self._transport

    async def _ready_transport(self) -> Transport:
        """The transport, its connection pool prepared in a thread on the first delivery.

        Importing aiohttp and loading the CA bundle take a tenth of a second or more and
        about 8 MB: a process that never delivers (a quiet instance, a web process beside a
        ``tessera worker``) should not pay them at start-up, and the one that does should
        not stall its event loop for them. Concurrent first deliveries share one warm-up.
        """
        if self._transport is None:
            if self._warming is None:
                self._warming = asyncio.ensure_future(asyncio.to_thread(_warm_transport))
            await self._warming
        return self.transport

    async def close(self) -> None:
        """Close the transport only if this worker made it."""
        if self._own_transport is not None:
            await self._own_transport.close()
            self._own_transport = None
            self._transport = None

    def wake(self) -> None:
        """New rows were committed in this process: claim them now, not at the next poll."""
        self._due = True
        self._kick.set()

    # -- one pass ---------------------------------------------------------------------

    async def run_once(self, *, limit: int = 100) -> int:
        """Claim up to ``limit`` due deliveries, attempt each once; returns how many."""
        self._down = {}
        groups, lock = await self._claim(limit)
        await asyncio.gather(*(self._send_group(rows, lock) for rows in groups))
        return sum(len(rows) for rows in groups)

    async def _claim(self, limit: int) -> tuple[list[list[dq.ClaimedDelivery]], datetime]:
        """Lock up to ``limit`` due rows; returns them grouped by inbox, and the lock."""
        db = self.services.db
        now = self.services.clock()
        lock = now + self.lock_for
        async with self._write, db.transaction() as session:
            await dq.postpone_unavailable(session, now=now)
            ids = await dq.claim_due(session, now=now, lock_until=lock, limit=limit)
        if not ids:
            return [], lock
        async with db.session() as session:
            claimed = await dq.load_claimed(session, ids)
        by_inbox: dict[str, list[dq.ClaimedDelivery]] = defaultdict(list)
        for item in claimed:
            by_inbox[item.delivery.inbox_url].append(item)
        return list(by_inbox.values()), lock

    async def _send_group(self, rows: list[dq.ClaimedDelivery], lock: datetime) -> None:
        async with self._slots:
            with background.working():  # no full collection in the middle of a fan-out
                for index, item in enumerate(rows):
                    until = self._down.get(item.delivery.host)
                    if until is not None and until > self.services.clock():
                        rest = [r.delivery.id for r in rows[index:]]
                        async with self._write, self.services.db.transaction() as session:
                            await dq.release(session, rest, lock=lock, next_at=until)
                        return
                    outcome = await self._attempt(item)
                    await self._recorder.record(item, outcome, lock)

    async def _attempt(self, item: dq.ClaimedDelivery) -> Outcome:
        delivery = item.delivery
        if not item.key_id or not item.private_key_pem:
            return Outcome(None, error="the activity's actor has no signing key", permanent=True)
        signer = Signer(key_id=item.key_id, private_key_pem=item.private_key_pem)
        try:
            transport = await self._ready_transport()
            result = await transport.post_activity(delivery.inbox_url, item.body, signer=signer)
        except AddressRefused as exc:
            return Outcome(None, error=exc.public, permanent=True)
        except FetchError as exc:
            return Outcome(None, error=exc.public)
        except Exception as exc:  # a bug must not leave the row locked for good
            log.exception("delivery %s to %s failed unexpectedly", delivery.id, delivery.host)
            return Outcome(None, error=f"internal error: {type(exc).__name__}")
        error = None if result.ok else (result.body_snippet or f"HTTP {result.status}")
        return Outcome(result.status, result.retry_after, error)

    def _decide(self, item: dq.ClaimedDelivery, outcome: Outcome, now: datetime) -> Decision:
        delivery = item.delivery
        if outcome.permanent:
            return Decision("give_up", None, outcome.error or "permanent failure")
        return next_attempt(
            delivery.attempts + 1,
            status=outcome.status,
            retry_after=outcome.retry_after,
            now=now,
            first_attempt_at=dq.aware(delivery.created_at) or now,
            rng=self.rng,
            previous_status=delivery.last_status,
            max_age=self.max_age,
        )

    def _values(self, item: dq.ClaimedDelivery, outcome: Outcome, now: datetime) -> dict[str, Any]:
        """The columns an attempt's outcome sets on its row."""
        delivery = item.delivery
        decision = self._decide(item, outcome, now)
        values: dict[str, Any] = {
            "attempts": delivery.attempts + 1,
            "last_status": outcome.status,
            "last_error": (outcome.error or "")[:ERROR_CHARS] or None,
        }
        if decision.kind == "done":
            values.update(state="delivered", delivered_at=now, last_error=None)
        elif decision.kind == "retry":
            assert decision.at is not None
            values["next_attempt_at"] = decision.at
        else:
            values["state"] = "gone" if decision.kind == "gone" else "failed"
            values["last_error"] = f"{decision.reason}: {outcome.error or ''}"[:ERROR_CHARS]
            log.info("delivery %s to %s: %s", delivery.id, delivery.inbox_url, decision.reason)
        return values

    async def _write_results(self, batch: list[_Result]) -> None:
        """Record a batch of outcomes, and the host health they imply, in one transaction.

        Rows are only written where they still carry our lock; host health follows the
        outcomes in the order they came in, one ``remote_host`` read and write per host.
        """
        now = self.services.clock()
        rows = [(r.item.delivery.id, r.lock, self._values(r.item, r.outcome, now)) for r in batch]
        async with self._write, self.services.db.transaction() as session:
            updated = await dq.finish_deliveries(session, rows)
            counted: list[_Result] = []
            for result in batch:
                if result.item.delivery.id not in updated:
                    log.warning(
                        "delivery %s was taken over by another worker", result.item.delivery.id
                    )
                elif not result.outcome.permanent:
                    counted.append(result)
            hosts = [r.item.delivery.host or host_of(r.item.delivery.inbox_url) for r in counted]
            rows_by_host = await dq.load_hosts(session, hosts)
            before: dict[str, HostHealth] = {}
            after: dict[str, HostHealth] = {}
            for host, result in zip(hosts, counted, strict=True):
                if host not in before:
                    row = rows_by_host.get(host)
                    before[host] = after[host] = HostHealth(
                        row.consecutive_failures if row else 0,
                        dq.aware(row.failing_since) if row else None,
                        dq.aware(row.unavailable_until) if row else None,
                        dq.aware(row.last_success_at) if row else None,
                    )
                after[host] = self._next_health(host, after[host], result.outcome.status, now)
            for host, health in after.items():
                if health != before[host] or host not in rows_by_host:
                    dq.put_host(
                        session,
                        rows_by_host.get(host),
                        host,
                        consecutive_failures=health.consecutive_failures,
                        failing_since=health.failing_since,
                        unavailable_until=health.unavailable_until,
                        last_success_at=health.last_success_at,
                    )

    def _next_health(
        self, host: str, health: HostHealth, status: int | None, now: datetime
    ) -> HostHealth:
        """A host's health after one more answer; remembers hosts that became unavailable
        so the rest of their claimed rows are released instead of attempted."""
        if not host_counts_as_failure(status):
            return host_after_success(health, now)
        after = host_after_failure(health, now)
        if after.unavailable_until is not None and not after.available(now):
            if health.available(now):
                log.warning("host %s marked unavailable until %s", host, after.unavailable_until)
            self._down[host] = after.unavailable_until
        return after

    # -- the loop ---------------------------------------------------------------------

    async def run_forever(self, stop: asyncio.Event, idle_sleep: float = 1.0) -> None:
        """Deliver until ``stop`` is set, as a continuous pipeline.

        Up to ``concurrency`` inboxes are being sent to at once and up to twice that many
        rows are claimed: whenever a quarter of that window is free and rows may be due,
        more are claimed, so one slow inbox never holds back the next claim. The queue is
        polled every ``idle_sleep`` seconds (retries coming due, other processes' rows),
        and at once when this process queues an activity (:meth:`wake`). On stop, claiming
        ends and the requests in flight are finished and recorded.
        """
        window = 2 * self.concurrency
        tasks: set[asyncio.Task[None]] = set()
        outstanding = 0
        self._due = True
        relay = asyncio.create_task(_relay(stop, self._kick))
        unsubscribe = outbox.on_queued(self.wake)

        def finished(task: asyncio.Task[None], count: int) -> None:
            nonlocal outstanding
            outstanding -= count
            tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                log.error("delivery group failed", exc_info=task.exception())
            self._kick.set()

        try:
            while not stop.is_set():
                free = window - outstanding
                if self._due and free >= max(1, window // 4):
                    self._due = False
                    try:
                        groups, lock = await self._claim(min(free, CLAIM_BATCH))
                    except Exception:  # keep delivering after a transient database error
                        log.exception("claiming deliveries failed")
                        groups, lock = [], self.services.clock()
                    claimed = sum(len(rows) for rows in groups)
                    self._due = self._due or claimed == min(free, CLAIM_BATCH)
                    self._prune_down()
                    for rows in groups:
                        task = asyncio.create_task(self._send_group(rows, lock))
                        tasks.add(task)
                        outstanding += len(rows)
                        task.add_done_callback(functools.partial(finished, count=len(rows)))
                    if claimed:
                        continue
                self._kick.clear()
                if stop.is_set() or (self._due and window - outstanding >= max(1, window // 4)):
                    continue
                try:
                    await asyncio.wait_for(self._kick.wait(), idle_sleep)
                except TimeoutError:
                    self._due = True
        finally:
            unsubscribe()
            relay.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    def _prune_down(self) -> None:
        now = self.services.clock()
        self._down = {host: until for host, until in self._down.items() if until > now}


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


# -- worker processes -------------------------------------------------------------------


def _presence_file(db: Database) -> Path | None:
    """The file beside a SQLite database that worker processes lock; None for PostgreSQL,
    an in-memory database, or a platform without ``flock``."""
    url = db.engine.url
    if fcntl is None or url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:":
        return None
    return Path(f"{url.database}-workers")


async def _announce(handle: IO[bytes]) -> bool:
    """Take the presence lock: exclusively (True: no other worker process) or shared."""
    while True:
        for mode, alone in ((fcntl.LOCK_EX, True), (fcntl.LOCK_SH, False)):
            try:
                fcntl.flock(handle, mode | fcntl.LOCK_NB)
                return alone
            except BlockingIOError:
                pass
        await asyncio.sleep(0.05)  # another worker holds it exclusively while it starts


@contextlib.asynccontextmanager
async def worker_presence(services: WorkerContext) -> AsyncIterator[bool]:
    """Mark this process as a running worker for the duration of the block; yields True
    when it was the only one, after releasing every claim left by dead processes.

    A claim (``locked_until``) cannot name its process (there is no owner column), so a
    lock can only be released early when it is known that no worker is alive to hold
    it. On SQLite every worker process (``tessera serve`` and ``tessera worker``) holds
    an ``flock`` on ``<database>-workers`` for its whole life, shared; the kernel drops
    it when the process dies, SIGKILL included. A process that gets it exclusively is
    alone: all locks in the database are a dead process's, it releases them and then
    shares the lock like the others. Elsewhere (PostgreSQL, no ``flock``) nothing is
    released early and a crashed worker's rows come back when their locks expire.
    """
    path = _presence_file(services.db)
    if path is None:
        yield False
        return
    try:
        handle = path.open("a+b")
    except OSError as exc:  # a read-only data folder: run without the early release
        log.warning("cannot open %s (%s); claims of a stopped worker wait for expiry", path, exc)
        yield False
        return
    with handle:  # closing it drops the lock
        alone = await _announce(handle)
        if alone:
            try:
                async with services.db.transaction() as session:
                    deliveries = await dq.release_all_locks(session)
                    items = await inbox_queries.release_all_item_locks(session)
                if deliveries or items:
                    log.warning(
                        "released the claims of a stopped worker: %d deliveries, %d inbox items",
                        deliveries,
                        items,
                    )
            except Exception:  # the locks still expire on their own
                log.exception("could not release the claims of a stopped worker")
            finally:
                fcntl.flock(handle, fcntl.LOCK_SH)
        yield alone


async def run_workers(services: WorkerContext, stop: asyncio.Event) -> None:
    """Every background worker of the instance, until ``stop`` is set: the delivery
    loop and the inbox processor, side by side (each catches its own failures), after
    taking over what a crashed predecessor left claimed (:func:`worker_presence`).
    Their sessions pass the database's gate for request sessions without waiting."""
    exempt_from_gate()
    worker = DeliveryWorker(services)
    try:
        async with worker_presence(services):
            await asyncio.gather(
                worker.run_forever(stop),
                inbox_process.run_forever(services, stop),  # type: ignore[arg-type]
            )
    finally:
        await worker.close()
