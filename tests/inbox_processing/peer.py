"""A fake remote server for the inbox-processing tests: a Starlette app on uvicorn at
127.0.0.1:free-port with its own RSA key.

It serves actor documents (with the real public key), notes and images that a test puts
in it, records every request (with the verdict of its signature, checked against keys the
test registers - e.g. our instance actor's), and has an inbox that verifies signatures
like a real server before recording the delivery.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from federation.signatures import Rejected, parse_signature, verify_parsed
from tests.transport.peers import serve_app

AS_JSON = "application/activity+json"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    verdict: object = None


@dataclass
class Peer:
    """State of one fake server; ``base`` is set once it listens."""

    private_pem: str
    public_pem: str
    base: str = ""
    actors: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> overrides
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> document
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> (bytes, type)
    failing: dict[str, int] = field(default_factory=dict)  # path -> status to answer
    known_keys: dict[str, str] = field(default_factory=dict)  # key id -> public PEM
    requests: list[Received] = field(default_factory=list)
    inbox: list[dict[str, Any]] = field(default_factory=list)
    on_request: Callable[[], object] | None = None
    """Called as each request arrives (the peer runs in the test's process, so a test can
    look at the fetching server's state while its request is in flight)."""

    def actor_url(self, name: str) -> str:
        return f"{self.base}/users/{name}"

    def add_actor(self, name: str, **overrides: Any) -> str:
        self.actors[name] = overrides
        return self.actor_url(name)

    def put(self, path: str, document: dict[str, Any]) -> str:
        """Serve ``document`` at ``path``; returns its URL."""
        self.objects[path] = document
        return f"{self.base}{path}"

    def put_file(self, path: str, data: bytes, content_type: str) -> str:
        self.files[path] = (data, content_type)
        return f"{self.base}{path}"

    def actor_document(self, name: str) -> dict[str, Any]:
        url = self.actor_url(name)
        document: dict[str, Any] = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": url,
            "type": "Person",
            "preferredUsername": name,
            "name": name.title(),
            "summary": f"<p>{name} lives here</p>",
            "inbox": f"{url}/inbox",
            "outbox": f"{url}/outbox",
            "followers": f"{url}/followers",
            "following": f"{url}/following",
            "endpoints": {"sharedInbox": f"{self.base}/inbox"},
            "manuallyApprovesFollowers": False,
            "publicKey": {"id": f"{url}#main-key", "owner": url, "publicKeyPem": self.public_pem},
        }
        document.update(self.actors[name])
        return document

    def fetched(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.method == "GET" and r.path == path]

    def _verdict(self, request: Request, target: str, body: bytes) -> object:
        parsed = parse_signature(request.method, target, request.headers)
        if isinstance(parsed, Rejected):
            return parsed
        pem = self.known_keys.get(parsed.key_id)
        if pem is None:
            return Rejected(f"unknown key {parsed.key_id}")
        return verify_parsed(parsed, pem, body=body or None, now=datetime.now(UTC))

    async def endpoint(self, request: Request) -> Response:
        if self.on_request is not None:
            self.on_request()
        body = await request.body()
        path = request.scope["raw_path"].decode("latin-1")
        target = path + (
            "?" + request.scope["query_string"].decode("latin-1")
            if request.scope["query_string"]
            else ""
        )
        record = Received(request.method, path, dict(request.headers), body)
        record.verdict = self._verdict(request, target, body)
        self.requests.append(record)
        if path in self.failing:
            return Response(b"nope", status_code=self.failing[path])
        if request.method == "POST":
            if isinstance(record.verdict, Rejected):
                return Response(b"bad signature", status_code=401)
            self.inbox.append(json.loads(body))
            return Response(status_code=202)
        if path in self.files:
            data, content_type = self.files[path]
            return Response(data, media_type=content_type)
        if path in self.objects:
            return JSONResponse(self.objects[path], media_type=AS_JSON)
        name = path.removeprefix("/users/")
        if path.startswith("/users/") and name in self.actors:
            return JSONResponse(self.actor_document(name), media_type=AS_JSON)
        return Response(b"not found", status_code=404)

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/{path:path}", self.endpoint, methods=["GET", "POST"])],
        )


@asynccontextmanager
async def running_peer(keypair: tuple[str, str]) -> AsyncIterator[Peer]:
    peer = Peer(private_pem=keypair[0], public_pem=keypair[1])
    async with serve_app(peer.app()) as base:
        peer.base = base
        yield peer
