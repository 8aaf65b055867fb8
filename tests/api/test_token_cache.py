"""Resolved bearer tokens are kept for the page cache's seconds (``services.token_cache``):
a write through this process's API or pages forgets them at once, a change made elsewhere
shows within the TTL, and an unknown token is never remembered. Timeline reads run on the
event loop's thread (``endpoint(inline_reads=True)``).

Revoking a token through ``/oauth/revoke`` and the refresh grant's retiring of the old
token are covered in ``test_oauth.py``: both are writes, which empty the cache."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import httpx
from sqlmodel import select

from services.context import Services
from storage.models import LocalUser
from storage.oauth_models import OAuthToken
from tests.api.conftest import bearer, post_status
from tests.clocks import install

VERIFY = "/api/v1/accounts/verify_credentials"
HOME = "/api/v1/timelines/home"


async def revoke_elsewhere(services: Services, token: str) -> None:
    """Revoke a token outside this process's requests (the CLI, another process)."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    async with services.db.transaction() as session:
        row = (await session.exec(select(OAuthToken).where(OAuthToken.token_hash == digest))).one()
        row.revoked_at = services.clock()
        session.add(row)


async def test_a_change_elsewhere_shows_within_the_ttl(
    client: httpx.AsyncClient, services: Services, make_token: Any
) -> None:
    clock = install(services.token_cache, ttl=5)
    _actor, token = await make_token("alice")
    assert (await client.get(VERIFY, headers=bearer(token))).status_code == 200
    assert len(services.token_cache) == 1

    await revoke_elsewhere(services, token)
    clock.now += 4  # within the TTL: the resolution this process made still stands
    assert (await client.get(VERIFY, headers=bearer(token))).status_code == 200
    clock.now += 2  # past it: looked up again, and refused
    response = await client.get(VERIFY, headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == {"error": "The access token is invalid"}
    assert len(services.token_cache) == 0


async def test_a_disabled_account_is_refused_once_a_write_forgets_the_cache(
    client: httpx.AsyncClient, services: Services, make_token: Any
) -> None:
    install(services.token_cache, ttl=60)
    actor, token = await make_token("alice")
    _other, other_token = await make_token("bob")
    assert (await client.get(VERIFY, headers=bearer(token))).status_code == 200
    async with services.db.transaction() as session:
        user = (await session.exec(select(LocalUser).where(LocalUser.actor_id == actor.id))).one()
        user.disabled = True
        session.add(user)
    # Changed outside any request: the remembered resolution still stands...
    assert (await client.get(HOME, headers=bearer(token))).status_code == 200
    # ...until any write this process answers forgets every cached token (as the admin
    # pages' own disable does), so the next request looks the token up again.
    await post_status(client, other_token, "Meanwhile")
    response = await client.get(VERIFY, headers=bearer(token))
    assert response.status_code == 403
    assert response.json() == {"error": "Your login is currently disabled"}


async def test_an_unknown_token_is_not_remembered(
    client: httpx.AsyncClient, services: Services
) -> None:
    install(services.token_cache, ttl=60)
    for _ in range(2):
        response = await client.get(VERIFY, headers=bearer("not-a-token"))
        assert response.status_code == 401
    assert len(services.token_cache) == 0


async def test_a_home_timeline_page_reads_on_the_loops_thread(
    client: httpx.AsyncClient, services: Services, make_token: Any, handoffs: Counter[str]
) -> None:
    install(services.token_cache, ttl=60)
    services.entity_cache.ttl = 60
    _actor, token = await make_token("alice")
    await post_status(client, token, "Low tide")
    first = await client.get(HOME, headers=bearer(token))
    assert first.status_code == 200 and len(first.json()) == 1
    # The first page rendered the status: its lookups (media, counts) went to the thread.
    assert handoffs["_execute_and_fetch"] > 0
    handoffs.clear()
    again = await client.get(HOME, headers=bearer(token))
    assert again.json() == first.json()
    # Token, page and the viewer's marks: all read inline, nothing handed off.
    assert handoffs["_execute_and_fetch"] == 0, handoffs
    # A write through the API still goes to the thread.
    await post_status(client, token, "High tide")
    assert handoffs["_execute_and_fetch"] > 0
