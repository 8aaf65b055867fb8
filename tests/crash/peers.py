"""Slow fake peers for the crash tests, built on ``tests.outbox.peers.FakePeer``.

The inherited inbox verifies every POST's HTTP signature the way a real server does
(fetching our actor's key over HTTP from the running Tessera) and records it. Here it
then answers slowly: it waits at a gate the test can close (so deliveries are held in
flight at a known moment) and sleeps ``delay`` seconds before the 202. ``holding`` and
``in_progress`` let the test wait for "a request is being held" and "the peer is idle"
instead of guessing with sleeps.

A peer's accounts also follow our users for real: :func:`send_follow` POSTs a Follow
signed with the peer's key, which our inbox verifies by fetching the peer's actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from starlette.requests import Request
from starlette.responses import Response

from federation.signatures import sign_request
from tests.outbox.peers import AS_JSON, FakePeer, peer_keypair, serve


def _open_gate() -> asyncio.Event:
    gate = asyncio.Event()
    gate.set()
    return gate


@dataclass
class SlowPeer(FakePeer):
    delay: float = 0.0
    gate: asyncio.Event = field(default_factory=_open_gate)
    in_progress: int = 0  # inbox requests being handled (verifying, held or sleeping)
    holding: int = 0  # of those, recorded and not yet answered

    async def _inbox(self, request: Request) -> Response:
        self.in_progress += 1
        try:
            try:
                response = await super()._inbox(request)  # verifies and records
            except httpx.TransportError:  # the key fetch met a server being killed
                return Response(status_code=503)  # nothing verified, nothing recorded
            self.holding += 1
            try:
                await self.gate.wait()
                await asyncio.sleep(self.delay)
            finally:
                self.holding -= 1
            return response
        finally:
            self.in_progress -= 1

    def arrivals(self) -> Counter[tuple[str, str]]:
        """How many times each (activity id, inbox URL) arrived with a valid signature."""
        return Counter(
            (str(r.activity.get("id")), f"{self.base}{r.path}")
            for r in self.received
            if r.authentic
        )


@contextlib.asynccontextmanager
async def slow_peer() -> AsyncIterator[SlowPeer]:
    peer = SlowPeer()
    async with serve(peer.app()) as base:
        peer.base = base
        yield peer


async def send_follow(
    client: httpx.AsyncClient, peer: FakePeer, name: str, target_actor: str
) -> httpx.Response:
    """``name`` on ``peer`` follows ``target_actor`` (an actor URL on our instance): a
    Follow signed as Mastodon signs, POSTed to the target's inbox."""
    actor = peer.actor_url(name)
    follow = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor}#follows/1",
        "type": "Follow",
        "actor": actor,
        "object": target_actor,
    }
    body = json.dumps(follow).encode()
    inbox = f"{target_actor}/inbox"
    headers = sign_request(
        "POST",
        inbox,
        {"Content-Type": AS_JSON},
        body,
        key_id=f"{actor}#main-key",
        private_key_pem=peer_keypair()[0],
    )
    return await client.post(inbox, content=body, headers=headers)
