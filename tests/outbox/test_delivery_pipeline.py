"""The delivery worker's continuous loop (``run_forever``): many inboxes in flight at once,
results recorded in batches, and a wake-up from the outbox of the same process.

These wait for deliveries with a generous deadline instead of stepping the worker by
hand; nothing here measures time."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from federation import background
from federation.delivery import DeliveryWorker
from services.context import Services
from storage.federation_models import RemoteHost
from storage.ids import new_id
from storage.models import Actor, Follow
from tests.imagegen import png_bytes
from tests.outbox.conftest import deliveries, insert
from tests.outbox.peers import FakePeer
from tests.web.helpers import publish

DEADLINE = 30.0
NEVER = 3600.0  # an idle poll that never comes within a test


@asynccontextmanager
async def running(worker: DeliveryWorker) -> AsyncIterator[None]:
    stop = asyncio.Event()
    loop = asyncio.create_task(worker.run_forever(stop, idle_sleep=NEVER))
    try:
        yield
    finally:
        stop.set()
        async with asyncio.timeout(DEADLINE):
            await loop


async def received(peer: FakePeer, count: int) -> None:
    async with asyncio.timeout(DEADLINE):
        while len(peer.received) < count:
            await asyncio.sleep(0.02)


async def followers(services: Services, alice: Actor, peer: FakePeer, count: int) -> None:
    """``count`` followers on ``peer`` without a shared inbox: one inbox each."""
    rows: list[object] = []
    for i in range(count):
        actor = peer.actor_row(f"f{i}", shared=False)
        follow = Follow(id=new_id(), follower_id=actor.id, followee_id=alice.id, state="accepted")
        rows += [actor, follow]
    await insert(services, *rows)


async def test_a_post_wakes_the_worker_of_its_process(
    client: httpx.AsyncClient, alice: Actor, services: Services, peer: FakePeer
) -> None:
    await followers(services, alice, peer, 1)
    worker = DeliveryWorker(services)
    try:
        async with running(worker):
            assert (await publish(client, [("a.png", png_bytes(30, 30))])).status_code == 303
            await received(peer, 1)
            # the worker has found the queue drained; only the wake-up can bring it back
            assert (await publish(client, [("b.png", png_bytes(31, 31))])).status_code == 303
            await received(peer, 2)
    finally:
        await worker.close()
    assert peer.types() == ["Create", "Create"]
    assert all(r.authentic for r in peer.received)


async def test_the_pipeline_sends_each_inbox_once_and_records_every_outcome(
    client: httpx.AsyncClient, alice: Actor, services: Services, peer: FakePeer
) -> None:
    await followers(services, alice, peer, 25)
    peer.script = [503, 503]  # two inboxes fail this time; their rows wait for a retry
    worker = DeliveryWorker(services, concurrency=3)  # far fewer slots than inboxes
    try:
        async with running(worker):
            assert (await publish(client, [("a.png", png_bytes(30, 30))])).status_code == 303
            await received(peer, 25)
    finally:
        await worker.close()
    per_inbox = Counter(r.path for r in peer.received)
    assert len(per_inbox) == 25 and set(per_inbox.values()) == {1}
    rows = await deliveries(services)
    assert Counter(d.state for d in rows) == {"delivered": 23, "pending": 2}
    assert all(d.locked_until is None and d.attempts == 1 for d in rows)
    assert sorted(d.last_status for d in rows if d.state == "pending") == [503, 503]
    async with services.db.session() as session:
        host = await session.get(RemoteHost, peer.host)
    assert host is not None and host.last_success_at is not None


async def test_a_delivery_in_flight_is_background_work(
    client: httpx.AsyncClient, alice: Actor, services: Services, peer: FakePeer
) -> None:
    """While the worker's request is at the peer, the process counts background work under
    way, so the idle collector leaves its full collection for later (web.idle_gc)."""
    seen: list[bool] = []
    peer.on_request = lambda: seen.append(background.busy())
    await followers(services, alice, peer, 2)
    assert (await publish(client, [("a.png", png_bytes(30, 30))])).status_code == 303
    worker = DeliveryWorker(services)
    try:
        assert not background.busy()
        assert await worker.run_once() == 2
    finally:
        await worker.close()
    assert seen == [True, True]
    assert not background.busy()
