"""Interop with a third-party ActivityPub implementation: a small server built on Fedify
(npm ``@fedify/fedify`` 2.3.6, run by Node 22 from the peer folder, ``fedify_peer/peer.mjs``)
and a live Tessera, talking over loopback through WebFinger, signed fetches and signed
deliveries in both directions.

The peer follows alice and gets the Accept, receives her image post with its attachment,
likes and boosts it; alice follows the peer (it accepts) and receives its post in her home
timeline. Where the peer's packages are not installed (``npm ci --prefix
tests/interop/fedify_peer``) the test skips; ``.ci/run`` installs them and sets
``TESSERA_REQUIRE_INTEROP=1``, which turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlmodel import select

from services.accounts import create_user
from storage.federation_models import InboxItem
from storage.models import Actor, Follow, MediaAttachment, Post
from tests.e2e.live import Instance, csrf, eventually, free_port, live_instance, signed_in
from tests.imagegen import png_bytes
from tests.web.helpers import publish

PEER_DIR = Path(__file__).resolve().parent / "fedify_peer"
NODE = PEER_DIR / "node_modules" / "node" / "bin" / "node"
PASSWORD = "correct horse battery"
ALT = "a red lighthouse at dusk"
PEER_ALT = "a green field under a Fedify sky"
T = TypeVar("T")


def require_peer() -> None:
    """Skip (or fail, under TESSERA_REQUIRE_INTEROP=1) when the peer is not installed."""
    missing = [
        str(p.relative_to(PEER_DIR))
        for p in (NODE, PEER_DIR / "node_modules" / "@fedify" / "fedify")
        if not p.exists()
    ]
    if not missing:
        return
    reason = (
        f"the Fedify peer is not installed ({', '.join(missing)} missing): "
        "run `npm ci --prefix tests/interop/fedify_peer`"
    )
    if os.environ.get("TESSERA_REQUIRE_INTEROP") == "1":
        pytest.fail(reason + "; TESSERA_REQUIRE_INTEROP=1 makes it required")
    pytest.skip(reason)


@dataclass
class Peer:
    base: str
    http: httpx.AsyncClient
    log: Path

    @property
    def actor(self) -> str:
        return f"{self.base}/users/fedi"

    async def do(self, **command: str) -> str:
        response = await self.http.post("/_do", json=command)
        assert response.status_code == 200, f"{command}: {response.text}\n{self.log_tail()}"
        return str(response.json()["id"])

    async def received(self, kind: str) -> list[dict[str, Any]]:
        items = (await self.http.get("/_received")).json()
        return [item for item in items if item["type"] == kind]

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


@contextlib.asynccontextmanager
async def fedify_peer(folder: Path) -> AsyncIterator[Peer]:
    """Start ``peer.mjs`` on a free port and wait until it answers; always kill it."""
    port = free_port()
    log = folder / "fedify-peer.log"
    folder.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(NODE), "peer.mjs", str(port), cwd=PEER_DIR, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    http = httpx.AsyncClient(base_url=base, timeout=60)
    peer = Peer(base, http, log)
    try:
        for _ in range(600):
            if process.returncode is not None:
                raise AssertionError(f"the Fedify peer exited:\n{peer.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/_received")).status_code == 200:
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the Fedify peer never answered:\n{peer.log_tail()}")
        yield peer
    finally:
        await http.aclose()
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def inbox_summary(tessera: Instance) -> str:
    async with tessera.services.db.session() as session:
        items = (await session.exec(select(InboxItem).order_by(InboxItem.received_at))).all()
    return "\n".join(
        f"{i.activity_type} {i.activity_id} {i.state} {i.last_error or ''}" for i in items
    )


async def patiently(
    check: Callable[[], Awaitable[T | None]], what: str, tessera: Instance, peer: Peer
) -> T:
    """``eventually`` with room for both servers' background queues; when it never
    happens, the message shows Tessera's inbox and the peer's log."""
    try:
        return await eventually(check, attempts=1200)
    except AssertionError:
        raise AssertionError(
            f"{what} never happened.\nTessera's inbox:\n{await inbox_summary(tessera)}\n"
            f"Fedify peer log:\n{peer.log_tail()}"
        ) from None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def href(value: Any) -> str:
    return str(value.get("href") if isinstance(value, dict) else value)


async def test_fedify_peer_federates_with_tessera(tmp_path: Path, migrated_template: Path) -> None:
    require_peer()
    async with (
        live_instance(tmp_path / "tessera", migrated_template) as tessera,
        fedify_peer(tmp_path / "peer") as peer,
    ):
        alice_actor, _user = await create_user(tessera.services, "alice", PASSWORD)
        alice = await signed_in(tessera, "alice", PASSWORD)
        alice_url = alice_actor.ap_id

        # (1) the peer follows alice; Tessera answers with Accept
        follow_id = await peer.do(follow=alice_url)

        async def accepted() -> list[dict[str, Any]] | None:
            return await peer.received("Accept") or None

        accept = (await patiently(accepted, "Accept of the peer's Follow", tessera, peer))[0]
        assert accept["actor"] == alice_url
        inner = accept["json"]["object"]
        assert (inner if isinstance(inner, str) else inner["id"]) == follow_id

        # (2) alice posts an image; the peer receives Create{Note} with the Document
        posted = await publish(
            alice,
            [("dusk.png", png_bytes(320, 240, seed=77))],
            alts=[ALT],
            caption="Lighthouse for the fediverse #interop",
        )
        assert posted.status_code == 303, posted.text

        async def created() -> list[dict[str, Any]] | None:
            return await peer.received("Create") or None

        create = (await patiently(created, "delivery of alice's post", tessera, peer))[0]
        assert create["actor"] == alice_url
        note = create["json"]["object"]
        assert note["type"] == "Note" and note["attributedTo"] == alice_url
        assert "Lighthouse for the fediverse" in note["content"]
        (attachment,) = as_list(note["attachment"])
        assert attachment["type"] == "Document" and attachment["name"] == ALT
        image = await peer.http.get(href(attachment["url"]))
        assert image.status_code == 200 and image.headers["content-type"].startswith("image/")

        # (3) the peer likes and boosts it; Tessera counts both and tells alice
        await peer.do(like=note["id"])
        await peer.do(announce=note["id"])

        async def counted() -> Post | None:
            async with tessera.services.db.session() as session:
                post = (await session.exec(select(Post).where(Post.ap_id == note["id"]))).one()
                return post if post.likes_count == 1 and post.boosts_count == 1 else None

        await patiently(counted, "the like and the boost", tessera, peer)
        notifications = (await alice.get("/notifications")).text
        for phrase in ("followed you", "liked your post", "boosted your post"):
            assert phrase in notifications, phrase

        # (4) alice finds the peer by WebFinger and follows it; the peer accepts
        handle = f"@fedi@{peer.base.removeprefix('http://')}"
        found = await alice.get("/search", params={"q": handle})
        assert found.status_code == 303 and found.headers["location"] == f"/{handle}"
        assert (await alice.get(f"/{handle}")).status_code == 200
        followed = await alice.post(
            f"/{handle}/follow", data={"csrf_token": await csrf(alice, "/")}
        )
        assert followed.status_code == 303

        async def follow_accepted() -> Follow | None:
            async with tessera.services.db.session() as session:
                row = (
                    await session.exec(
                        select(Follow)
                        .join(Actor, Actor.id == Follow.followee_id)  # type: ignore[arg-type]
                        .where(Actor.ap_id == peer.actor, Follow.follower_id == alice_actor.id)
                    )
                ).first()
                return row if row is not None and row.state == "accepted" else None

        await patiently(follow_accepted, "the peer's Accept of alice's Follow", tessera, peer)
        assert alice_url in (await peer.http.get("/_followers")).json()

        # (5) the peer posts an image; it reaches alice's home timeline, stored by Tessera
        await peer.do(
            post="Hello from Fedify, Tessera!",
            image=base64.b64encode(png_bytes(300, 200, seed=78)).decode(),
            alt=PEER_ALT,
        )

        async def in_home() -> str | None:
            page = (await alice.get("/home")).text
            return page if f'alt="{PEER_ALT}"' in page else None

        home = await patiently(in_home, "the peer's post in alice's home timeline", tessera, peer)
        async with tessera.services.db.session() as session:
            post = (await session.exec(select(Post).where(Post.local.is_(False)))).one()
            (media,) = (
                await session.exec(
                    select(MediaAttachment).where(MediaAttachment.post_id == post.id)
                )
            ).all()
        assert "Hello from Fedify, Tessera!" in post.content_html
        assert media.description == PEER_ALT and media.original_key, "stored locally"
        thumbs = re.findall(r'class="thumb" src="([^"]+)"', home)
        assert thumbs and all(url.startswith((tessera.base, "/")) for url in thumbs)
        assert (await alice.get(thumbs[0])).status_code == 200
