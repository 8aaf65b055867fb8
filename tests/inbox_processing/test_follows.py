"""Follow, Accept, Reject and Undo{Follow} from a fake peer, processed by ``run_once``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from federation.activities import follow_id
from federation.fetch import get_actor
from federation.inbox_process import run_once
from services.context import Services
from storage.federation_models import Block, Delivery, Notification, OutboxActivity
from storage.ids import new_id
from storage.models import Actor, Follow
from tests.inbox_processing.helpers import (
    actor_row,
    adapt,
    deliver,
    item,
    process,
    reprocess,
    rows,
)
from tests.inbox_processing.peer import Peer

ADMIN = "http://mastodon.example.org/users/admin"
LAIN = "http://localtesting.pleroma.lol/users/lain"


async def test_follow_is_accepted_and_answered(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    bob = peer.add_actor("bob")
    follow = adapt("mastodon-follow.json", {ADMIN: bob, LAIN: alice.ap_id})
    item_id = await deliver(services, follow)
    assert await run_once(services) == 1
    assert (await item(services, item_id)).state == "done"

    bob_row = await actor_row(services, bob)
    assert bob_row is not None and bob_row.domain == peer.base.removeprefix("http://")
    [row] = await rows(services, Follow)
    assert (row.follower_id, row.followee_id, row.state) == (bob_row.id, alice.id, "accepted")
    assert row.ap_id == f"{bob}#follows/2"
    [note] = await rows(services, Notification)
    assert (note.kind, note.recipient_id, note.from_actor_id) == ("follow", alice.id, bob_row.id)
    [outbox] = await rows(services, OutboxActivity)
    accept = json.loads(outbox.payload)
    assert accept["type"] == "Accept" and accept["actor"] == alice.ap_id
    assert accept["object"]["id"] == f"{bob}#follows/2" and "signature" not in accept["object"]
    [delivery] = await rows(services, Delivery)
    assert delivery.inbox_url == f"{bob}/inbox" and delivery.activity_id == outbox.id

    # processing the same item again changes nothing
    assert await reprocess(services, item_id) == "done"
    assert len(await rows(services, Follow)) == 1
    assert len(await rows(services, Notification)) == 1
    assert len(await rows(services, Delivery)) == 1


async def test_follow_of_a_locked_account_waits(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    async with services.db.transaction() as session:
        row = await session.get(Actor, alice.id)
        assert row is not None
        row.manually_approves_followers = True
        session.add(row)
    bob = peer.add_actor("bob")
    follow = adapt(
        "pixelfed-tests-follow.json", {ADMIN: bob, "http://pixelfed.dev/users/dsup": alice.ap_id}
    )
    assert await process(services, follow) == "done"
    [follow_row] = await rows(services, Follow)
    assert follow_row.state == "pending"
    [note] = await rows(services, Notification)
    assert note.kind == "follow_request" and note.recipient_id == alice.id
    assert await rows(services, Delivery) == []


async def test_follow_of_unknown_or_remote_target_is_ignored(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    await make_user("alice")
    bob = peer.add_actor("bob")
    nobody = adapt("mastodon-follow.json", {ADMIN: bob, LAIN: "http://gallery.test/users/nobody"})
    assert await process(services, nobody) == "ignored"
    elsewhere = adapt("mastodon-follow.json", {ADMIN: bob, LAIN: f"{peer.base}/users/carol"})
    elsewhere["id"] = f"{bob}#follows/3"
    assert await process(services, elsewhere) == "ignored"
    assert await rows(services, Follow) == []


async def test_follow_from_someone_blocked_is_rejected(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    bob = peer.add_actor("bob")
    bob_row = await get_actor(services, bob)
    async with services.db.transaction() as session:
        session.add(Block(id=new_id(), actor_id=alice.id, target_id=bob_row.id))
    follow = adapt("mastodon-follow.json", {ADMIN: bob, LAIN: alice.ap_id})
    assert await process(services, follow) == "done"
    assert await rows(services, Follow) == []
    [outbox] = await rows(services, OutboxActivity)
    assert json.loads(outbox.payload)["type"] == "Reject"


async def test_undo_follow_by_the_follower_only(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    bob, carol = peer.add_actor("bob"), peer.add_actor("carol")
    assert (
        await process(services, adapt("mastodon-follow.json", {ADMIN: bob, LAIN: alice.ap_id}))
        == "done"
    )
    assert len(await rows(services, Follow)) == 1

    # carol cannot undo bob's follow, neither inlined nor by id
    forged = adapt("mastodon-undo-follow.json", {ADMIN: bob, LAIN: alice.ap_id})
    forged["actor"], forged["id"] = carol, f"{carol}#undo/1"
    assert await process(services, forged) == "ignored"
    by_id = {"id": f"{carol}#undo/2", "type": "Undo", "actor": carol, "object": f"{bob}#follows/2"}
    assert await process(services, by_id) == "ignored"
    assert len(await rows(services, Follow)) == 1

    undo = adapt("mastodon-undo-follow.json", {ADMIN: bob, LAIN: alice.ap_id})
    assert await process(services, undo) == "done"
    assert await rows(services, Follow) == []
    assert await rows(services, Notification) == []
    assert await process(services, {**undo, "id": f"{undo['id']}-again"}) == "ignored"


async def _our_pending_follow(services: Services, alice: Actor, bob: Actor) -> Follow:
    follow = Follow(id=new_id(), follower_id=alice.id, followee_id=bob.id, state="pending")
    follow.ap_id = follow_id(alice, follow.id)
    async with services.db.transaction() as session:
        session.add(follow)
    return follow


async def _remote(services: Services, peer: Peer, name: str) -> Actor:
    return await get_actor(services, peer.add_actor(name))


async def test_accept_matches_our_follow_by_id(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    bob = await _remote(services, peer, "bob")
    ours = await _our_pending_follow(services, alice, bob)
    accept = adapt(
        "mastodon-accept-follow.json",
        {ADMIN: bob.ap_id, f"{LAIN}#follows/4": str(ours.ap_id), LAIN: alice.ap_id},
    )
    assert accept["object"] == {
        "type": "Follow",
        "object": bob.ap_id,
        "id": ours.ap_id,
        "actor": alice.ap_id,
    }
    assert await process(services, accept) == "done"
    [row] = await rows(services, Follow)
    assert row.state == "accepted"


async def test_accept_matches_by_actor_and_object_or_the_only_request(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice, dave = await make_user("alice"), await make_user("dave")
    bob = await _remote(services, peer, "bob")
    await _our_pending_follow(services, alice, bob)
    await _our_pending_follow(services, dave, bob)
    # the Follow is inlined with an id the other server made up: who follows whom decides
    inlined = adapt("mastodon-accept-follow.json", {ADMIN: bob.ap_id, LAIN: alice.ap_id})
    assert await process(services, inlined) == "done"
    states = {f.follower_id: f.state for f in await rows(services, Follow)}
    assert states == {alice.id: "accepted", dave.id: "pending"}
    # a bare id we do not know: dave's is the only request still pending to bob
    bare = {"id": f"{bob.ap_id}#accepts/9", "type": "Accept", "actor": bob.ap_id, "object": "urn:x"}
    assert await process(services, bare) == "done"
    assert {f.state for f in await rows(services, Follow)} == {"accepted"}


async def test_reject_removes_our_follow_and_strangers_cannot_answer(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    bob = await _remote(services, peer, "bob")
    carol = peer.add_actor("carol")
    ours = await _our_pending_follow(services, alice, bob)
    mapping = {ADMIN: bob.ap_id, f"{LAIN}#follows/4": str(ours.ap_id), LAIN: alice.ap_id}
    stranger = adapt("mastodon-accept-follow.json", mapping)
    stranger["actor"], stranger["id"] = carol, f"{carol}#accepts/1"
    assert await process(services, stranger) == "ignored"
    assert [f.state for f in await rows(services, Follow)] == ["pending"]
    assert await process(services, adapt("mastodon-reject-follow.json", mapping)) == "done"
    assert await rows(services, Follow) == []
