"""Fixtures for the home feed tests: a signed-in browser, a bearer token per account and a
fake Mastodon-like peer (real keys, real signatures) for remote posts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from services.api_tokens import create_script_token
from services.context import Services
from tests.inbox.peer import FakePeer, running_peer


@pytest.fixture
async def peer(services: Services) -> AsyncIterator[FakePeer]:
    async with running_peer("bob") as running:
        yield running
    await services.close()  # the transport inbox processing opened, before the loop ends


@pytest.fixture
def home_ids(
    client: httpx.AsyncClient, services: Services
) -> Callable[..., Awaitable[list[tuple[str, str | None]]]]:
    """The API home timeline of an account as (status id, reblogged status id) pairs."""

    async def _home(username: str, **params: Any) -> list[tuple[str, str | None]]:
        token = await create_script_token(services, username, scopes="read")
        response = await client.get(
            "/api/v1/timelines/home",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        return [(s["id"], (s["reblog"] or {}).get("id")) for s in response.json()]

    return _home
