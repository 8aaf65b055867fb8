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

from federation.fetch import get_actor
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
    alice, carol, dave, erin = [
        await make_user(name) for name in ("alice", "carol", "dave", "erin")
    ]
    bob = await get_actor(services, peer.add_actor("bob"))
    newbob_url = other_peer.add_actor("newbob", alsoKnownAs=[bob.ap_id])
    alice_old = await follow(services, alice, bob, "accepted")
    carol_old = await follow(services, carol, bob, "pending")
    erin_old = await follow(services, erin, bob, "accepted")
    await block(services, dave, bob)
    newbob = await get_actor(services, newbob_url)
    await block(services, newbob, erin)  # newbob blocks erin: she cannot follow it

    assert await process(services, move(bob.ap_id, newbob_url)) == "done"

    assert (await reload(services, Actor, bob.id)).moved_to_id == newbob.id
    for who in (alice, carol):
        [to_new] = await rows(services, Follow, follower_id=who.id)
        assert (to_new.followee_id, to_new.state) == (newbob.id, "pending")
        assert to_new.ap_id == f"{who.ap_id}#follows/{to_new.id}"
    [kept] = await rows(services, Follow, follower_id=erin.id)
    assert kept.id == erin_old.id and kept.followee_id == bob.id
    [carried] = await rows(services, Block, actor_id=dave.id, target_id=newbob.id)

    deliveries = await sent(services)
    follows = {a["actor"]: a for inbox, a in deliveries if a["type"] == "Follow"}
    assert set(follows) == {alice.ap_id, carol.ap_id}
    assert all(a["object"] == newbob_url for a in follows.values())
    assert {inbox for inbox, a in deliveries if a["type"] == "Follow"} == {f"{newbob_url}/inbox"}
    undos = {a["actor"]: a for inbox, a in deliveries if a["type"] == "Undo"}
    assert {inbox for inbox, a in deliveries if a["type"] == "Undo"} == {f"{bob.ap_id}/inbox"}
    assert undos[alice.ap_id]["object"]["id"] == alice_old.ap_id  # the Follow as sent
    assert undos[carol.ap_id]["object"]["id"] == carol_old.ap_id
    assert undos[alice.ap_id]["object"]["object"] == bob.ap_id
    [(inbox, block_sent)] = [(i, a) for i, a in deliveries if a["type"] == "Block"]
    assert inbox == f"{newbob_url}/inbox"
    assert (block_sent["actor"], block_sent["object"], block_sent["id"]) == (
        dave.ap_id,
        newbob_url,
        carried.ap_id,
    )
    assert len(deliveries) == 5

    # The new account's document was fetched from its own server, signed.
    assert other_peer.fetched("/users/newbob")


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
    old = await follow(services, alice, bob, "accepted")

    cases = [
        move(bob.ap_id, stranger),  # the target does not name bob
        move(bob.ap_id, elsewhere),  # it names someone else
        move(bob.ap_id, confirms, actor=mallory),  # mallory moving bob
        {**move(bob.ap_id, confirms), "object": mallory},  # bob moving mallory
        {**move(bob.ap_id, confirms), "target": alice.ap_id},  # to a local account
        {**move(bob.ap_id, confirms), "target": f"{other_peer.base}/users/nobody"},  # 404
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
