"""Changing the password signs the account out everywhere else.

A password is changed because someone else may know it, so whatever that someone holds -
another browser's session, an API token, an authorization code not yet exchanged - stops
working at once; the browser that made the change stays signed in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlmodel import select

from services.api_tokens import create_script_token, issue_code, register_app
from services.context import Services
from storage.models import WebSession
from storage.oauth_models import OAuthToken
from tessera.config import Config
from tests.conftest import csrf_from, sign_in
from web.app import create_app

PASSWORD = "correct horse battery"
REDIRECT = "https://client.example/callback"


@pytest.fixture
async def other_browser(config: Config, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(config, services=services, run_workers=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=config.base_url) as client:
        yield client


async def signed_in(client: httpx.AsyncClient) -> bool:
    response = await client.get("/compose")
    return response.status_code == 200


async def change_password(client: httpx.AsyncClient, current: str, new: str) -> httpx.Response:
    token = await csrf_from(client, "/settings")
    return await client.post(
        "/settings/password",
        data={
            "csrf_token": token,
            "current_password": current,
            "new_password": new,
            "new_password_confirm": new,
        },
    )


async def test_other_sessions_and_tokens_end(
    client: httpx.AsyncClient,
    other_browser: httpx.AsyncClient,
    services: Services,
    alice: Any,
    make_user: Any,
) -> None:
    assert (await sign_in(other_browser, "alice", PASSWORD)).status_code == 303
    token = await create_script_token(services, "alice", scopes="read")
    bob = await make_user("bob", "bob's password")
    bob_token = await create_script_token(services, "bob", scopes="read")
    app = await register_app(
        services, name="a client", redirect_uris=[REDIRECT], scopes="read", website=None
    )
    code = await issue_code(
        services,
        app.app,
        alice,
        redirect_uri=REDIRECT,
        scopes=("read",),
        challenge=None,
        method=None,
    )
    api = "/api/v1/accounts/verify_credentials"
    assert (await client.get(api, headers={"Authorization": f"Bearer {token}"})).status_code == 200
    assert await signed_in(other_browser)

    wrong = await change_password(client, "not my password", "a brand new password")
    assert wrong.status_code == 422
    assert await signed_in(other_browser)  # a refused change ends nothing

    changed = await change_password(client, PASSWORD, "a brand new password")
    assert changed.status_code == 200 and "Password changed" in changed.text
    assert await signed_in(client)
    assert not await signed_in(other_browser)
    gone = await client.get(api, headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 401
    kept = await client.get(api, headers={"Authorization": f"Bearer {bob_token}"})
    assert kept.status_code == 200  # other people's tokens are untouched
    exchange = await client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app.app.client_id,
            "client_secret": app.client_secret,
            "redirect_uri": REDIRECT,
        },
    )
    assert exchange.status_code == 400 and exchange.json()["error"] == "invalid_grant"
    async with services.db.session() as session:
        sessions = (await session.exec(select(WebSession))).all()
        tokens = (await session.exec(select(OAuthToken))).all()
    assert [s.actor_id for s in sessions] == [alice.id]
    live = {t.actor_id: t.revoked_at is None for t in tokens}
    assert live == {alice.id: False, bob.id: True}
    assert (await sign_in(other_browser, "alice", "a brand new password")).status_code == 303
