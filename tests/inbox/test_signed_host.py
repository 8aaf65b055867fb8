"""A draft-cavage signature made for another server cannot be replayed here.

The signature covers the Host header as the request carried it. A server that received
bob's signed delivery (or signed fetch) could send the very same request to us within the
Date window; the paths (``/inbox``, ``/users/alice``) are the same everywhere, so only
the Host tells the two apart, and it must name this server.
"""

from __future__ import annotations

import json

import httpx

from federation.inbox_receive import verify_get
from federation.signatures import sign_request
from services.context import Services
from tests.inbox.conftest import inbox_count
from tests.inbox.peer import AS_JSON, FakePeer

NOTE = "http://gallery.test/users/alice/statuses/1"


async def test_a_delivery_signed_for_another_host_is_refused(
    client: httpx.AsyncClient, services: Services, peer: FakePeer
) -> None:
    body = json.dumps(peer.activity("bob", "Like", NOTE)).encode()
    elsewhere = peer.signed_headers("http://elsewhere.example/inbox", body, name="bob")
    assert elsewhere["Host"] == "elsewhere.example"
    replayed = await client.post("/inbox", content=body, headers=elsewhere)
    assert replayed.status_code == 401
    assert replayed.json() == {"error": "the signed Host header is not this server"}
    assert await inbox_count(services) == 0

    ours = sign_request(
        "POST",
        "http://gallery.test/inbox",
        {"Content-Type": AS_JSON, "Host": "Gallery.Test:80"},
        body,
        key_id=peer.key_id("bob"),
        private_key_pem=peer.actors["bob"].private_pem,
    )
    accepted = await client.post("/inbox", content=body, headers=ours)
    assert accepted.status_code == 202, accepted.text  # case and default port do not matter
    assert await inbox_count(services) == 1


async def test_a_signed_fetch_for_another_host_proves_nothing(
    services: Services, peer: FakePeer
) -> None:
    def signed(url: str) -> dict[str, str]:
        return sign_request(
            "GET",
            url,
            {"Accept": AS_JSON},
            None,
            key_id=peer.key_id("bob"),
            private_key_pem=peer.actors["bob"].private_pem,
        )

    target = "/users/alice"
    for_us = await verify_get(
        services, method="GET", target=target, headers=signed("http://gallery.test/users/alice")
    )
    assert for_us is not None and for_us.ap_id == peer.actor_id("bob")
    replayed = await verify_get(
        services, method="GET", target=target, headers=signed("http://other.example/users/alice")
    )
    assert replayed is None
