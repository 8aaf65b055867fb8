"""Fixtures for the mention, profile-update and authorized-fetch tests.

Mentions and profile updates need Tessera listening on a real port (the fake peer fetches
our actors' keys to verify what we deliver), so the outbox tests' fixtures are reused. The
peer here adds WebFinger to the outbox tests' verifying peer, so that a mention of an
account we have never seen can be resolved the way a real one is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.outbox import conftest as outbox
from tests.outbox.peers import AS_JSON, FakeClock, FakePeer, serve

# The outbox tests' fixtures: Tessera on a real port, its clock and the delivery worker.
tessera_socket = outbox.tessera_socket
config_overrides = outbox.config_overrides
clock = outbox.clock
tessera = outbox.tessera
worker = outbox.worker


@dataclass
class WebfingerPeer(FakePeer):
    """The outbox tests' peer (verifying inboxes, actor documents) with WebFinger for the
    names in ``known`` (lower case); other names are 404, as on a real server."""

    known: set[str] = field(default_factory=set)
    webfinger_hits: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        base = super().app()
        return Starlette(routes=[*base.routes, Route("/.well-known/webfinger", self._webfinger)])

    async def _webfinger(self, request: Request) -> Response:
        resource = unquote(request.query_params.get("resource", ""))
        self.webfinger_hits.append(resource)
        typed, _, domain = resource.removeprefix("acct:").partition("@")
        name = typed.lower()  # handles are case-insensitive, as on Mastodon
        if domain != self.host or name not in self.known:
            return JSONResponse({"error": "Not found"}, status_code=404)
        jrd = {
            "subject": f"acct:{name}@{self.host}",
            "links": [{"rel": "self", "type": AS_JSON, "href": self.actor_url(name)}],
        }
        return JSONResponse(jrd, media_type="application/jrd+json")


@asynccontextmanager
async def webfinger_peer(clock: FakeClock) -> AsyncIterator[WebfingerPeer]:
    peer = WebfingerPeer(clock=clock)
    async with serve(peer.app()) as base:
        peer.base = base
        yield peer


@pytest.fixture
async def peer(tessera: str, clock: FakeClock) -> AsyncIterator[WebfingerPeer]:
    async with webfinger_peer(clock) as remote:
        yield remote
