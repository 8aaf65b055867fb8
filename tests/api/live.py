"""A real Tessera on a loopback port (uvicorn, lifespan on, workers running) for tests
that drive it with real client libraries, plus a browser-like sign-in and authorize.

The server runs in the test's event loop; synchronous clients (Mastodon.py) run in a
worker thread, so both make progress.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import uvicorn

from services.context import Services
from tests.conftest import make_config
from web.app import create_app

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Live:
    base: str
    services: Services


@asynccontextmanager
async def live_server(folder: Path, template_db: Path) -> AsyncIterator[Live]:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(template_db, folder / "tessera.db")
    port = free_port()
    config = make_config(folder, instance={"domain": f"127.0.0.1:{port}"})
    services = Services.from_config(config)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, services=services),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield Live(f"http://127.0.0.1:{port}", services)
    finally:
        server.should_exit = True
        await task


def browser_authorize(authorize_url: str, username: str, password: str) -> str:
    """Follow an authorization URL like a person in a browser: sign in through the web
    form, press Authorize, and return the ``code`` from the redirect (sync, for threads)."""
    parts = urlsplit(authorize_url)
    base = f"{parts.scheme}://{parts.netloc}"
    with httpx.Client(base_url=base, timeout=30) as browser:
        first = browser.get(authorize_url)
        assert first.status_code == 303 and first.headers["location"].startswith("/login?next=")
        login = browser.get(first.headers["location"])
        fields = {
            "csrf_token": CSRF_RE.search(login.text).group(1),  # type: ignore[union-attr]
            "next": re.search(r'name="next" value="([^"]+)"', login.text)
            .group(1)
            .replace("&amp;", "&"),  # type: ignore[union-attr]
            "username": username,
            "password": password,
        }
        signed = browser.post("/login", data=fields)
        assert signed.status_code == 303, signed.text
        page = browser.get(signed.headers["location"])
        assert page.status_code == 200 and "Authorize" in page.text, page.text
        form = {k: v.replace("&amp;", "&") for k, v in HIDDEN_RE.findall(page.text)}
        form["csrf_token"] = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
        done = browser.post("/oauth/authorize", data={**form, "decision": "authorize"})
        assert done.status_code == 302, done.text
        return parse_qs(urlsplit(done.headers["location"]).query)["code"][0]
