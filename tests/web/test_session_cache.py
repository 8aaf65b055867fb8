"""Signed-in browsers: a session that resolved is kept for the page cache's seconds
(``services.token_cache``, ``web:`` keys), forgotten by any write this process answers,
and a grid page reads on the event loop's thread (``inline_page_reads``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from sqlalchemy import delete

from services.context import Services
from storage.models import WebSession
from tessera.config import Config
from tests.clocks import install
from tests.conftest import csrf_from
from web.app import create_app

SESSION_COOKIE = "tessera_session"


async def signed_in(client: httpx.AsyncClient) -> bool:
    return (await client.get("/compose")).status_code == 200


async def end_sessions_elsewhere(services: Services) -> None:
    """Sessions ended outside this process's requests (the CLI, another process)."""
    async with services.db.transaction() as session:
        await session.exec(delete(WebSession))  # type: ignore[call-overload]


async def test_a_session_ended_elsewhere_ends_within_the_ttl(
    client: httpx.AsyncClient, services: Services, alice: Any
) -> None:
    clock = install(services.token_cache, ttl=5)
    assert await signed_in(client)
    await end_sessions_elsewhere(services)
    clock.now += 4
    assert await signed_in(client)  # the resolution this process made still stands
    clock.now += 2
    assert not await signed_in(client)


async def test_signing_out_ends_the_session_at_once(
    client: httpx.AsyncClient, services: Services, alice: Any, config: Config
) -> None:
    install(services.token_cache, ttl=60)
    assert await signed_in(client)
    cookie = client.cookies[SESSION_COOKIE]
    token = await csrf_from(client, "/compose")
    assert (await client.post("/logout", data={"csrf_token": token})).status_code == 303
    # The old cookie, replayed by another browser, no longer signs anyone in.
    app = create_app(config, services=services, run_workers=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=config.base_url,
        cookies={SESSION_COOKIE: cookie},
    ) as replay:
        assert not await signed_in(replay)


async def test_a_signed_in_grid_page_reads_inline_but_its_unread_count(
    client: httpx.AsyncClient, services: Services, alice: Any, handoffs: Counter[str]
) -> None:
    install(services.token_cache, ttl=60)
    for path in ("/", "/home", "/tags/tide"):
        handoffs.clear()
        response = await client.get(path)
        assert response.status_code == 200, path
        assert 'action="/logout"' in response.text  # rendered for alice, not from a cache
        # The session (first request only), the page and its media: inline. The count of
        # unread notifications, which reads an index entry per notification: one hand-off.
        assert handoffs["_execute_and_fetch"] == 1, (path, handoffs)
