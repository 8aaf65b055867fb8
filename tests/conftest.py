"""Shared fixtures: a real SQLite file per test, the real app over HTTP (httpx ASGI)."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.context import Services
from storage.db import Database
from storage.migrate import upgrade
from tessera.config import Config, config_from_dict
from web.app import create_app

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_config(base: Path, **sections: dict[str, Any]) -> Config:
    raw: dict[str, Any] = {
        "instance": {"domain": "gallery.test", "scheme": "http", "registrations": "open"},
        "database": {"url": "sqlite+aiosqlite:///tessera.db"},
        "media": {"root": "media"},
        "server": {"secret_key_file": "secret.key"},
        "federation": {"allow_private_addresses": True},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return config_from_dict(raw, base=base)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database, copied for each test (migrating per test would be slow)."""
    import asyncio

    path = tmp_path_factory.mktemp("template") / "tessera.db"

    async def go() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade(db)
        await db.dispose()

    asyncio.run(go())
    return path


@pytest.fixture
def config_overrides() -> dict[str, dict[str, Any]]:
    return {}


@pytest.fixture
def config(tmp_path: Path, migrated_template: Path, config_overrides: dict[str, Any]) -> Config:
    shutil.copy(migrated_template, tmp_path / "tessera.db")
    return make_config(tmp_path, **config_overrides)


@pytest.fixture
async def services(config: Config) -> AsyncIterator[Services]:
    svc = Services.from_config(config)
    yield svc
    await svc.close()


@pytest.fixture
async def client(config: Config, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config, services=services, run_workers=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=config.base_url) as c:
        yield c


async def csrf_from(client: httpx.AsyncClient, path: str) -> str:
    response = await client.get(path)
    match = CSRF_RE.search(response.text)
    assert match, f"no CSRF token on {path} ({response.status_code})"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    token = await csrf_from(client, "/login")
    return await client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


@pytest.fixture
def make_user(services: Services) -> Callable[..., Any]:
    from services.accounts import create_user

    async def _make(name: str = "alice", password: str = "correct horse battery", **kw: Any):  # type: ignore[no-untyped-def]
        actor, _user = await create_user(services, name, password, **kw)
        return actor

    return _make


@pytest.fixture
async def alice(client: httpx.AsyncClient, make_user: Callable[..., Any]) -> Any:
    """A signed-in local user on ``client``."""
    actor = await make_user("alice", "correct horse battery")
    response = await sign_in(client, "alice", "correct horse battery")
    assert response.status_code == 303, response.text
    return actor


@pytest.fixture
def handoffs(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Counts the calls that go to an SQLite connection's thread, by the function they run
    (``storage.sqlite_driver``): what a test of reads on the event loop's thread checks."""
    from collections import Counter

    from storage import sqlite_driver

    seen: Counter[str] = Counter()
    original = sqlite_driver.Connection._execute

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen[getattr(fn, "__name__", repr(fn))] += 1
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(sqlite_driver.Connection, "_execute", counted)
    return seen
