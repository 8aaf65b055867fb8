"""``/api/v2/search?resolve=true`` finds a remote account through WebFinger and a signed
fetch of its actor document (a fake peer on loopback that checks our signature), and
following it through the API queues the same Follow the web button sends."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlmodel import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from federation.keys import generate_rsa_keypair
from federation.signatures import Rejected, Verified, parse_signature, verify_parsed
from services.context import Services
from storage.federation_models import Delivery, OutboxActivity
from storage.models import Actor, Follow
from tests.api.conftest import bearer
from tests.api.schemas import RELATIONSHIP, SEARCH, check
from tests.transport.peers import serve_app


@dataclass
class Peer:
    base: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    @property
    def host(self) -> str:
        return self.base.removeprefix("http://")


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    """A remote server with one account, ``dana``: WebFinger and her actor document."""
    state = Peer()
    _private, public = generate_rsa_keypair()

    async def webfinger(request: Request) -> Response:
        state.requests.append(("GET", str(request.url), dict(request.headers)))
        if request.query_params.get("resource") != f"acct:dana@{state.host}":
            return JSONResponse({"error": "no such account"}, status_code=404)
        link = {
            "rel": "self",
            "type": "application/activity+json",
            "href": f"{state.base}/users/dana",
        }
        return JSONResponse({"subject": f"acct:dana@{state.host}", "links": [link]})

    async def actor(request: Request) -> Response:
        target = request.url.path
        state.requests.append(("GET", target, dict(request.headers)))
        doc: dict[str, Any] = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": f"{state.base}/users/dana",
            "type": "Person",
            "preferredUsername": "dana",
            "name": "Dana Remote",
            "summary": "<p>paints <script>x</script>clouds</p>",
            "inbox": f"{state.base}/users/dana/inbox",
            "outbox": f"{state.base}/users/dana/outbox",
            "followers": f"{state.base}/users/dana/followers",
            "endpoints": {"sharedInbox": f"{state.base}/inbox"},
            "url": f"{state.base}/@dana",
            "publicKey": {
                "id": f"{state.base}/users/dana#main-key",
                "owner": f"{state.base}/users/dana",
                "publicKeyPem": public,
            },
        }
        return Response(json.dumps(doc), media_type="application/activity+json")

    app = Starlette(
        routes=[
            Route("/.well-known/webfinger", webfinger),
            Route("/users/dana", actor),
        ]
    )
    async with serve_app(app) as base:
        state.base = base
        yield state


async def test_resolve_remote_account_and_follow_it(
    client: httpx.AsyncClient, make_token: Any, services: Services, peer: Peer
) -> None:
    _, token = await make_token()
    handle = f"@dana@{peer.host}"
    unresolved = await client.get("/api/v2/search", params={"q": handle}, headers=bearer(token))
    assert unresolved.json()["accounts"] == [] and peer.requests == []

    found = await client.get(
        "/api/v2/search", params={"q": handle, "resolve": "true"}, headers=bearer(token)
    )
    accounts = check(SEARCH, found.json())["accounts"]
    assert [a["acct"] for a in accounts] == [f"dana@{peer.host}"]
    dana = accounts[0]
    assert dana["display_name"] == "Dana Remote" and "<script>" not in dana["note"]
    assert dana["url"] == f"{peer.base}/@dana"

    # the actor document was fetched with a signature of our instance actor, which verifies
    fetch = next(r for r in peer.requests if r[1] == "/users/dana")
    parsed = parse_signature("GET", "/users/dana", fetch[2])
    assert not isinstance(parsed, Rejected), parsed
    async with services.db.session() as session:
        signer = (await session.exec(select(Actor).where(Actor.key_id == parsed.key_id))).one()
    assert signer.actor_type == "Application"  # the instance actor signs server fetches
    verdict = verify_parsed(parsed, signer.public_key_pem or "", body=None, now=datetime.now(UTC))
    assert isinstance(verdict, Verified), verdict

    followed = await client.post(f"/api/v1/accounts/{dana['id']}/follow", headers=bearer(token))
    assert check(RELATIONSHIP, followed.json())["requested"] is True  # until dana's server accepts
    async with services.db.session() as session:
        follow = (await session.exec(select(Follow))).one()
        assert follow.state == "pending" and follow.ap_id
        activity = (await session.exec(select(OutboxActivity))).one()
        delivery = (await session.exec(select(Delivery))).one()
    payload = json.loads(activity.payload)
    assert payload["type"] == "Follow" and payload["object"] == f"{peer.base}/users/dana"
    assert delivery.inbox_url == f"{peer.base}/users/dana/inbox"

    lookup = await client.get("/api/v1/accounts/lookup", params={"acct": f"dana@{peer.host}"})
    assert lookup.json()["id"] == dana["id"]
