"""A profile saved on the settings page reaches followers' servers as ``Update{Person}``."""

from __future__ import annotations

import httpx

from federation.delivery import DeliveryWorker
from services.context import Services
from storage.ids import new_id
from storage.models import Actor, Follow
from tests.conftest import csrf_from
from tests.mentions.conftest import WebfingerPeer
from tests.outbox.conftest import deliveries, insert


async def remote_follower(services: Services, peer: WebfingerPeer, alice: Actor) -> Actor:
    bob = peer.actor_row("bob")
    follow = Follow(
        id=new_id(),
        follower_id=bob.id,
        followee_id=alice.id,
        state="accepted",
        ap_id=f"{bob.ap_id}#follows/1",
    )
    await insert(services, bob, follow)
    return bob


async def test_profile_save_sends_update_person(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: WebfingerPeer,
    worker: DeliveryWorker,
    tessera: str,
) -> None:
    await remote_follower(services, peer, alice)
    token = await csrf_from(client, "/settings")
    saved = await client.post(
        "/settings/profile",
        data={"csrf_token": token, "display_name": "Alice Liddell", "bio": "Paints #clouds"},
    )
    assert saved.status_code == 200 and "Profile saved." in saved.text

    assert await worker.run_once() == 1
    [update] = peer.received
    assert update.authentic, update.verdict
    assert update.path == "/inbox"  # the follower's server, once, at its shared inbox
    activity = update.activity
    assert activity["type"] == "Update" and activity["actor"] == f"{tessera}/users/alice"
    person = activity["object"]
    assert person["id"] == f"{tessera}/users/alice" and person["type"] == "Person"
    assert person["name"] == "Alice Liddell"
    assert "clouds" in person["summary"]
    assert person["publicKey"]["id"] == f"{tessera}/users/alice#main-key"
    # the actor document served afterwards says the same
    served = await client.get("/users/alice", headers={"accept": "application/activity+json"})
    assert served.json()["name"] == "Alice Liddell"


async def test_a_refused_profile_save_sends_nothing(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    peer: WebfingerPeer,
    worker: DeliveryWorker,
) -> None:
    await remote_follower(services, peer, alice)
    token = await csrf_from(client, "/settings")
    refused = await client.post(
        "/settings/profile", data={"csrf_token": token, "display_name": "x" * 101, "bio": ""}
    )
    assert refused.status_code == 422
    assert await deliveries(services) == []
    assert await worker.run_once() == 0 and peer.received == []


async def test_no_followers_no_update(
    client: httpx.AsyncClient, alice: Actor, services: Services, worker: DeliveryWorker
) -> None:
    token = await csrf_from(client, "/settings")
    saved = await client.post(
        "/settings/profile", data={"csrf_token": token, "display_name": "Solo", "bio": ""}
    )
    assert saved.status_code == 200
    assert await deliveries(services) == []
