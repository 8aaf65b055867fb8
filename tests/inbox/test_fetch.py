"""Fetching and caching remote actors and keys, and resolving handles with WebFinger,
against fake peers on 127.0.0.1 (real HTTP, real signatures, a real SQLite file)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from federation.fetch import get_actor, get_actor_by_key_id, resolve_handle
from federation.inbox_receive import verify_get
from federation.keys import generate_rsa_keypair
from federation.signatures import sign_request
from federation.transport import BadDocument, OriginMismatch, RemoteHTTPError
from services.context import Services
from storage.models import Actor
from tessera.errors import InvalidInput, NotFound
from tests.inbox.peer import AS_JSON, FakePeer, running_peer


async def actors(services: Services) -> list[Actor]:
    async with services.db.session() as session:
        rows = (await session.exec(select(Actor).where(Actor.domain.is_not(None)))).all()  # type: ignore[union-attr]
    return list(rows)


async def test_resolve_handle_with_webfinger(services: Services, peer: FakePeer) -> None:
    bob = await resolve_handle(services, f"@bob@{peer.domain}")
    assert bob.ap_id == peer.actor_id("bob")
    assert bob.username == "bob" and bob.username_lower == "bob"
    assert bob.domain == peer.domain
    assert bob.inbox_url == f"{peer.actor_id('bob')}/inbox"
    assert bob.shared_inbox_url == f"{peer.base}/inbox"
    assert bob.followers_url == f"{peer.actor_id('bob')}/followers"
    assert bob.key_id == f"{peer.actor_id('bob')}#main-key"
    assert bob.public_key_pem == peer.actors["bob"].public_pem
    assert bob.avatar_remote_url == f"{peer.base}/a.png"
    assert bob.url == f"{peer.base}/@bob"
    assert bob.display_name == "Bob"
    assert bob.bio_html == "<p>Paints clouds.</p>"
    assert bob.fetched_at is not None
    [webfinger] = peer.fetches_of("/.well-known/webfinger")
    assert "jrd+json" in webfinger.headers["accept"]
    # the other spellings find the same row, from the cache
    for handle in [f"bob@{peer.domain}", f"acct:bob@{peer.domain}", peer.actor_id("bob")]:
        again = await resolve_handle(services, handle)
        assert again.id == bob.id
    assert len(peer.fetches_of("/users/bob")) == 1
    assert [a.ap_id for a in await actors(services)] == [bob.ap_id]


async def test_resolve_unknown_and_malformed_handles(services: Services, peer: FakePeer) -> None:
    with pytest.raises(RemoteHTTPError) as missing:
        await resolve_handle(services, f"@nobody@{peer.domain}")
    assert missing.value.remote_status == 404
    for bad in ["bob", "@bob", "bob@", "@bob@host/path", "bob smith@example.org"]:
        with pytest.raises(InvalidInput):
            await resolve_handle(services, bad)
    assert await actors(services) == []


async def test_resolve_local_handle_needs_no_network(services: Services, make_user) -> None:
    alice = await make_user("alice")
    found = await resolve_handle(services, "@alice@gallery.test")
    assert found.id == alice.id and found.domain is None
    assert (await get_actor(services, "http://gallery.test/users/alice")).id == alice.id
    with pytest.raises(NotFound):
        await resolve_handle(services, "@nobody@gallery.test")
    with pytest.raises(NotFound):
        await get_actor(services, "http://gallery.test/users/nobody")


async def test_split_domain_handle_is_confirmed_by_the_actors_server(
    services: Services, peer: FakePeer
) -> None:
    async with running_peer() as front:
        front.webfinger_links["bob"] = peer.actor_id("bob")
        front.webfinger_links["robert"] = peer.actor_id("bob")
        bob = await resolve_handle(services, f"@bob@{front.domain}")
        assert bob.ap_id == peer.actor_id("bob") and bob.domain == peer.domain
        assert len(peer.fetches_of("/.well-known/webfinger")) == 1  # the confirmation
        with pytest.raises(BadDocument):
            await resolve_handle(services, f"@robert@{front.domain}")


async def test_actor_cache_refresh_and_expiry(services: Services, peer: FakePeer) -> None:
    url = peer.actor_id("bob")
    first = await get_actor(services, url)
    assert (await get_actor(services, url)).id == first.id
    assert len(peer.fetches_of("/users/bob")) == 1
    peer.rotate_key("bob")
    refreshed = await get_actor(services, url, refresh=True)
    assert refreshed.id == first.id
    assert refreshed.public_key_pem == peer.actors["bob"].public_pem
    assert len(peer.fetches_of("/users/bob")) == 2
    later = datetime.now(UTC) + timedelta(hours=25)
    services.clock = lambda: later
    expired = await get_actor(services, url)
    assert expired.id == first.id
    assert len(peer.fetches_of("/users/bob")) == 3
    assert len(await actors(services)) == 1


async def test_document_for_another_host_is_refused(services: Services, peer: FakePeer) -> None:
    liar = peer.actor_document("bob") | {"id": "http://127.0.0.2:9/users/bob"}
    peer.documents["/profiles/liar"] = liar
    with pytest.raises(OriginMismatch):
        await get_actor(services, f"{peer.base}/profiles/liar")
    assert await actors(services) == []


async def test_document_cannot_take_another_actors_handle(
    services: Services, peer: FakePeer
) -> None:
    bob = await get_actor(services, peer.actor_id("bob"))
    impostor = peer.actor_document("mallory") | {
        "id": f"{peer.base}/profiles/bob2",
        "preferredUsername": "bob",
    }
    peer.documents["/profiles/bob2"] = impostor
    with pytest.raises(BadDocument):
        await get_actor(services, f"{peer.base}/profiles/bob2")
    [row] = await actors(services)
    assert row.ap_id == bob.ap_id and row.public_key_pem == bob.public_key_pem


async def test_key_document_must_be_listed_by_its_owner(services: Services, peer: FakePeer) -> None:
    """A key document naming bob as owner proves nothing unless bob's actor lists the key."""
    _, stray_public = generate_rsa_keypair()
    key_id = f"{peer.base}/keys/stray"
    peer.documents["/keys/stray"] = {
        "id": key_id,
        "owner": peer.actor_id("bob"),
        "publicKeyPem": stray_public,
    }
    with pytest.raises(BadDocument):
        await get_actor_by_key_id(services, key_id)
    [bob] = await actors(services)
    assert bob.key_id == peer.key_id("bob") and bob.public_key_pem != stray_public


async def test_gotosocial_key_document(services: Services, peer: FakePeer) -> None:
    peer.add("carol", key_style="path")
    carol = await get_actor_by_key_id(services, peer.key_id("carol"))
    assert carol.ap_id == peer.actor_id("carol")
    assert carol.key_id == peer.key_id("carol")
    assert carol.public_key_pem == peer.actors["carol"].public_pem
    again = await get_actor_by_key_id(services, peer.key_id("carol"))
    assert again.id == carol.id
    assert len(peer.fetches_of("/users/carol/main-key")) == 1


async def test_verify_get_for_authorized_fetch(services: Services, peer: FakePeer) -> None:
    def signed(private_pem: str) -> dict[str, str]:
        return sign_request(
            "GET",
            "http://gallery.test/users/alice?page=true",
            {"Accept": AS_JSON},
            None,
            key_id=peer.key_id("bob"),
            private_key_pem=private_pem,
        )

    target = "/users/alice?page=true"
    by_bob = await verify_get(
        services, method="GET", target=target, headers=signed(peer.actors["bob"].private_pem)
    )
    assert by_bob is not None and by_bob.ap_id == peer.actor_id("bob")
    unsigned = await verify_get(services, method="GET", target=target, headers={"Accept": AS_JSON})
    assert unsigned is None
    stranger, _ = generate_rsa_keypair()
    assert await verify_get(services, method="GET", target=target, headers=signed(stranger)) is None
    wrong_target = await verify_get(
        services, method="GET", target="/users/bob", headers=signed(peer.actors["bob"].private_pem)
    )
    assert wrong_target is None


async def test_stale_key_is_used_while_its_server_fails_but_not_once_gone(
    services: Services, peer: FakePeer
) -> None:
    bob = await get_actor_by_key_id(services, peer.key_id("bob"))
    later = datetime.now(UTC) + timedelta(hours=25)
    services.clock = lambda: later
    peer.actors["bob"].failing = True
    stale = await get_actor_by_key_id(services, peer.key_id("bob"))
    assert stale.id == bob.id and stale.public_key_pem == bob.public_key_pem
    assert len(peer.fetches_of("/users/bob")) == 2  # it did ask
    with pytest.raises(RemoteHTTPError):
        await get_actor_by_key_id(services, peer.key_id("bob"), refresh=True)
    peer.actors["bob"].failing = False
    peer.actors["bob"].gone = True
    with pytest.raises(RemoteHTTPError) as gone:
        await get_actor_by_key_id(services, peer.key_id("bob"))
    assert gone.value.remote_status == 410
