"""Follow, unfollow, approve, reject, block and unblock, locally and with a real remote
peer, and the notifications local actions leave."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import col, select

from federation.delivery import DeliveryWorker
from services import posts as post_service
from services import social
from services.context import Services
from storage.federation_models import Block, InboxItem, Notification
from storage.ids import new_id
from storage.models import Actor, Follow, Post
from tessera.errors import Forbidden, InvalidInput, NotFound
from tests.outbox.conftest import deliveries, insert
from tests.outbox.peers import FakePeer

AS = "https://www.w3.org/ns/activitystreams"


async def notes(services: Services, recipient: Actor) -> list[tuple[str, int]]:
    async with services.db.session() as session:
        rows = await session.exec(
            select(Notification)
            .where(col(Notification.recipient_id) == recipient.id)
            .order_by(col(Notification.id))
        )
        return [(n.kind, n.from_actor_id) for n in rows.all()]


async def follow_row(services: Services, follower: Actor, followee: Actor) -> Follow | None:
    async with services.db.session() as session:
        result = await session.exec(
            select(Follow).where(
                Follow.follower_id == follower.id, Follow.followee_id == followee.id
            )
        )
        return result.first()


async def set_manual(services: Services, actor: Actor) -> None:
    async with services.db.transaction() as session:
        row = await session.get(Actor, actor.id)
        assert row is not None
        row.manually_approves_followers = True
        session.add(row)


# --- local ---------------------------------------------------------------------------------


async def test_local_follow_is_accepted_at_once(
    services: Services, make_user: Callable[..., Any]
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    first = await social.follow(services, alice, bob)
    again = await social.follow(services, alice, bob)
    assert first.state == "accepted" and again.id == first.id
    assert await notes(services, bob) == [("follow", alice.id)]
    assert await deliveries(services) == []
    assert await social.unfollow(services, alice, bob) is True
    assert await follow_row(services, alice, bob) is None
    assert await social.unfollow(services, alice, bob) is False


async def test_local_follow_request_approved_or_rejected(
    services: Services, make_user: Callable[..., Any]
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await set_manual(services, bob)
    request = await social.follow(services, alice, bob)
    assert request.state == "pending"
    assert await notes(services, bob) == [("follow_request", alice.id)]
    with pytest.raises(NotFound):
        await social.approve_follow(services, carol, request.id)  # not carol's to approve
    approved = await social.approve_follow(services, bob, request.id)
    assert approved.state == "accepted"
    assert await notes(services, bob) == [("follow", alice.id)]

    other = await social.follow(services, carol, bob)
    await social.reject_follow(services, bob, other.id)
    assert await follow_row(services, carol, bob) is None
    assert ("follow_request", carol.id) not in await notes(services, bob)
    assert await deliveries(services) == []


async def test_refusals(services: Services, make_user: Callable[..., Any]) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    with pytest.raises(InvalidInput):
        await social.follow(services, alice, alice)
    await social.block(services, bob, alice)
    with pytest.raises(Forbidden):
        await social.follow(services, alice, bob)
    assert await follow_row(services, alice, bob) is None


async def test_local_interactions_notify_the_author(
    services: Services, make_user: Callable[..., Any]
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    post = Post(id=new_id(), actor_id=alice.id, ap_id=f"{alice.ap_id}/statuses/1", local=True)
    await insert(services, post)
    await post_service.set_like(services, bob, post.id, True)
    await post_service.set_like(services, alice, post.id, True)  # her own like: no notice
    await post_service.set_boost(services, bob, post.id, True)
    assert await notes(services, alice) == [("favourite", bob.id), ("reblog", bob.id)]
    await post_service.set_like(services, bob, post.id, False)
    assert await notes(services, alice) == [("reblog", bob.id)]
    reply = await post_service.create_post(
        services,
        bob,
        [],
        post_service.PostFields(caption="Lovely colours"),
        in_reply_to=post,
    )
    assert await notes(services, alice) == [("reblog", bob.id), ("reply", bob.id)]
    async with services.db.session() as session:
        [notice] = (
            await session.exec(select(Notification).where(Notification.kind == "reply"))
        ).all()
    assert notice.post_id == reply.id
    assert await deliveries(services) == []  # everyone involved is local


# --- remote --------------------------------------------------------------------------------


async def test_following_a_remote_account_sends_follow_then_undo(
    services: Services,
    make_user: Callable[..., Any],
    peer: FakePeer,
    worker: DeliveryWorker,
    tessera: str,
) -> None:
    alice = await make_user("alice")
    dave = peer.actor_row("dave")
    await insert(services, dave)
    row = await social.follow(services, alice, dave)
    assert row.state == "pending"  # until dave's server accepts
    assert row.ap_id == f"{tessera}/users/alice#follows/{row.id}"
    assert await worker.run_once() == 1
    [follow] = peer.received
    assert follow.authentic and follow.path == "/users/dave/inbox"
    assert follow.activity == {
        "@context": AS,
        "id": row.ap_id,
        "type": "Follow",
        "actor": alice.ap_id,
        "object": dave.ap_id,
    }
    assert await social.unfollow(services, alice, dave) is True
    assert await worker.run_once() == 1
    undo = peer.received[-1]
    assert undo.authentic
    assert undo.activity["type"] == "Undo" and undo.activity["id"] == f"{row.ap_id}/undo"
    assert undo.activity["object"] == {k: v for k, v in follow.activity.items() if k != "@context"}


async def remote_follower(
    services: Services, peer: FakePeer, alice: Actor, *, state: str, stored: bool
) -> tuple[Actor, Follow, dict[str, Any]]:
    dave = peer.actor_row("dave")
    activity = {
        "@context": AS,
        "id": f"{peer.base}/activities/f-1",
        "type": "Follow",
        "actor": dave.ap_id,
        "object": alice.ap_id,
    }
    follow = Follow(
        id=new_id(), follower_id=dave.id, followee_id=alice.id, state=state, ap_id=activity["id"]
    )
    rows: list[Any] = [dave, follow]
    if stored:  # as the inbox stores a verified activity before answering 202
        rows.append(
            InboxItem(
                id=new_id(),
                activity_id=activity["id"],
                actor_ap_id=dave.ap_id,
                activity_type="Follow",
                payload=json.dumps(activity),
                state="done",
            )
        )
    await insert(services, *rows)
    return dave, follow, activity


async def test_approving_a_remote_follower_sends_accept_with_the_follow_as_received(
    services: Services,
    make_user: Callable[..., Any],
    peer: FakePeer,
    worker: DeliveryWorker,
    tessera: str,
) -> None:
    alice = await make_user("alice")
    await set_manual(services, alice)
    dave, follow, activity = await remote_follower(
        services, peer, alice, state="pending", stored=True
    )
    approved = await social.approve_follow(services, alice, follow.id)
    assert approved.state == "accepted"
    assert await notes(services, alice) == [("follow", dave.id)]
    assert await worker.run_once() == 1
    [accept] = peer.received
    assert accept.authentic and accept.path == "/users/dave/inbox"
    assert accept.activity == {
        "@context": AS,
        "id": f"{tessera}/users/alice#accepts/follows/{follow.id}",
        "type": "Accept",
        "actor": alice.ap_id,
        "object": {k: v for k, v in activity.items() if k != "@context"},
    }
    # removing the follower later: Reject{Follow}, same Follow inside
    await social.reject_follow(services, alice, follow.id)
    assert await follow_row(services, dave, alice) is None
    assert await worker.run_once() == 1
    reject = peer.received[-1]
    assert reject.authentic and reject.activity["type"] == "Reject"
    assert reject.activity["id"] == f"{tessera}/users/alice#rejects/follows/{follow.id}"
    assert reject.activity["object"] == accept.activity["object"]


async def test_without_the_stored_follow_the_accept_names_its_id(
    services: Services, make_user: Callable[..., Any], peer: FakePeer, worker: DeliveryWorker
) -> None:
    alice = await make_user("alice")
    _dave, follow, activity = await remote_follower(
        services, peer, alice, state="pending", stored=False
    )
    await social.approve_follow(services, alice, follow.id)
    assert await worker.run_once() == 1
    assert peer.received[0].authentic
    assert peer.received[0].activity["object"] == activity["id"]


async def test_blocking_a_remote_account_ends_follows_both_ways(
    services: Services,
    make_user: Callable[..., Any],
    peer: FakePeer,
    worker: DeliveryWorker,
    tessera: str,
) -> None:
    alice = await make_user("alice")
    dave, _theirs, activity = await remote_follower(
        services, peer, alice, state="accepted", stored=True
    )
    mine = await social.follow(services, alice, dave)
    assert await worker.run_once() == 1  # the Follow
    peer.received.clear()

    block = await social.block(services, alice, dave)
    assert block.ap_id == f"{tessera}/users/alice#blocks/{block.id}"
    assert await follow_row(services, alice, dave) is None
    assert await follow_row(services, dave, alice) is None
    assert await social.block(services, alice, dave) == block  # idempotent, nothing more sent
    assert await worker.run_once() == 3
    assert peer.types() == ["Undo", "Reject", "Block"]
    assert all(r.authentic and r.path == "/users/dave/inbox" for r in peer.received)
    undo, reject, blocked = (r.activity for r in peer.received)
    assert undo["object"]["id"] == mine.ap_id
    assert reject["object"]["id"] == activity["id"]
    assert blocked == {
        "@context": AS,
        "id": block.ap_id,
        "type": "Block",
        "actor": alice.ap_id,
        "object": dave.ap_id,
    }
    with pytest.raises(Forbidden):
        await social.follow(services, alice, dave)

    assert await social.unblock(services, alice, dave) is True
    assert await social.unblock(services, alice, dave) is False
    assert await worker.run_once() == 1
    unblock = peer.received[-1]
    assert unblock.authentic and unblock.activity["type"] == "Undo"
    assert unblock.activity["object"]["id"] == block.ap_id
    async with services.db.session() as session:
        assert (await session.exec(select(Block))).all() == []
