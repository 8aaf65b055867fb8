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
import logging
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

from federation import inbox_process
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
from storage.db import Database
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


class DeliveryWorker:
    def __init__(
        self,
        services: WorkerContext,
        *,
        transport: Transport | None = None,
        concurrency: int = 16,
        lock_for: timedelta = LOCK_FOR,
        rng: random.Random | None = None,
    ) -> None:
        self.services = services
        self._transport = transport
        self._own_transport: Transport | None = None
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._write = asyncio.Lock()  # one short write transaction at a time (SQLite)
        self.lock_for = lock_for
        self.rng = rng or random.Random()
        self.max_age = timedelta(hours=services.config.federation.delivery_max_age_hours)
        self._down: dict[str, datetime] = {}  # hosts paused during the current pass

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

    async def close(self) -> None:
        """Close the transport only if this worker made it."""
        if self._own_transport is not None:
            await self._own_transport.close()
            self._own_transport = None
            self._transport = None

    # -- one pass ---------------------------------------------------------------------

    async def run_once(self, *, limit: int = 100) -> int:
        """Claim up to ``limit`` due deliveries, attempt each once; returns how many."""
        db = self.services.db
        now = self.services.clock()
        lock = now + self.lock_for
        async with self._write, db.transaction() as session:
            await dq.postpone_unavailable(session, now=now)
            ids = await dq.claim_due(session, now=now, lock_until=lock, limit=limit)
        if not ids:
            return 0
        async with db.session() as session:
            claimed = await dq.load_claimed(session, ids)
        by_inbox: dict[str, list[dq.ClaimedDelivery]] = defaultdict(list)
        for item in claimed:
            by_inbox[item.delivery.inbox_url].append(item)
        self._down = {}
        await asyncio.gather(*(self._send_group(rows, lock) for rows in by_inbox.values()))
        return len(claimed)

    async def _send_group(self, rows: list[dq.ClaimedDelivery], lock: datetime) -> None:
        async with self._slots:
            for index, item in enumerate(rows):
                until = self._down.get(item.delivery.host)
                if until is not None:
                    rest = [r.delivery.id for r in rows[index:]]
                    async with self._write, self.services.db.transaction() as session:
                        await dq.release(session, rest, lock=lock, next_at=until)
                    return
                outcome = await self._attempt(item)
                await self._record(item, outcome, lock)

    async def _attempt(self, item: dq.ClaimedDelivery) -> Outcome:
        delivery = item.delivery
        if not item.key_id or not item.private_key_pem:
            return Outcome(None, error="the activity's actor has no signing key", permanent=True)
        signer = Signer(key_id=item.key_id, private_key_pem=item.private_key_pem)
        try:
            result = await self.transport.post_activity(
                delivery.inbox_url, item.payload.encode("utf-8"), signer=signer
            )
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

    async def _record(self, item: dq.ClaimedDelivery, outcome: Outcome, lock: datetime) -> None:
        now = self.services.clock()
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
        async with self._write, self.services.db.transaction() as session:
            if not await dq.finish_delivery(session, delivery.id, lock=lock, values=values):
                log.warning("delivery %s was taken over by another worker", delivery.id)
                return
            if not outcome.permanent:
                await self._update_host(
                    session, delivery.host or host_of(delivery.inbox_url), outcome, now
                )

    async def _update_host(self, session: Any, host: str, outcome: Outcome, now: datetime) -> None:
        row = await dq.load_host(session, host)
        health = HostHealth(
            row.consecutive_failures if row else 0,
            dq.aware(row.failing_since) if row else None,
            dq.aware(row.unavailable_until) if row else None,
            dq.aware(row.last_success_at) if row else None,
        )
        if host_counts_as_failure(outcome.status):
            after = host_after_failure(health, now)
            if after.unavailable_until is not None and not after.available(now):
                if health.available(now):
                    log.warning(
                        "host %s marked unavailable until %s", host, after.unavailable_until
                    )
                self._down[host] = after.unavailable_until
        else:
            after = host_after_success(health, now)
        if after != health or row is None:
            await dq.save_host(
                session,
                host,
                consecutive_failures=after.consecutive_failures,
                failing_since=after.failing_since,
                unavailable_until=after.unavailable_until,
                last_success_at=after.last_success_at,
            )

    # -- loops ------------------------------------------------------------------------

    async def run_forever(self, stop: asyncio.Event, idle_sleep: float = 1.0) -> None:
        """Pass after pass until ``stop`` is set; sleeps ``idle_sleep`` when idle."""
        while not stop.is_set():
            try:
                done = await self.run_once()
            except Exception:  # keep delivering after a transient database error
                log.exception("delivery pass failed")
                done = 0
            if done == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle_sleep)


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
    taking over what a crashed predecessor left claimed (:func:`worker_presence`)."""
    worker = DeliveryWorker(services)
    try:
        async with worker_presence(services):
            await asyncio.gather(
                worker.run_forever(stop),
                inbox_process.run_forever(services, stop),  # type: ignore[arg-type]
            )
    finally:
        await worker.close()
