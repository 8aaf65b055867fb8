"""The inbox queue itself: claiming due items, lock expiry, outcomes, retries with backoff
and giving up after five attempts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from federation.inbox_process import MAX_ATTEMPTS, notify, retry_delay, run_forever, run_once
from services.context import Services
from storage.federation_models import InboxItem
from storage.models import Like
from tests.inbox_processing.helpers import adapt, deliver, image_post, item, rows
from tests.inbox_processing.peer import Peer

ADMIN = "http://mastodon.example.org/users/admin"
LIKED = "http://localtesting.pleroma.lol/objects/eb92579d-3417-42a8-8652-2492c2d4f454"


async def processed(services: Services, item_id: int) -> None:
    """Wait (up to ten seconds) for a background worker to take ``item_id`` out of pending."""
    for _ in range(200):
        if (await item(services, item_id)).state != "pending":
            return
        await asyncio.sleep(0.05)


def test_backoff_grows_and_is_capped() -> None:
    delays = [retry_delay(n) for n in range(1, 7)]
    assert delays[:4] == [timedelta(minutes=m) for m in (1, 4, 16, 64)]
    assert delays[4] == timedelta(minutes=256) and delays[5] == timedelta(hours=6)
    assert retry_delay(40) == timedelta(hours=6)


async def test_unknown_types_and_mismatched_senders_are_ignored(
    services: Services, peer: Peer
) -> None:
    bob, carol = peer.add_actor("bob"), peer.add_actor("carol")
    react = {"id": f"{bob}#react/1", "type": "EmojiReact", "actor": bob, "object": "x"}
    ignored = [
        await deliver(services, react),
        await deliver(services, {"id": f"{bob}#add", "type": "Add", "actor": bob}),
        await deliver(services, {**react, "id": f"{bob}#react/2", "type": "Like"}, sender=carol),
        await deliver(services, {"id": f"{bob}#nobody", "type": "Like", "object": "x"}, sender=bob),
    ]
    async with services.db.transaction() as session:
        session.add(
            InboxItem(
                id=1, activity_id="urn:bad", actor_ap_id=bob, activity_type="?", payload="[1, "
            )
        )
    assert await run_once(services) == 5
    for item_id in [*ignored, 1]:
        found = await item(services, item_id)
        assert (found.state, found.attempts, found.last_error) == ("ignored", 0, None)
        assert found.processed_at is not None and found.locked_until is None
    assert peer.requests == []  # nothing was fetched for any of them
    assert await run_once(services) == 0


async def test_failures_retry_with_backoff_then_fail(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    broken = peer.add_actor("broken")
    peer.failing["/users/broken"] = 503
    item_id = await deliver(
        services, adapt("mastodon-like.json", {ADMIN: broken, LIKED: post.ap_id})
    )
    now = datetime.now(UTC)
    services.clock = lambda: now
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert await run_once(services) == 1
        found = await item(services, item_id)
        assert found.attempts == attempt and "503" in (found.last_error or "")
        if attempt < MAX_ATTEMPTS:
            assert found.state == "pending"
            assert await run_once(services) == 0  # not due yet
            due = found.next_attempt_at.replace(tzinfo=UTC)
            assert due == now + retry_delay(attempt)
            now = due + timedelta(seconds=1)
    assert found.state == "failed"
    assert len(peer.fetched("/users/broken")) == MAX_ATTEMPTS
    now += timedelta(days=1)
    assert await run_once(services) == 0


async def test_a_failing_item_does_not_stop_the_others_and_recovers(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    flaky, bob = peer.add_actor("flaky"), peer.add_actor("bob")
    peer.failing["/users/flaky"] = 500
    first = await deliver(services, adapt("mastodon-like.json", {ADMIN: flaky, LIKED: post.ap_id}))
    second = await deliver(services, adapt("mastodon-like.json", {ADMIN: bob, LIKED: post.ap_id}))
    assert await run_once(services) == 2
    assert (await item(services, first)).state == "pending"
    assert (await item(services, second)).state == "done"
    del peer.failing["/users/flaky"]
    later = datetime.now(UTC) + timedelta(minutes=2)
    services.clock = lambda: later
    assert await run_once(services) == 1
    found = await item(services, first)
    assert (found.state, found.attempts) == ("done", 1)
    assert len(await rows(services, Like)) == 2


async def test_claims_respect_locks_limits_and_due_times(services: Services, peer: Peer) -> None:
    bob = peer.add_actor("bob")
    ids = [
        await deliver(services, {"id": f"{bob}#x/{n}", "type": "Ping", "actor": bob})
        for n in range(4)
    ]
    now = datetime.now(UTC) + timedelta(seconds=1)
    services.clock = lambda: now
    async with services.db.transaction() as session:
        held = await session.get(InboxItem, ids[0])
        assert held is not None
        held.locked_until = now + timedelta(minutes=5)  # a worker has it
        later = await session.get(InboxItem, ids[1])
        assert later is not None
        later.next_attempt_at = now + timedelta(hours=1)
        session.add_all([held, later])
    assert await run_once(services, limit=1) == 1
    assert await run_once(services, limit=10) == 1
    assert [(await item(services, i)).state for i in ids] == [
        "pending",
        "pending",
        "ignored",
        "ignored",
    ]
    now += timedelta(minutes=6)  # the crashed worker's lock has expired
    assert await run_once(services) == 1
    assert (await item(services, ids[0])).state == "ignored"
    now += timedelta(hours=1)
    assert await run_once(services) == 1
    assert (await item(services, ids[1])).state == "ignored"


async def test_run_forever_processes_until_stopped(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob = peer.add_actor("bob")
    stop = asyncio.Event()
    worker = asyncio.create_task(run_forever(services, stop, idle=0.05))
    item_id = await deliver(services, adapt("mastodon-like.json", {ADMIN: bob, LIKED: post.ap_id}))
    await processed(services, item_id)
    stop.set()
    await asyncio.wait_for(worker, timeout=10)
    assert (await item(services, item_id)).state == "done"
    assert len(await rows(services, Like)) == 1


async def test_notify_wakes_a_resting_worker(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob = peer.add_actor("bob")
    stop = asyncio.Event()
    worker = asyncio.create_task(run_forever(services, stop, idle=3600))
    await asyncio.sleep(0.1)  # it finds the queue empty and rests
    item_id = await deliver(services, adapt("mastodon-like.json", {ADMIN: bob, LIKED: post.ap_id}))
    notify(services.db)
    await processed(services, item_id)
    stop.set()
    await asyncio.wait_for(worker, timeout=10)
    assert (await item(services, item_id)).state == "done"


async def test_a_lone_delivery_is_processed_at_once_and_stop_ends_a_gathering_pause(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    """After a pass that claimed fewer items than it could, the worker lets deliveries
    gather before its next claim (here for an hour); the first delivery after a rest is
    still processed at once, and stopping ends the pause."""
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob = peer.add_actor("bob")
    stop = asyncio.Event()
    worker = asyncio.create_task(run_forever(services, stop, idle=3600, gather=3600))
    await asyncio.sleep(0.1)  # it finds the queue empty and rests
    item_id = await deliver(services, adapt("mastodon-like.json", {ADMIN: bob, LIKED: post.ap_id}))
    notify(services.db)
    await processed(services, item_id)
    assert (await item(services, item_id)).state == "done"
    # the worker is now in its gathering pause, an hour long: a second delivery, even with
    # a wake-up, waits for the next pass (without the pause it would be processed at once)
    second = await deliver(
        services, adapt("mastodon-like.json", {ADMIN: peer.add_actor("carol"), LIKED: post.ap_id})
    )
    notify(services.db)
    await asyncio.sleep(0.5)
    assert (await item(services, second)).state == "pending"
    stop.set()
    await asyncio.wait_for(worker, timeout=10)
