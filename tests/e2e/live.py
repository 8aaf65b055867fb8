"""Real Tessera instances on loopback ports, in the test's event loop.

Each instance is the production app (``web.app.create_app``) served by uvicorn with its
lifespan on, so its background workers (inbox processing, delivery) run for real.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import uvicorn

from services.context import Services
from tests.conftest import make_config
from web.app import create_app

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Instance:
    base: str
    services: Services
    server: uvicorn.Server

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, timeout=30)


@asynccontextmanager
async def live_instance(folder: Path, template_db: Path) -> AsyncIterator[Instance]:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(template_db, folder / "tessera.db")
    port = free_port()
    config = make_config(folder, instance={"domain": f"127.0.0.1:{port}"})
    services = Services.from_config(config)
    app = create_app(config, services=services)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield Instance(f"http://127.0.0.1:{port}", services, server)
    finally:
        server.should_exit = True
        await task


async def csrf(client: httpx.AsyncClient, path: str = "/login") -> str:
    response = await client.get(path)
    match = CSRF_RE.search(response.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


async def signed_in(instance: Instance, name: str, password: str) -> httpx.AsyncClient:
    client = instance.browser()
    token = await csrf(client)
    response = await client.post(
        "/login", data={"username": name, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return client


async def eventually(check: Callable[[], Awaitable[T | None]], *, attempts: int = 1200) -> T:
    """Poll until ``check`` returns something truthy (workers run in the background)."""
    for _ in range(attempts):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")
