"""The workers running for real: inside the server's lifespan, and as ``tessera worker``.

These wait for a delivery to arrive (with a generous deadline) instead of stepping the
worker by hand; nothing here measures time."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from services.context import Services
from storage.ids import new_id
from storage.models import Actor, Follow
from tessera.config import Config
from tests.imagegen import png_bytes
from tests.outbox.conftest import deliveries, insert
from tests.outbox.peers import FakePeer, serve
from tests.web.helpers import publish
from web.app import create_app

DEADLINE = 30.0


async def wait_for_delivery(peer: FakePeer, count: int = 1) -> None:
    async with asyncio.timeout(DEADLINE):
        while len(peer.received) < count:
            await asyncio.sleep(0.05)


async def follower_and_post(
    client: httpx.AsyncClient, services: Services, peer: FakePeer, alice: Actor
) -> None:
    bob = peer.actor_row("bob")
    follow = Follow(id=new_id(), follower_id=bob.id, followee_id=alice.id, state="accepted")
    await insert(services, bob, follow)
    response = await publish(client, [("a.png", png_bytes(40, 40))])
    assert response.status_code == 303


async def test_the_server_lifespan_runs_the_delivery_loop(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    config: Config,
    peer: FakePeer,
    tessera: str,
) -> None:
    await follower_and_post(client, services, peer, alice)
    # a second server process on the same database, with its workers on (the default)
    async with serve(create_app(config, services=services), lifespan="on"):
        await wait_for_delivery(peer)
    [received] = peer.received
    assert received.authentic and received.activity["type"] == "Create"
    assert [d.state for d in await deliveries(services)] == ["delivered"]


def write_config(config: Config, path: Path) -> Path:
    """The test's configuration as a file, for a separate ``tessera`` process."""
    text = (
        f"[instance]\ndomain = '{config.instance.domain}'\nscheme = 'http'\n"
        f"[database]\nurl = '{config.database.url}'\n"
        f"[media]\nroot = '{config.media.root}'\n"
        f"[server]\nsecret_key_file = '{config.server.secret_key_file}'\n"
        "[federation]\nallow_private_addresses = true\n"
    )
    target = path / "config.toml"
    target.write_text(text)
    return target


async def test_tessera_worker_delivers_and_stops_on_sigterm(
    client: httpx.AsyncClient,
    alice: Actor,
    services: Services,
    config: Config,
    peer: FakePeer,
    tessera: str,
    tmp_path: Path,
) -> None:
    await follower_and_post(client, services, peer, alice)
    config_file = write_config(config, tmp_path)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tessera.cli",
        "--config",
        str(config_file),
        "worker",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        await wait_for_delivery(peer)
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(DEADLINE):
            stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    assert b"worker running" in stdout
    [received] = peer.received
    assert received.authentic and received.activity["type"] == "Create"
    assert [d.state for d in await deliveries(services)] == ["delivered"]
