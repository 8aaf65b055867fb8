"""``[federation] authorized_fetch``: ActivityPub GETs must be signed by a remote actor.

Requests are signed the way Mastodon signs its fetches (draft-cavage, ``rsa-sha256``) by
actors of a fake Mastodon-like server listening on 127.0.0.1; Tessera verifies them by
fetching the signer's key from that server, as it would in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from federation.documents import MINIMAL_ACTOR_FIELDS
from federation.fetch import get_actor
from federation.keys import generate_rsa_keypair
from federation.signatures import sign_request
from services.context import Services
from storage.ids import new_id
from storage.models import Actor, Follow
from tests.federation_docs.helpers import BROWSER, publish_post
from tests.inbox.peer import FakePeer, running_peer
from tests.outbox.conftest import insert

AP = "application/activity+json"
BASE = "http://gallery.test"
SECURE = {"federation": {"authorized_fetch": True}}
secure_mode = pytest.mark.parametrize("config_overrides", [SECURE])
default_mode = pytest.mark.parametrize("config_overrides", [{}])
COLLECTIONS = [
    "/users/alice/outbox",
    "/users/alice/outbox?page=true",
    "/users/alice/followers",
    "/users/alice/followers?page=true",
    "/users/alice/following",
    "/users/alice/collections/featured",
]


@pytest.fixture
async def remote(services: Services) -> AsyncIterator[FakePeer]:
    async with running_peer("bob", "mallory") as peer:
        yield peer
    await services.close()  # the client that fetched the signers' keys


def signed(
    peer: FakePeer,
    name: str,
    path: str,
    *,
    private_pem: str | None = None,
    now: datetime | None = None,
) -> dict:
    return sign_request(
        "GET",
        f"{BASE}{path}",
        {"Accept": AP},
        None,
        key_id=peer.key_id(name),
        private_key_pem=private_pem or peer.actors[name].private_pem,
        now=now,
    )


async def get(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.get(path, headers=headers or {"accept": AP})


def varies_on_signature(response: httpx.Response) -> bool:
    return "signature" in response.headers.get("vary", "").lower()


async def follow(services: Services, peer: FakePeer, name: str, alice: Actor, state: str) -> None:
    follower = await get_actor(services, peer.actor_id(name))  # as a first signed GET would
    row = Follow(id=new_id(), follower_id=follower.id, followee_id=alice.id, state=state)
    await insert(services, row)


@secure_mode
async def test_posts_need_a_valid_signature(
    client: httpx.AsyncClient, alice: Actor, remote: FakePeer
) -> None:
    post_id = await publish_post(client)
    path = f"/users/alice/statuses/{post_id}"

    unsigned = await get(client, path)
    assert unsigned.status_code == 401 and "signed" in unsigned.json()["error"]
    assert varies_on_signature(unsigned)
    assert (await get(client, f"/@alice/{post_id}")).status_code == 401

    ok = await get(client, path, signed(remote, "bob", path))
    assert ok.status_code == 200 and ok.json()["id"] == f"{BASE}{path}"
    assert ok.json()["type"] == "Note" and varies_on_signature(ok)
    page_path = f"/@alice/{post_id}"
    assert (await get(client, page_path, signed(remote, "bob", page_path))).status_code == 200

    stranger_pem, _ = generate_rsa_keypair()
    forged = await get(client, path, signed(remote, "bob", path, private_pem=stranger_pem))
    assert forged.status_code == 401
    replayed = await get(client, path, signed(remote, "bob", "/users/alice/outbox"))
    assert replayed.status_code == 401

    browser = await client.get(page_path, headers={"accept": BROWSER})
    assert browser.status_code == 200 and "text/html" in browser.headers["content-type"]


@secure_mode
async def test_a_stale_signed_fetch_is_refused_without_fetching_the_key(
    client: httpx.AsyncClient, alice: Actor, remote: FakePeer
) -> None:
    """A signed GET whose Date is outside the window proves nothing, and finding that out
    needs no key: nothing is fetched from the server the key id names."""
    await publish_post(client)
    path = "/users/alice/outbox"
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    stale = await get(client, path, signed(remote, "bob", path, now=two_hours_ago))
    assert stale.status_code == 401
    assert remote.fetches == []
    assert (await get(client, path, signed(remote, "bob", path))).status_code == 200
    assert len(remote.fetches_of("/users/bob")) == 1


@secure_mode
async def test_collections_need_a_valid_signature(
    client: httpx.AsyncClient, alice: Actor, remote: FakePeer
) -> None:
    await publish_post(client)
    for path in COLLECTIONS:
        unsigned = await get(client, path)
        assert unsigned.status_code == 401, path
        assert "error" in unsigned.json()
        ok = await get(client, path, signed(remote, "bob", path))
        assert ok.status_code == 200, path
        assert ok.json()["type"] in ("OrderedCollection", "OrderedCollectionPage"), path


@secure_mode
async def test_followers_only_posts_for_signed_followers(
    client: httpx.AsyncClient, alice: Actor, services: Services, remote: FakePeer
) -> None:
    await follow(services, remote, "bob", alice, "accepted")
    await follow(services, remote, "mallory", alice, "pending")
    post_id = await publish_post(client, visibility="followers")
    path = f"/users/alice/statuses/{post_id}"

    by_follower = await get(client, path, signed(remote, "bob", path))
    assert by_follower.status_code == 200
    assert by_follower.json()["to"] == [f"{BASE}/users/alice/followers"]
    assert (await get(client, path, signed(remote, "mallory", path))).status_code == 404
    assert (await get(client, path)).status_code == 401

    mentioning = await publish_post(
        client, seed=5, visibility="followers", caption=f"for @mallory@{remote.domain}"
    )
    path = f"/users/alice/statuses/{mentioning}"
    by_mentioned = await get(client, path, signed(remote, "mallory", path))
    assert by_mentioned.status_code == 200  # the people a post names may read it
    assert remote.actor_id("mallory") in by_mentioned.json()["cc"]


@secure_mode
async def test_actors_stay_readable_reduced_to_their_key(
    client: httpx.AsyncClient, alice: Actor, remote: FakePeer
) -> None:
    unsigned = await get(client, "/users/alice")
    assert unsigned.status_code == 200 and varies_on_signature(unsigned)
    minimal = unsigned.json()
    assert set(minimal) == {"@context", *MINIMAL_ACTOR_FIELDS}
    assert minimal["publicKey"]["id"] == f"{BASE}/users/alice#main-key"
    assert minimal["publicKey"]["publicKeyPem"] == alice.public_key_pem
    assert minimal["endpoints"]["sharedInbox"] == f"{BASE}/inbox"
    assert (await get(client, "/@alice")).json() == minimal

    full = await get(client, "/users/alice", signed(remote, "bob", "/users/alice"))
    assert full.status_code == 200
    assert full.json()["followers"] == f"{BASE}/users/alice/followers"
    assert full.json()["name"] == "alice" and "summary" in full.json()

    instance = await get(client, "/actor")
    assert instance.status_code == 200 and instance.json()["publicKey"]["publicKeyPem"]
    webfinger = await client.get("/.well-known/webfinger?resource=acct:alice@gallery.test")
    assert webfinger.status_code == 200
    assert (await client.get("/.well-known/nodeinfo")).status_code == 200
    assert (await client.get("/nodeinfo/2.1")).status_code == 200


@default_mode
async def test_without_authorized_fetch_nothing_changes(
    client: httpx.AsyncClient, alice: Actor, services: Services, remote: FakePeer
) -> None:
    public = await publish_post(client)
    response = await get(client, f"/users/alice/statuses/{public}")
    assert response.status_code == 200 and not varies_on_signature(response)
    for path in COLLECTIONS:
        assert (await get(client, path)).status_code == 200, path
    actor: dict[str, Any] = (await get(client, "/users/alice")).json()
    assert actor["name"] == "alice" and actor["followers"] == f"{BASE}/users/alice/followers"

    await follow(services, remote, "bob", alice, "accepted")
    private = await publish_post(client, seed=3, visibility="followers")
    path = f"/users/alice/statuses/{private}"
    assert (await get(client, path)).status_code == 404
    assert (await get(client, path, signed(remote, "bob", path))).status_code == 404
