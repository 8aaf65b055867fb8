"""The delivery queue against real peers: deduplication, retries, permanent failures,
host health, crashed workers and exactly-once success."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta

import httpx

from federation.delivery import DeliveryWorker
from federation.keys import generate_rsa_keypair
from federation.signatures import Rejected
from services.context import Services
from storage import delivery_queries as dq
from storage.federation_models import RemoteHost
from storage.ids import new_id
from storage.models import Actor, Follow
from tests.imagegen import png_bytes
from tests.outbox.conftest import deliveries, insert
from tests.outbox.peers import FakeClock, FakePeer, fake_peer
from tests.web.helpers import publish


async def follow_alice(services: Services, alice: Actor, *followers: Actor) -> None:
    rows: list[object] = []
    for follower in followers:
        rows += [
            follower,
            Follow(id=new_id(), follower_id=follower.id, followee_id=alice.id, state="accepted"),
        ]
    await insert(services, *rows)


async def post(client: httpx.AsyncClient, seed: int = 0) -> None:
    response = await publish(client, [("a.png", png_bytes(40, 40, seed=seed))])
    assert response.status_code == 303


def utc(moment):  # type: ignore[no-untyped-def]
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


async def test_ten_followers_on_three_servers_cost_three_requests(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    worker: DeliveryWorker,
    tessera: str,
    clock: FakeClock,
) -> None:
    async with fake_peer(clock) as one, fake_peer(clock) as two, fake_peer(clock) as three:
        followers = [one.actor_row(f"a{i}") for i in range(4)]
        followers += [two.actor_row(f"b{i}") for i in range(3)]
        followers += [three.actor_row(f"c{i}") for i in range(3)]
        await follow_alice(services, alice, *followers)
        await post(client)
        rows = await deliveries(services)
        assert sorted(d.inbox_url for d in rows) == sorted(
            f"{p.base}/inbox" for p in (one, two, three)
        )
        assert await worker.run_once() == 3
        for peer in (one, two, three):
            [received] = peer.received
            assert received.authentic and received.path == "/inbox"
        assert await worker.run_once() == 0


async def test_retry_after_then_delivered(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: FakePeer,
    worker: DeliveryWorker,
    clock: FakeClock,
) -> None:
    await follow_alice(services, alice, peer.actor_row("bob"))
    peer.script = [(503, {"Retry-After": "90"})]
    await post(client)

    assert await worker.run_once() == 1
    [row] = await deliveries(services)
    assert (row.state, row.attempts, row.last_status) == ("pending", 1, 503)
    assert utc(row.next_attempt_at) == clock.now + timedelta(seconds=90)
    assert await worker.run_once() == 0  # not due yet: nothing is sent

    clock.advance(seconds=91)
    assert await worker.run_once() == 1
    [row] = await deliveries(services)
    assert (row.state, row.attempts, row.last_status, row.last_error) == (
        "delivered",
        2,
        202,
        None,
    )
    assert [r.status for r in peer.received] == [503, 202]
    assert peer.received[-1].authentic
    clock.advance(hours=10)
    assert await worker.run_once() == 0
    assert len(peer.received) == 2


async def test_gone_is_never_retried(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: FakePeer,
    worker: DeliveryWorker,
    clock: FakeClock,
) -> None:
    await follow_alice(services, alice, peer.actor_row("bob"))
    peer.script = [410]
    await post(client)
    assert await worker.run_once() == 1
    [row] = await deliveries(services)
    assert (row.state, row.last_status) == ("gone", 410)
    clock.advance(days=1)
    assert await worker.run_once() == 0
    assert len(peer.received) == 1


async def test_a_refusal_is_given_up_and_an_old_failure_too(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: FakePeer,
    worker: DeliveryWorker,
    clock: FakeClock,
) -> None:
    await follow_alice(services, alice, peer.actor_row("bob", shared=False))
    peer.script = [422]
    await post(client, seed=1)
    assert await worker.run_once() == 1
    [refused] = await deliveries(services)
    assert refused.state == "failed" and "422" in (refused.last_error or "")

    peer.always = 500
    await post(client, seed=2)
    assert await worker.run_once() == 1
    clock.advance(hours=73)  # past [federation] delivery_max_age_hours = 72
    assert await worker.run_once() == 1
    old = (await deliveries(services))[-1]
    assert (old.state, old.attempts) == ("failed", 2)
    assert "gave up" in (old.last_error or "")
    assert await worker.run_once() == 0


async def test_a_failing_host_is_paused_and_new_deliveries_wait(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: FakePeer,
    worker: DeliveryWorker,
    clock: FakeClock,
) -> None:
    # eleven followers without a shared inbox: eleven inboxes on one host
    await follow_alice(services, alice, *(peer.actor_row(f"f{i}", shared=False) for i in range(11)))
    peer.always = 503
    await post(client, seed=1)
    assert await worker.run_once() == 11
    clock.advance(hours=1, seconds=1)  # failures now span more than an hour
    assert await worker.run_once() == 11
    async with services.db.session() as session:
        host = await session.get(RemoteHost, peer.host)
    assert host is not None and host.consecutive_failures >= 12
    paused_until = utc(host.unavailable_until)
    assert paused_until > clock.now

    sent = len(peer.received)
    clock.advance(minutes=1)
    await post(client, seed=2)  # a new post while the host is paused
    assert await worker.run_once() == 0
    assert len(peer.received) == sent  # nothing was attempted
    rows = await deliveries(services)
    assert len(rows) == 22 and all(d.state == "pending" for d in rows)
    assert all(utc(d.next_attempt_at) >= paused_until for d in rows)

    peer.always = None  # the server recovers
    clock.now = paused_until + timedelta(seconds=1)
    assert await worker.run_once() == 22
    assert all(d.state == "delivered" for d in await deliveries(services))
    async with services.db.session() as session:
        host = await session.get(RemoteHost, peer.host)
    assert host is not None
    assert (host.consecutive_failures, host.unavailable_until, host.failing_since) == (
        0,
        None,
        None,
    )


async def test_rows_of_a_crashed_worker_come_back_after_the_lock_expires(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: FakePeer,
    worker: DeliveryWorker,
    clock: FakeClock,
) -> None:
    await follow_alice(services, alice, peer.actor_row("bob"))
    await post(client)
    # another worker claims the row, then dies before sending or recording anything
    async with services.db.transaction() as session:
        claimed = await dq.claim_due(
            session, now=clock.now, lock_until=clock.now + timedelta(minutes=2), limit=10
        )
    assert len(claimed) == 1
    assert await worker.run_once() == 0  # still locked by the dead worker
    clock.advance(minutes=1)
    assert await worker.run_once() == 0
    clock.advance(minutes=1, seconds=1)
    assert await worker.run_once() == 1
    assert [d.state for d in await deliveries(services)] == ["delivered"]
    assert len(peer.received) == 1 and peer.received[0].authentic


async def test_two_workers_never_deliver_the_same_row_twice(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    worker: DeliveryWorker,
    tessera: str,
    clock: FakeClock,
) -> None:
    async with fake_peer(clock) as one, fake_peer(clock) as two:
        await follow_alice(
            services,
            alice,
            *(one.actor_row(f"a{i}", shared=False) for i in range(5)),
            *(two.actor_row(f"b{i}", shared=False) for i in range(5)),
        )
        for seed in range(3):
            await post(client, seed=seed)
        other = DeliveryWorker(services)
        counts = await asyncio.gather(worker.run_once(limit=100), other.run_once(limit=100))
        assert sum(counts) == 30
        for peer in (one, two):
            seen = [(r.path, r.activity["id"]) for r in peer.received]
            assert len(seen) == 15 and len(set(seen)) == 15
            assert all(r.authentic for r in peer.received)
        assert await worker.run_once() == 0 and await other.run_once() == 0
        await other.close()


async def test_an_unreachable_server_is_retried(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    worker: DeliveryWorker,
    tessera: str,
    clock: FakeClock,
) -> None:
    async with fake_peer(clock) as gone_peer:
        bob = gone_peer.actor_row("bob")
    # the peer has stopped listening: connection refused
    await follow_alice(services, alice, bob)
    await post(client)
    assert await worker.run_once() == 1
    [row] = await deliveries(services)
    assert row.state == "pending" and row.last_status is None
    assert row.last_error and "could not connect" in row.last_error
    async with services.db.session() as session:
        host = await session.get(RemoteHost, bob.domain)
    assert host is not None and host.consecutive_failures == 1


async def test_a_wrong_key_is_refused_by_the_peer_retried_once_then_given_up(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: FakePeer,
    worker: DeliveryWorker,
    clock: FakeClock,
) -> None:
    await follow_alice(services, alice, peer.actor_row("bob"))
    # our row signs with a key that is not the one our actor document publishes
    other_private, _public = generate_rsa_keypair()
    async with services.db.transaction() as session:
        row = await session.get(Actor, alice.id)
        assert row is not None
        row.private_key_pem = other_private
        session.add(row)
    await post(client)
    assert await worker.run_once() == 1
    first = peer.received[-1]
    assert first.status == 401 and isinstance(first.verdict, Rejected)
    [row] = await deliveries(services)
    assert (row.state, row.last_status) == ("pending", 401)
    clock.advance(minutes=2)
    assert await worker.run_once() == 1
    [row] = await deliveries(services)
    assert (row.state, row.attempts, row.last_status) == ("failed", 2, 401)
