"""The inbox's fast path: keys that verified lately kept in memory, rows stored by a
group-commit writer. Deliveries are real signatures from the fake peer, sent concurrently
over HTTP to the app; rows are read back from the SQLite file.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text

from federation import inbox_receive
from federation.delivery import run_workers
from federation.fetch import get_actor
from federation.key_cache import RECHECK_AFTER
from services.context import Services
from storage import db as dbmod
from storage.federation_models import InboxItem
from storage.inbox_queries import claim_due_items
from storage.remote_queries import NewInboxItem, insert_inbox_items
from tessera.config import Config
from tests.inbox.conftest import inbox_count, inbox_items
from tests.inbox.peer import FakePeer

NOTE = "http://gallery.test/users/alice/statuses/1"


async def receive_signed(
    services: Services, peer: FakePeer, activity: dict[str, object]
) -> inbox_receive.InboxOutcome:
    """One delivery signed by bob, straight to the inbox's decision (outcome visible)."""
    body = json.dumps(activity).encode()
    headers = peer.signed_headers(f"{services.config.base_url}/inbox", body, name="bob")
    return await inbox_receive.receive(
        services, method="POST", target="/inbox", headers=headers, body=body
    )


async def test_concurrent_deliveries_are_each_stored_once(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    likes = [peer.activity("bob", "Like", NOTE, suffix=str(n)) for n in range(12)]
    repeated = peer.activity("bob", "Announce", NOTE)
    sent = [*likes, *[repeated] * 6]
    answers = await asyncio.gather(*(peer.deliver(client, "/inbox", a) for a in sent))
    assert [a.status_code for a in answers] == [202] * len(sent)
    stored = await inbox_items(services)
    assert sorted(i.activity_id for i in stored) == sorted(a["id"] for a in [*likes, repeated])
    assert {i.activity_id: json.loads(i.payload) for i in stored}[repeated["id"]] == repeated
    assert {i.state for i in stored} == {"pending"}


async def test_each_caller_learns_whether_its_row_was_new(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    """Copies of one activity arriving together: exactly one of them stores it."""
    first = peer.activity("bob", "Like", NOTE)
    assert (
        await receive_signed(services, peer, first)
    ).stored  # bob's key is fetched once, then remembered
    raced = peer.activity("bob", "Like", NOTE, suffix="2")
    copies = await asyncio.gather(
        *(receive_signed(services, peer, a) for a in [raced] * 8 + [first] * 2)
    )
    assert [c.status for c in copies] == [202] * 10
    assert sorted(c.stored for c in copies[:8]) == [False] * 7 + [True]
    assert {c.note for c in copies if not c.stored} == {"duplicate"}
    assert not any(c.stored for c in copies[8:])
    assert sorted(i.activity_id for i in await inbox_items(services)) == sorted(
        [first["id"], raced["id"]]
    )


async def test_a_remembered_key_needs_no_fetch_and_a_bad_signature_is_still_refused(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    for n in range(3):
        like = peer.activity("bob", "Like", NOTE, suffix=str(n))
        assert (await peer.deliver(client, "/inbox", like)).status_code == 202
    assert len(peer.fetches_of("/users/bob")) == 1
    # mallory signs with her own key but claims bob's key id: the remembered key says no
    body = json.dumps(peer.activity("bob", "Like", NOTE, suffix="forged")).encode()
    headers = peer.signed_headers(
        f"{services.config.base_url}/inbox",
        body,
        name="bob",
        private_pem=peer.actors["mallory"].private_pem,
    )
    forged = await client.post("/inbox", content=body, headers=headers)
    assert forged.status_code == 401
    assert forged.json() == {"error": "signature does not verify"}
    assert len(peer.fetches_of("/users/bob")) == 2  # the failed key was refetched once
    assert await inbox_count(services) == 3


async def test_a_key_replaced_by_another_process_is_seen_after_the_recheck(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, config: Config
) -> None:
    """Update{Person} handled in a separate worker process rewrites bob's row there;
    this process notices once its remembered entry is due for a re-check."""
    assert (
        await peer.deliver(client, "/inbox", peer.activity("bob", "Like", NOTE))
    ).status_code == 202
    old_private = peer.actors["bob"].private_pem
    peer.rotate_key("bob")
    worker = Services.from_config(config)
    try:
        await get_actor(worker, peer.actor_id("bob"), refresh=True)
    finally:
        await worker.close()
    fetches = len(peer.fetches_of("/users/bob"))

    later = services.clock() + RECHECK_AFTER + timedelta(seconds=1)
    services.clock = lambda: later
    body = json.dumps(peer.activity("bob", "Like", NOTE, suffix="old-key")).encode()
    headers = peer.signed_headers(
        f"{services.config.base_url}/inbox", body, name="bob", private_pem=old_private
    )
    stale = await client.post("/inbox", content=body, headers=headers)
    assert stale.status_code == 401, stale.text
    # the stored row already had the new key, so the old one failed; one refetch confirmed
    assert len(peer.fetches_of("/users/bob")) == fetches + 1
    fresh = await peer.deliver(
        client, "/inbox", peer.activity("bob", "Like", NOTE, suffix="new-key"), now=later
    )
    assert fresh.status_code == 202, fresh.text
    assert len(peer.fetches_of("/users/bob")) == fetches + 1
    assert await inbox_count(services) == 2


async def test_stored_rows_survive_closing_the_services(
    config: Config, services: Services, peer: FakePeer
) -> None:
    """Closing waits for the writer: an accepted delivery is on disk afterwards."""
    assert (await receive_signed(services, peer, peer.activity("bob", "Like", NOTE))).stored
    await services.close()
    reopened = Services.from_config(config)
    try:
        assert [i.activity_type for i in await inbox_items(reopened)] == ["Like"]
    finally:
        await reopened.close()


async def test_wait_idle_returns_once_waiting_deliveries_are_committed(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    """What another writer (inbox processing) waits for before its own transaction."""
    await services.inbox_writer.wait_idle()  # nothing waiting: returns at once
    assert (await receive_signed(services, peer, peer.activity("bob", "Like", NOTE))).stored
    tasks = [
        asyncio.create_task(
            receive_signed(services, peer, peer.activity("bob", "Like", NOTE, suffix=str(n)))
        )
        for n in range(2, 8)
    ]
    for _ in range(100):  # each task verifies (key in memory), then waits for the writer
        if services.inbox_writer.waiting == len(tasks):
            break
        await asyncio.sleep(0)
    assert services.inbox_writer.waiting == len(tasks)
    await services.inbox_writer.wait_idle(timeout=None)
    assert services.inbox_writer.waiting == 0
    assert await inbox_count(services) == 7
    assert all(outcome.stored for outcome in await asyncio.gather(*tasks))


async def test_a_stored_delivery_wakes_the_resting_worker(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    """The worker rests an hour between empty polls here; the delivery's commit ends the
    rest (a duplicate stores nothing and wakes nobody)."""
    from federation.inbox_process import run_forever

    stop = asyncio.Event()
    worker = asyncio.create_task(run_forever(services, stop, idle=3600))
    try:
        await asyncio.sleep(0.1)  # it finds the queue empty and rests
        like = peer.activity("bob", "Like", NOTE)
        assert (await peer.deliver(client, "/inbox", like)).status_code == 202
        for _ in range(200):
            if {i.state for i in await inbox_items(services)} != {"pending"}:
                break
            await asyncio.sleep(0.05)
        # the liked note is not ours, so the worker ignores it: what matters is it ran
        assert [i.state for i in await inbox_items(services)] == ["ignored"]
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)


async def test_the_writer_waits_for_a_processing_transaction_instead_of_the_lock(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    """A delivery arriving while another writer's transaction (wrapped in ``writing``)
    holds SQLite's lock is committed right after it ends, not after a busy-handler
    sleep: the writer does not start its insert while the other is under way."""
    assert (await receive_signed(services, peer, peer.activity("bob", "Like", NOTE))).stored
    writer = services.inbox_writer
    order: list[str] = []
    release = asyncio.Event()

    async def other_writer() -> None:
        async with writer.writing(), services.db.transaction() as session:
            await session.exec(text("UPDATE inbox_item SET attempts = attempts"))  # type: ignore[call-overload]
            order.append("other holds the lock")
            await release.wait()
        order.append("other committed")

    other = asyncio.create_task(other_writer())
    while not order:
        await asyncio.sleep(0)
    delivery = asyncio.create_task(
        receive_signed(services, peer, peer.activity("bob", "Like", NOTE, suffix="late"))
    )
    for _ in range(500):
        if writer.deferring:
            break
        await asyncio.sleep(0.001)
    assert writer.deferring  # holding its insert back, not polling SQLite's lock
    assert not delivery.done()
    assert await inbox_count(services) == 1
    release.set()
    outcome = await asyncio.wait_for(delivery, timeout=5)
    await other
    assert outcome.stored
    assert order == ["other holds the lock", "other committed"]
    assert await inbox_count(services) == 2


async def test_background_workers_are_not_held_behind_request_sessions(
    client: httpx.AsyncClient,
    services: Services,
    peer: FakePeer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While requests hold every place at the database's gate (here for as long as the
    test wants: the gate's wait is set to 30 s), ``run_workers`` still processes what the
    inbox stored: its sessions pass the gate."""
    like = peer.activity("bob", "Like", NOTE)
    assert (await peer.deliver(client, "/inbox", like)).status_code == 202
    monkeypatch.setattr(dbmod, "SESSION_GATE_WAIT", 30.0)
    release, stop = asyncio.Event(), asyncio.Event()
    held = 0

    async def request() -> None:
        nonlocal held
        async with services.db.session():
            held += 1
            await release.wait()

    requests = [asyncio.create_task(request()) for _ in range(dbmod.SQLITE_SESSION_GATE)]
    workers = None
    try:
        while held < dbmod.SQLITE_SESSION_GATE:
            await asyncio.sleep(0.001)
        workers = asyncio.create_task(run_workers(services, stop))  # type: ignore[arg-type]

        async def processed() -> None:
            dbmod.exempt_from_gate()  # this task's own reads, not the workers'
            while {i.state for i in await inbox_items(services)} == {"pending"}:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(asyncio.create_task(processed()), timeout=10)
        assert held == dbmod.SQLITE_SESSION_GATE  # every place still taken meanwhile
    finally:
        release.set()
        stop.set()
        await asyncio.gather(*requests)
        if workers is not None:
            await workers


async def test_a_batch_is_stored_in_one_handoff_as_the_orm_would_store_it(
    services: Services, handoffs: Counter[str]
) -> None:
    """On SQLite the group commit writes its batch and commits in one hand-off to the
    connection's thread, with SQL of its own: the rows must read back exactly as rows the
    ORM writes (times in SQLAlchemy's text format, so that the worker's due-time
    comparisons find them), and a repeat of a stored id must store nothing. (PostgreSQL
    runs the same batch as SQLAlchemy Core; the rows must read back the same.)"""
    received = datetime(2026, 11, 25, 3, 4, 5, 678901, tzinfo=UTC)

    def new(activity_id: str) -> NewInboxItem:
        return NewInboxItem(
            activity_id=activity_id,
            actor_ap_id="https://remote.example/users/bob",
            activity_type="Like",
            payload='{"type": "Like"}',
            key_id="https://remote.example/users/bob#main-key",
            received_at=received,
        )

    async with services.db.transaction() as session:
        session.add(
            InboxItem(
                id=1,
                activity_id="https://remote.example/orm",
                actor_ap_id="https://remote.example/users/bob",
                activity_type="Like",
                payload="{}",
                next_attempt_at=received,
                received_at=received,
            )
        )
    handoffs.clear()
    batch = [new(f"https://remote.example/likes/{n}") for n in range(3)]
    stored = await insert_inbox_items(services.db, [*batch, new("https://remote.example/orm")])
    assert stored == {item.activity_id for item in batch}
    on_sqlite = services.db.engine.dialect.name == "sqlite"
    assert handoffs == (Counter({"_write_returning": 1}) if on_sqlite else Counter())
    async with services.db.session() as session:
        times = (
            await session.exec(  # type: ignore[call-overload]
                text("SELECT activity_id, received_at, next_attempt_at, state FROM inbox_item")
            )
        ).all()
    by_id = {row[0]: tuple(row[1:]) for row in times}
    assert len(by_id) == 4
    assert len(set(by_id.values())) == 1  # same text as the ORM's row, state 'pending'
    read_back = {i.activity_id: i for i in await inbox_items(services)}
    assert read_back["https://remote.example/likes/0"].received_at == received
    assert read_back["https://remote.example/likes/0"].payload == '{"type": "Like"}'
    async with services.db.transaction() as session:
        early = await claim_due_items(
            session, now=received - timedelta(microseconds=1), lock_until=received, limit=10
        )
        due = await claim_due_items(
            session, now=received, lock_until=received + timedelta(minutes=1), limit=10
        )
    assert early == []
    assert len(due) == 4
