"""Real servers on 127.0.0.1 for the outbox tests: Tessera itself, and fake remote peers.

A fake peer behaves like a strict remote server: it serves its actors' JSON (with its
own RSA key), and its inboxes verify every POST's HTTP signature the way a real server
does - by fetching the signing key over HTTP from *our* running Tessera - check that the
key belongs to the activity's actor, and record what arrived. Unsigned or badly signed
requests get 401. Tests may script the next answers (a 503 with Retry-After, a 410...).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urldefrag

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from federation.keys import generate_rsa_keypair
from federation.signatures import (
    Rejected,
    Verified,
    key_owner_matches,
    parse_signature,
    verify_parsed,
)
from storage.ids import new_id
from storage.models import Actor

AS_JSON = "application/activity+json"

_KEYS: list[tuple[str, str]] = []


def peer_keypair() -> tuple[str, str]:
    """One RSA key pair for every fake peer of the session (generating one costs time)."""
    if not _KEYS:
        _KEYS.append(generate_rsa_keypair())
    return _KEYS[0]


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handlers: pytest keeps Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serve(
    app: ASGIApp, sock: socket.socket | None = None, *, lifespan: str = "off"
) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on ``sock`` (or a fresh port); yields the base URL."""
    sock = sock or bound_socket()
    port = sock.getsockname()[1]
    server = _QuietServer(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)
        sock.close()


class FakeClock:
    """An injectable ``services.clock`` that tests move forward by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Received:
    """One POST as the peer saw it, with its own verdict on the signature."""

    path: str
    activity: dict[str, Any]
    verdict: Verified | Rejected
    owner_ok: bool
    status: int

    @property
    def authentic(self) -> bool:
        return isinstance(self.verdict, Verified) and self.owner_ok


@dataclass
class FakePeer:
    """A remote server. ``script`` holds answers to give before the default (202 when the
    signature verifies, 401 otherwise): ints or (status, headers) pairs."""

    base: str = ""
    received: list[Received] = field(default_factory=list)
    script: list[int | tuple[int, dict[str, str]]] = field(default_factory=list)
    always: int | None = None
    key_fetches: int = 0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """The peer's own time, for its signature time window: tests that move our clock
    forward move the peer's too (two servers agree on the time)."""
    on_request: Callable[[], object] | None = None
    """Called as each request arrives (the peer runs in the test's process, so a test can
    look at the sender's state while its request is in flight)."""

    @property
    def host(self) -> str:
        return self.base.removeprefix("http://")

    def actor_url(self, name: str) -> str:
        return f"{self.base}/users/{name}"

    def actor_row(self, name: str, *, shared: bool = True) -> Actor:
        """The row our database would hold after fetching this peer's actor."""
        public_pem = peer_keypair()[1]
        url = self.actor_url(name)
        return Actor(
            id=new_id(),
            username=name,
            username_lower=name.lower(),
            domain=self.host,
            ap_id=url,
            url=f"{self.base}/@{name}",
            inbox_url=f"{url}/inbox",
            shared_inbox_url=f"{self.base}/inbox" if shared else None,
            outbox_url=f"{url}/outbox",
            followers_url=f"{url}/followers",
            key_id=f"{url}#main-key",
            public_key_pem=public_pem,
        )

    def types(self) -> list[str]:
        return [r.activity.get("type", "") for r in self.received]

    def of_type(self, kind: str) -> list[Received]:
        return [r for r in self.received if r.activity.get("type") == kind]

    # -- the app ------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/users/{name}", self._actor, methods=["GET"]),
                Route("/users/{name}/inbox", self._inbox, methods=["POST"]),
                Route("/inbox", self._inbox, methods=["POST"]),
            ]
        )

    async def _actor(self, request: Request) -> Response:
        name = request.path_params["name"]
        url = self.actor_url(name)
        doc = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": url,
            "type": "Person",
            "preferredUsername": name,
            "inbox": f"{url}/inbox",
            "endpoints": {"sharedInbox": f"{self.base}/inbox"},
            "publicKey": {"id": f"{url}#main-key", "owner": url, "publicKeyPem": peer_keypair()[1]},
        }
        return JSONResponse(doc, media_type=AS_JSON)

    async def _fetch_key(self, key_id: str) -> tuple[str | None, str | None]:
        """(public key PEM, owner) fetched from the key's actor document, unsigned."""
        self.key_fetches += 1
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(urldefrag(key_id).url, headers={"accept": AS_JSON})
        if response.status_code != 200:
            return None, None
        key = response.json().get("publicKey") or {}
        return key.get("publicKeyPem"), key.get("owner")

    async def _inbox(self, request: Request) -> Response:
        if self.on_request is not None:
            self.on_request()
        body = await request.body()
        target = request.scope["raw_path"].decode("latin-1")
        parsed = parse_signature("POST", target, request.headers)
        try:
            activity = json.loads(body)
        except ValueError:
            activity = {}
        verdict: Verified | Rejected = parsed if isinstance(parsed, Rejected) else Rejected("")
        owner_ok = False
        if not isinstance(parsed, Rejected):
            pem, owner = await self._fetch_key(parsed.key_id)
            if pem is None:
                verdict = Rejected("key not found")
            else:
                verdict = verify_parsed(parsed, pem, body=body, now=self.clock())
                owner_ok = key_owner_matches(parsed.key_id, str(activity.get("actor")), owner)
        status, headers = 401, {}
        if isinstance(verdict, Verified) and owner_ok:
            status = 202
        if self.script:
            answer = self.script.pop(0)
            status, headers = answer if isinstance(answer, tuple) else (answer, {})
        elif self.always is not None:
            status = self.always
        self.received.append(Received(target, activity, verdict, owner_ok, status))
        return Response(status_code=status, headers=headers)


@contextlib.asynccontextmanager
async def fake_peer(clock: Callable[[], datetime] | None = None) -> AsyncIterator[FakePeer]:
    peer = FakePeer() if clock is None else FakePeer(clock=clock)
    async with serve(peer.app()) as base:
        peer.base = base
        yield peer
