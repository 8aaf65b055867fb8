"""A fake remote server shaped like Mastodon, served by uvicorn on 127.0.0.1.

It has real RSA keys and serves what a Mastodon instance serves to another server: actor
documents (``/users/NAME``, key id ``ACTOR#main-key``), WebFinger, and - for accounts set
up GoToSocial-style - a separate key document at ``ACTOR/main-key``. It signs the POSTs it
makes to our inbox with ``federation.signatures.sign_request`` (draft-cavage, ``rsa-sha256``
over ``(request-target) host date digest content-type``), exactly as Mastodon does. Every
GET it receives is recorded so tests can check that our fetches were signed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from federation.keys import generate_rsa_keypair
from federation.signatures import sign_request
from tests.transport.peers import serve_app

AS_JSON = "application/activity+json"
AS_CONTEXT = ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]


@dataclass
class PeerActor:
    name: str
    private_pem: str
    public_pem: str
    key_style: str = "fragment"  # "fragment": ACTOR#main-key; "path": ACTOR/main-key
    gone: bool = False
    failing: bool = False  # answers 503, as a server having a bad moment


@dataclass
class Fetch:
    path: str
    headers: dict[str, str]


@dataclass
class FakePeer:
    base: str = ""
    actors: dict[str, PeerActor] = field(default_factory=dict)
    fetches: list[Fetch] = field(default_factory=list)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Extra documents served as ActivityPub JSON at their path (for odd-document tests)."""
    webfinger_links: dict[str, str] = field(default_factory=dict)
    """name -> actor URL this server's WebFinger names (another server's, for instance)."""

    @property
    def domain(self) -> str:
        return self.base.removeprefix("http://")

    def add(self, name: str, *, key_style: str = "fragment") -> PeerActor:
        private_pem, public_pem = generate_rsa_keypair()
        actor = PeerActor(name, private_pem, public_pem, key_style)
        self.actors[name] = actor
        return actor

    def rotate_key(self, name: str) -> None:
        actor = self.actors[name]
        actor.private_pem, actor.public_pem = generate_rsa_keypair()

    def actor_id(self, name: str) -> str:
        return f"{self.base}/users/{name}"

    def key_id(self, name: str) -> str:
        separator = "/" if self.actors[name].key_style == "path" else "#"
        return f"{self.actor_id(name)}{separator}main-key"

    def fetches_of(self, path: str) -> list[Fetch]:
        return [f for f in self.fetches if f.path == path]

    def actor_document(self, name: str) -> dict[str, Any]:
        actor_id = self.actor_id(name)
        return {
            "@context": AS_CONTEXT,
            "id": actor_id,
            "type": "Person",
            "following": f"{actor_id}/following",
            "followers": f"{actor_id}/followers",
            "inbox": f"{actor_id}/inbox",
            "outbox": f"{actor_id}/outbox",
            "preferredUsername": name,
            "name": name.title(),
            "summary": "<p>Paints <script>alert(1)</script>clouds.</p>",
            "url": f"{self.base}/@{name}",
            "manuallyApprovesFollowers": False,
            "publicKey": {
                "id": self.key_id(name),
                "owner": actor_id,
                "publicKeyPem": self.actors[name].public_pem,
            },
            "endpoints": {"sharedInbox": f"{self.base}/inbox"},
            "icon": {"type": "Image", "mediaType": "image/png", "url": f"{self.base}/a.png"},
        }

    def activity(self, name: str, kind: str, obj: Any, *, suffix: str = "1") -> dict[str, Any]:
        actor_id = self.actor_id(name)
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{actor_id}#{kind.lower()}s/{suffix}",
            "type": kind,
            "actor": actor_id,
            "object": obj,
        }

    def signed_headers(
        self,
        url: str,
        body: bytes,
        *,
        name: str,
        now: datetime | None = None,
        private_pem: str | None = None,
    ) -> dict[str, str]:
        """Headers for a POST of ``body`` to ``url``, signed as Mastodon signs."""
        return sign_request(
            "POST",
            url,
            {"Content-Type": AS_JSON},
            body,
            key_id=self.key_id(name),
            private_key_pem=private_pem or self.actors[name].private_pem,
            now=now,
        )

    async def deliver(
        self,
        client: httpx.AsyncClient,
        path: str,
        activity: dict[str, Any] | bytes,
        *,
        name: str = "bob",
        now: datetime | None = None,
    ) -> httpx.Response:
        """POST an activity to our inbox at ``path``, signed by ``name``."""
        body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
        headers = self.signed_headers(f"{client.base_url}{path}", body, name=name, now=now)
        return await client.post(path, content=body, headers=headers)

    # -- the server side ------------------------------------------------------------

    def app(self) -> Starlette:
        def record(request: Request) -> None:
            self.fetches.append(Fetch(request.url.path, dict(request.headers)))

        async def actor(request: Request) -> Response:
            record(request)
            found = self.actors.get(request.path_params["name"])
            if found is None:
                return JSONResponse({"error": "Not found"}, status_code=404)
            if found.gone:
                return JSONResponse({"error": "Gone"}, status_code=410)
            if found.failing:
                return JSONResponse({"error": "Unavailable"}, status_code=503)
            return JSONResponse(self.actor_document(found.name), media_type=AS_JSON)

        async def key(request: Request) -> Response:
            record(request)
            found = self.actors.get(request.path_params["name"])
            if found is None or found.key_style != "path":
                return JSONResponse({"error": "Not found"}, status_code=404)
            if found.gone:
                return JSONResponse({"error": "Gone"}, status_code=410)
            document = {
                "@context": "https://w3id.org/security/v1",
                "id": self.key_id(found.name),
                "owner": self.actor_id(found.name),
                "publicKeyPem": found.public_pem,
            }
            return JSONResponse(document, media_type=AS_JSON)

        async def webfinger(request: Request) -> Response:
            record(request)
            resource = unquote(request.query_params.get("resource", ""))
            name, _, domain = resource.removeprefix("acct:").partition("@")
            known = name in self.actors or name in self.webfinger_links
            if domain != self.domain or not known:
                return JSONResponse({"error": "Not found"}, status_code=404)
            actor_url = self.webfinger_links.get(name) or self.actor_id(name)
            jrd = {
                "subject": f"acct:{name}@{self.domain}",
                "links": [
                    {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html",
                     "href": f"{self.base}/@{name}"},
                    {"rel": "self", "type": AS_JSON, "href": actor_url},
                ],
            }  # fmt: skip
            return JSONResponse(jrd, media_type="application/jrd+json")

        async def document(request: Request) -> Response:
            record(request)
            found = self.documents.get(request.url.path)
            if found is None:
                return JSONResponse({"error": "Not found"}, status_code=404)
            return JSONResponse(found, media_type=AS_JSON)

        return Starlette(
            routes=[
                Route("/users/{name}", actor),
                Route("/users/{name}/main-key", key),
                Route("/.well-known/webfinger", webfinger),
                Route("/{path:path}", document),
            ]
        )


@asynccontextmanager
async def running_peer(*names: str) -> AsyncIterator[FakePeer]:
    peer = FakePeer()
    async with serve_app(peer.app()) as base:
        peer.base = base
        for name in names:
            peer.add(name)
        yield peer
