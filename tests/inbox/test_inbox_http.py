"""POST /inbox and /users/NAME/inbox over HTTP, signed by a fake Mastodon-like peer.

The peer is a real server on 127.0.0.1 with its own RSA keys; Tessera fetches its actor and
key documents through the real transport, verifies real signatures and stores rows in a
real SQLite file. Hand-built signatures (a wrong digest, RFC 9421) are written here from
the specifications, not with Tessera's own signing code.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from sqlmodel import select

from federation.keys import generate_rsa_keypair
from services.context import Services
from storage.models import Actor
from tests.inbox.conftest import inbox_count, inbox_items
from tests.inbox.peer import AS_JSON, FakePeer, running_peer

NOTE = "http://gallery.test/users/alice/statuses/1"


def rsa_sign(private_pem: str, text: str) -> str:
    key = load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    raw = key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode()


def sha256_b64(data: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return base64.b64encode(digest.finalize()).decode()


def cavage_headers(peer: FakePeer, path: str, digest_of: bytes) -> dict[str, str]:
    """A draft-cavage signature written out by hand, over a Digest of ``digest_of``."""
    headers = {
        "Host": "gallery.test",
        "Date": format_datetime(datetime.now(UTC), usegmt=True),
        "Digest": f"SHA-256={sha256_b64(digest_of)}",
        "Content-Type": AS_JSON,
    }
    covered = ["(request-target)", "host", "date", "digest", "content-type"]
    lines = [f"(request-target): post {path}"]
    lines += [f"{name}: {headers[name.title()]}" for name in covered[1:]]
    signature = rsa_sign(peer.actors["bob"].private_pem, "\n".join(lines))
    headers["Signature"] = (
        f'keyId="{peer.key_id("bob")}",algorithm="rsa-sha256",'
        f'headers="{" ".join(covered)}",signature="{signature}"'
    )
    return headers


def rfc9421_headers(
    peer: FakePeer,
    url: str,
    body: bytes,
    *,
    created: datetime | None = None,
    expires: datetime | None = None,
) -> dict[str, str]:
    """An RFC 9421 signature (rsa-v1_5-sha256) built from the RFC's rules by hand, created
    now unless ``created`` says otherwise, with an ``expires`` parameter when given."""
    content_digest = f"sha-256=:{sha256_b64(body)}:"
    created_at = int((created or datetime.now(UTC)).timestamp())
    until = f";expires={int(expires.timestamp())}" if expires is not None else ""
    params = (
        '("@method" "@target-uri" "content-digest" "content-type")'
        f';created={created_at}{until};keyid="{peer.key_id("bob")}";alg="rsa-v1_5-sha256"'
    )
    base = "\n".join(
        [
            '"@method": POST',
            f'"@target-uri": {url}',
            f'"content-digest": {content_digest}',
            f'"content-type": {AS_JSON}',
            f'"@signature-params": {params}',
        ]
    )
    signature = rsa_sign(peer.actors["bob"].private_pem, base)
    return {
        "Content-Type": AS_JSON,
        "Content-Digest": content_digest,
        "Signature-Input": f"sig1={params}",
        "Signature": f"sig1=:{signature}:",
    }


async def remote_actor(services: Services, ap_id: str) -> Actor | None:
    async with services.db.session() as session:
        return (await session.exec(select(Actor).where(Actor.ap_id == ap_id))).first()


# --- accepted --------------------------------------------------------------------------


async def test_signed_like_is_stored_once(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    like = peer.activity("bob", "Like", NOTE)
    first = await peer.deliver(client, "/inbox", like)
    assert first.status_code == 202, first.text
    assert first.json() == {}
    again = await peer.deliver(client, "/inbox", like)
    assert again.status_code == 202, again.text

    [item] = await inbox_items(services)
    assert item.activity_id == like["id"]
    assert item.activity_type == "Like"
    assert item.actor_ap_id == peer.actor_id("bob")
    assert item.key_id == peer.key_id("bob")
    assert item.state == "pending"
    assert json.loads(item.payload) == like
    # the actor was fetched once and cached with its key and endpoints
    assert len(peer.fetches_of("/users/bob")) == 1
    bob = await remote_actor(services, peer.actor_id("bob"))
    assert bob is not None and bob.domain == peer.domain and bob.username == "bob"
    assert bob.public_key_pem == peer.actors["bob"].public_pem
    assert bob.shared_inbox_url == f"{peer.base}/inbox"


async def test_personal_inbox_accepts_and_unknown_user_is_404(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, make_user
) -> None:
    await make_user("alice")
    follow = peer.activity("bob", "Follow", "http://gallery.test/users/alice")
    accepted = await peer.deliver(client, "/users/alice/inbox", follow)
    assert accepted.status_code == 202, accepted.text
    missing = await peer.deliver(
        client, "/users/nobody/inbox", peer.activity("bob", "Like", NOTE, suffix="2")
    )
    assert missing.status_code == 404
    assert "error" in missing.json()
    assert [i.activity_type for i in await inbox_items(services)] == ["Follow"]


async def test_rotated_key_is_refetched_once(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    assert (
        await peer.deliver(client, "/inbox", peer.activity("bob", "Like", NOTE))
    ).status_code == 202
    peer.rotate_key("bob")
    response = await peer.deliver(client, "/inbox", peer.activity("bob", "Like", NOTE, suffix="2"))
    assert response.status_code == 202, response.text
    assert await inbox_count(services) == 2
    assert len(peer.fetches_of("/users/bob")) == 2
    bob = await remote_actor(services, peer.actor_id("bob"))
    assert bob is not None and bob.public_key_pem == peer.actors["bob"].public_pem


async def test_gotosocial_key_document_without_fragment(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    peer.add("carol", key_style="path")
    assert peer.key_id("carol") == f"{peer.actor_id('carol')}/main-key"
    response = await peer.deliver(
        client, "/inbox", peer.activity("carol", "Like", NOTE), name="carol"
    )
    assert response.status_code == 202, response.text
    [item] = await inbox_items(services)
    assert item.key_id == peer.key_id("carol")
    assert len(peer.fetches_of("/users/carol/main-key")) == 1
    carol = await remote_actor(services, peer.actor_id("carol"))
    assert carol is not None and carol.key_id == peer.key_id("carol")


async def test_rfc9421_signed_post_is_accepted(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    body = json.dumps(peer.activity("bob", "Like", NOTE)).encode()
    headers = rfc9421_headers(peer, "http://gallery.test/inbox", body)
    response = await client.post("/inbox", content=body, headers=headers)
    assert response.status_code == 202, response.text
    [item] = await inbox_items(services)
    assert item.key_id == peer.key_id("bob")


async def test_our_key_fetch_is_signed_by_the_instance_actor(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    from federation.signatures import Verified, parse_signature, verify_parsed

    await peer.deliver(client, "/inbox", peer.activity("bob", "Like", NOTE))
    [fetch] = peer.fetches_of("/users/bob")
    parsed = parse_signature("GET", "/users/bob", fetch.headers)
    instance = await remote_actor(services, "http://gallery.test/actor")
    assert instance is not None and instance.public_key_pem
    verdict = verify_parsed(parsed, instance.public_key_pem, body=None, now=datetime.now(UTC))  # type: ignore[arg-type]
    assert isinstance(verdict, Verified), verdict
    assert verdict.key_id == "http://gallery.test/actor#main-key"
    assert fetch.headers["user-agent"] == "Tessera/0.1.0 (+http://gallery.test)"


# --- refused ---------------------------------------------------------------------------


async def test_unsigned_post_is_401(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    body = json.dumps(peer.activity("bob", "Like", NOTE)).encode()
    response = await client.post("/inbox", content=body, headers={"Content-Type": AS_JSON})
    assert response.status_code == 401
    assert response.json() == {"error": "no signature header"}
    assert await inbox_count(services) == 0


async def test_tampered_body_is_401(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    like = peer.activity("bob", "Like", NOTE)
    body = json.dumps(like).encode()
    headers = peer.signed_headers("http://gallery.test/inbox", body, name="bob")
    tampered = json.dumps({**like, "object": "http://gallery.test/users/alice/statuses/2"})
    response = await client.post("/inbox", content=tampered.encode(), headers=headers)
    assert response.status_code == 401
    assert "digest" in response.json()["error"]
    assert await inbox_count(services) == 0


async def test_wrong_key_is_401_after_one_refetch(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    assert (
        await peer.deliver(client, "/inbox", peer.activity("bob", "Like", NOTE))
    ).status_code == 202
    body = json.dumps(peer.activity("bob", "Like", NOTE, suffix="2")).encode()
    stranger_key, _ = generate_rsa_keypair()
    headers = peer.signed_headers(
        "http://gallery.test/inbox", body, name="bob", private_pem=stranger_key
    )
    response = await client.post("/inbox", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "signature does not verify"}
    assert len(peer.fetches_of("/users/bob")) == 2  # the cached key, then one refetch
    assert await inbox_count(services) == 1


async def test_wrong_digest_is_401(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    body = json.dumps(peer.activity("bob", "Like", NOTE)).encode()
    headers = cavage_headers(peer, "/inbox", digest_of=b'{"type": "Something else"}')
    response = await client.post("/inbox", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "digest does not match body"}
    assert await inbox_count(services) == 0


async def test_hand_written_cavage_signature_is_accepted(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    """The same hand-built signature with the right digest passes: the 401 above is the
    digest's doing."""
    body = json.dumps(peer.activity("bob", "Like", NOTE)).encode()
    response = await client.post(
        "/inbox", content=body, headers=cavage_headers(peer, "/inbox", body)
    )
    assert response.status_code == 202, response.text
    assert await inbox_count(services) == 1


@pytest.mark.parametrize("offset", [timedelta(hours=-2), timedelta(minutes=10)])
async def test_stale_or_future_date_is_401_without_fetching_the_key(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, offset: timedelta
) -> None:
    """A draft-cavage signature whose Date is outside the window (a replayed capture, or a
    forged request naming anyone's key) is refused before its key is looked up: no request
    goes to the server the key id names."""
    response = await peer.deliver(
        client, "/inbox", peer.activity("bob", "Like", NOTE), now=datetime.now(UTC) + offset
    )
    assert response.status_code == 401
    assert response.json() == {"error": "date outside the allowed window"}
    assert peer.fetches == []
    assert await inbox_count(services) == 0


@pytest.mark.parametrize(
    ("created", "expires", "reason"),
    [
        (timedelta(hours=-2), None, "created time outside the allowed window"),
        (timedelta(minutes=10), None, "created time outside the allowed window"),
        (timedelta(minutes=-10), timedelta(minutes=-5), "signature has expired"),
    ],
)
async def test_rfc9421_signature_outside_its_window_is_401_without_fetching_the_key(
    client: httpx.AsyncClient,
    services: Services,
    peer: FakePeer,
    created: timedelta,
    expires: timedelta | None,
    reason: str,
) -> None:
    """RFC 9421 ``created``/``expires`` are read before the key is needed, so a stale or
    expired signature costs the signer's server no fetch; the same request made now is
    accepted (the refusal is the window's doing)."""
    body = json.dumps(peer.activity("bob", "Like", NOTE)).encode()
    now = datetime.now(UTC)
    headers = rfc9421_headers(
        peer,
        "http://gallery.test/inbox",
        body,
        created=now + created,
        expires=now + expires if expires is not None else None,
    )
    response = await client.post("/inbox", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": reason}
    assert peer.fetches == []
    assert await inbox_count(services) == 0

    fresh = rfc9421_headers(peer, "http://gallery.test/inbox", body)
    accepted = await client.post("/inbox", content=body, headers=fresh)
    assert accepted.status_code == 202, accepted.text
    assert len(peer.fetches_of("/users/bob")) == 1


async def test_actor_other_than_key_owner_is_401(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    """mallory signs (validly, with her own key) a Like that claims to be bob's."""
    forged = peer.activity("bob", "Like", NOTE)
    response = await peer.deliver(client, "/inbox", forged, name="mallory")
    assert response.status_code == 401
    assert response.json() == {"error": "the signing key does not belong to the activity's actor"}
    assert await inbox_count(services) == 0


async def test_activity_id_on_another_server_is_400(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    like = {**peer.activity("bob", "Like", NOTE), "id": "https://mastodon.example/likes/1"}
    response = await peer.deliver(client, "/inbox", like)
    assert response.status_code == 400
    assert await inbox_count(services) == 0


async def test_body_over_one_megabyte_is_413(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    like = {**peer.activity("bob", "Like", NOTE), "padding": "x" * (1024 * 1024)}
    response = await peer.deliver(client, "/inbox", like)
    assert response.status_code == 413
    body = json.dumps(like).encode()

    async def chunks():  # no Content-Length: the cap must hold on the stream too
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    headers = peer.signed_headers("http://gallery.test/inbox", body, name="bob")
    streamed = await client.post("/inbox", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert await inbox_count(services) == 0
    assert peer.fetches == []  # refused before any key was fetched


async def test_invalid_json_is_400(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    for body, reason in [
        (b"{not json", "the body is not valid JSON"),
        (b"[1, 2]", "the activity must be a JSON object"),
        (json.dumps({"id": f"{peer.actor_id('bob')}#x", "type": "Like"}).encode(),
         "the activity has no actor"),
    ]:  # fmt: skip
        response = await peer.deliver(client, "/inbox", body)
        assert response.status_code == 400, body
        assert response.json() == {"error": reason}
    assert await inbox_count(services) == 0


# --- deleted accounts ------------------------------------------------------------------


async def test_self_delete_of_a_known_gone_actor_is_stored(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    assert (
        await peer.deliver(client, "/inbox", peer.activity("bob", "Like", NOTE))
    ).status_code == 202
    peer.actors["bob"].gone = True
    delete = peer.activity("bob", "Delete", peer.actor_id("bob"))
    response = await peer.deliver(client, "/inbox", delete)
    assert response.status_code == 202, response.text
    assert sorted(i.activity_type for i in await inbox_items(services)) == ["Delete", "Like"]
    assert len(peer.fetches_of("/users/bob")) == 1  # the Delete caused no fetch


async def test_self_delete_of_an_unknown_actor_is_ignored_without_fetching(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    peer.actors["bob"].gone = True
    response = await peer.deliver(
        client, "/inbox", peer.activity("bob", "Delete", peer.actor_id("bob"))
    )
    assert response.status_code == 202
    assert await inbox_count(services) == 0
    assert peer.fetches == []


async def test_self_delete_with_a_key_we_do_not_hold_is_ignored(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    assert (
        await peer.deliver(client, "/inbox", peer.activity("bob", "Like", NOTE))
    ).status_code == 202
    peer.rotate_key("bob")
    peer.actors["bob"].gone = True
    response = await peer.deliver(
        client, "/inbox", peer.activity("bob", "Delete", peer.actor_id("bob"))
    )
    assert response.status_code == 202
    assert [i.activity_type for i in await inbox_items(services)] == ["Like"]


async def test_gone_key_refuses_other_activities_and_ignores_deletes(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    peer.actors["bob"].gone = True
    like = await peer.deliver(client, "/inbox", peer.activity("bob", "Like", NOTE))
    assert like.status_code == 401
    assert "could not be fetched" in like.json()["error"]
    note_delete = peer.activity(
        "bob", "Delete", {"id": f"{peer.actor_id('bob')}/statuses/9", "type": "Tombstone"}
    )
    response = await peer.deliver(client, "/inbox", note_delete)
    assert response.status_code == 202
    assert await inbox_count(services) == 0


async def test_second_peer_cannot_use_first_peers_actor(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    """A server signing with its own key for an actor on another server: 401."""
    async with running_peer("eve") as other:
        forged = {**peer.activity("bob", "Like", NOTE)}
        forged["id"] = f"{peer.actor_id('bob')}#likes/forged"
        response = await other.deliver(client, "/inbox", forged, name="eve")
    assert response.status_code == 401
    assert await inbox_count(services) == 0
