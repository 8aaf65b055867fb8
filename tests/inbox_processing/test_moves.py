"""Move: a remote account moves to another server, and its followers here go with it.

Two fake peers with real keys: bob lives on ``peer`` and moves to ``newbob`` on
``other_peer``, whose document is fetched (signed) from that server to check that it
names bob in ``alsoKnownAs``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlmodel import select

from federation.fetch import get_actor
from federation.handlers import moves
from services.api_tokens import create_script_token
from services.context import Services
from storage.federation_models import Block, Delivery, OutboxActivity
from storage.ids import new_id
from storage.models import Actor, Follow
from tests.inbox_processing.helpers import deliver, process, reload, reprocess, rows
from tests.inbox_processing.peer import Peer


def move(origin: str, target: str, *, actor: str | None = None) -> dict[str, Any]:
    """Mastodon's Move as it sends it (``object`` is the moving account itself)."""
    sender = actor or origin
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{sender}#moves/1",
        "type": "Move",
        "actor": sender,
        "object": origin,
        "target": target,
    }


async def follow(services: Services, follower: Actor, followee: Actor, state: str) -> Follow:
    row = Follow(
        id=new_id(),
        follower_id=follower.id,
        followee_id=followee.id,
        state=state,
        ap_id=f"{follower.ap_id}#follows/{new_id()}",
    )
    async with services.db.transaction() as session:
        session.add(row)
    return row


async def block(services: Services, blocker: Actor, target: Actor) -> None:
    async with services.db.transaction() as session:
        session.add(Block(id=new_id(), actor_id=blocker.id, target_id=target.id))


async def sent(services: Services) -> list[tuple[str, dict[str, Any]]]:
    """(inbox, activity) of every queued delivery."""
    activities = {a.id: json.loads(a.payload) for a in await rows(services, OutboxActivity)}
    return sorted(
        ((d.inbox_url, activities[d.activity_id]) for d in await rows(services, Delivery)),
        key=lambda pair: (pair[0], pair[1]["id"]),
    )


async def test_followers_follow_the_new_account_and_blocks_carry_over(
    services: Services, peer: Peer, other_peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice, carol, dave, erin, frank, gina = [
        await make_user(name) for name in ("alice", "carol", "dave", "erin", "frank", "gina")
    ]
    bob = await get_actor(services, peer.add_actor("bob"))
    newbob_url = other_peer.add_actor("newbob", alsoKnownAs=[bob.ap_id])
    alice_old = await follow(services, alice, bob, "accepted")
    carol_old = await follow(services, carol, bob, "pending")  # never accepted: stays
    erin_old = await follow(services, erin, bob, "accepted")
    newbob = await get_actor(services, newbob_url)
    await block(services, newbob, erin)  # newbob blocks erin: she cannot follow it
    for blocker in (dave, frank, gina):
        await block(services, blocker, bob)
    newbob_follows_frank = await follow(services, newbob, frank, "accepted")
    gina_follows_newbob = await follow(services, gina, newbob, "accepted")

    assert await process(services, move(bob.ap_id, newbob_url)) == "done"

    assert (await reload(services, Actor, bob.id)).moved_to_id == newbob.id
    [to_new] = await rows(services, Follow, follower_id=alice.id)
    assert (to_new.followee_id, to_new.state) == (newbob.id, "pending")
    assert to_new.ap_id == f"{alice.ap_id}#follows/{to_new.id}"
    for kept in (carol_old, erin_old):  # a request never accepted; a follower newbob blocks
        assert [f.id for f in await rows(services, Follow, follower_id=kept.follower_id)] == [
            kept.id
        ]
    # Blocks carried: dave's; frank's too, ending newbob's follow of frank; not gina's,
    # who follows newbob.
    [dave_block] = await rows(services, Block, actor_id=dave.id, target_id=newbob.id)
    [frank_block] = await rows(services, Block, actor_id=frank.id, target_id=newbob.id)
    assert await rows(services, Block, actor_id=gina.id, target_id=newbob.id) == []
    assert await reload(services, Follow, newbob_follows_frank.id) is None
    assert await reload(services, Follow, gina_follows_newbob.id) is not None

    deliveries = await sent(services)
    by_type: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for inbox, activity in deliveries:
        by_type.setdefault(activity["type"], []).append((inbox, activity))
    [(inbox, follow_sent)] = by_type["Follow"]
    assert inbox == f"{newbob_url}/inbox"
    assert (follow_sent["actor"], follow_sent["object"]) == (alice.ap_id, newbob_url)
    [(inbox, undo)] = by_type["Undo"]
    assert inbox == f"{bob.ap_id}/inbox" and undo["actor"] == alice.ap_id
    assert undo["object"]["id"] == alice_old.ap_id  # the Follow as it was sent
    assert undo["object"]["object"] == bob.ap_id
    blocks_sent = {a["actor"]: (i, a) for i, a in by_type["Block"]}
    assert set(blocks_sent) == {dave.ap_id, frank.ap_id}
    assert blocks_sent[dave.ap_id][0] == f"{newbob_url}/inbox"
    assert blocks_sent[dave.ap_id][1]["id"] == dave_block.ap_id
    assert blocks_sent[frank.ap_id][1]["id"] == frank_block.ap_id
    [(inbox, reject)] = by_type["Reject"]
    assert inbox == f"{newbob_url}/inbox" and reject["actor"] == frank.ap_id
    assert reject["object"] == newbob_follows_frank.ap_id
    assert len(deliveries) == 5

    # The new account's document was fetched from its own server, signed.
    assert other_peer.fetched("/users/newbob")


async def test_a_move_back_clears_the_first_move(
    services: Services, peer: Peer, other_peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    bob_url = peer.add_actor("bob")
    newbob_url = other_peer.add_actor("newbob", alsoKnownAs=[bob_url])
    bob = await get_actor(services, bob_url)
    await follow(services, alice, bob, "accepted")
    assert await process(services, move(bob_url, newbob_url)) == "done"
    newbob = await get_actor(services, newbob_url)
    async with services.db.transaction() as session:  # newbob accepts alice
        [pending] = (
            await session.exec(select(Follow).where(Follow.followee_id == newbob.id))
        ).all()
        pending.state = "accepted"
        session.add(pending)

    peer.actors["bob"] = {"alsoKnownAs": [newbob_url]}  # bob agrees to take them back
    back = {**move(newbob_url, bob_url), "id": f"{newbob_url}#moves/back"}
    assert await process(services, back) == "done"
    assert (await reload(services, Actor, newbob.id)).moved_to_id == bob.id
    assert (await reload(services, Actor, bob.id)).moved_to_id is None
    [now] = await rows(services, Follow, follower_id=alice.id)
    assert (now.followee_id, now.state) == (bob.id, "pending")


async def test_a_replayed_move_changes_nothing(
    services: Services, peer: Peer, other_peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    bob = await get_actor(services, peer.add_actor("bob"))
    newbob_url = other_peer.add_actor("newbob", alsoKnownAs=bob.ap_id)  # a bare string
    await follow(services, alice, bob, "accepted")
    item_id = await deliver(services, move(bob.ap_id, newbob_url))
    assert await reprocess(services, item_id) == "done"
    before = (await rows(services, Follow), await sent(services))
    assert len(before[0]) == 1 and len(before[1]) == 2
    assert await reprocess(services, item_id) == "done"
    assert (await rows(services, Follow), await sent(services)) == before


async def test_a_move_the_new_account_does_not_confirm_is_ignored(
    services: Services, peer: Peer, other_peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    bob = await get_actor(services, peer.add_actor("bob"))
    mallory = peer.add_actor("mallory")
    stranger = other_peer.add_actor("stranger")  # no alsoKnownAs
    elsewhere = other_peer.add_actor("elsewhere", alsoKnownAs=["https://x.example/users/bob"])
    confirms = other_peer.add_actor("confirms", alsoKnownAs=[bob.ap_id])
    peer.actors["bob"] = {"alsoKnownAs": [bob.ap_id]}  # bob names itself: no move to itself
    old = await follow(services, alice, bob, "accepted")

    cases = [
        move(bob.ap_id, stranger),  # the target does not name bob
        move(bob.ap_id, elsewhere),  # it names someone else
        move(bob.ap_id, confirms, actor=mallory),  # mallory moving bob
        {**move(bob.ap_id, confirms), "object": mallory},  # bob moving mallory
        {**move(bob.ap_id, confirms), "target": alice.ap_id},  # to a local account
        {**move(bob.ap_id, confirms), "target": f"{other_peer.base}/users/nobody"},  # 404
        {**move(bob.ap_id, confirms), "target": f"{bob.ap_id}#elsewhere"},  # itself
    ]
    for number, activity in enumerate(cases):
        activity["id"] = f"{activity['actor']}#moves/{number}"
        assert await process(services, activity) == "ignored", activity
    assert (await reload(services, Actor, bob.id)).moved_to_id is None
    assert [f.id for f in await rows(services, Follow)] == [old.id]
    assert await rows(services, Delivery) == []


async def test_the_moved_account_points_to_the_new_one_on_its_page_and_in_the_api(
    services: Services,
    peer: Peer,
    other_peer: Peer,
    make_user: Callable[..., Any],
    client: httpx.AsyncClient,
) -> None:
    await make_user("alice")
    bob = await get_actor(services, peer.add_actor("bob"))
    newbob_url = other_peer.add_actor("newbob", alsoKnownAs=[bob.ap_id])
    token = await create_script_token(services, "alice", scopes="read")
    auth = {"Authorization": f"Bearer {token}"}
    before = await client.get(f"/api/v1/accounts/{bob.id}", headers=auth)
    assert before.status_code == 200 and "moved" not in before.json()  # and now cached

    assert await process(services, move(bob.ap_id, newbob_url)) == "done"
    newbob = await get_actor(services, newbob_url)
    # a change of the actor row (moved_to_id) is seen at once, cached entity or not
    entity = (await client.get(f"/api/v1/accounts/{bob.id}", headers=auth)).json()
    assert entity["moved"]["id"] == str(newbob.id)
    assert entity["moved"]["acct"] == f"newbob@{newbob.domain}"
    assert "moved" not in entity["moved"]
    page = await client.get(f"/@bob@{bob.domain}")
    assert page.status_code == 200
    assert "has moved to" in page.text and f"@newbob@{newbob.domain}" in page.text
    assert f'href="{services.urls.base}/@newbob@{newbob.domain}"' in page.text


async def test_followers_and_blocks_move_in_batches_and_none_is_left_behind(
    services: Services,
    peer: Peer,
    other_peer: Peer,
    make_user: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(moves, "BATCH", 2)  # a page boundary inside five rows
    bob = await get_actor(services, peer.add_actor("bob"))
    newbob_url = other_peer.add_actor("newbob", alsoKnownAs=[bob.ap_id])
    newbob = await get_actor(services, newbob_url)
    followers = [await make_user(f"f{i}") for i in range(5)]
    blockers = [await make_user(f"b{i}") for i in range(5)]
    for who in followers:
        await follow(services, who, bob, "accepted")
    await block(services, newbob, followers[2])  # stays with bob, between two pages
    for who in blockers:
        await block(services, who, bob)

    assert await process(services, move(bob.ap_id, newbob_url)) == "done"

    for who in followers:
        [now] = await rows(services, Follow, follower_id=who.id)
        assert now.followee_id == (bob.id if who is followers[2] else newbob.id)
    for who in blockers:
        assert len(await rows(services, Block, actor_id=who.id, target_id=newbob.id)) == 1
