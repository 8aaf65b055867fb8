"""OAuth 2 through HTTP: registering an app, the authorization page with a signed-in web
session and CSRF, the code flow with and without PKCE, client credentials, refresh,
revocation, the metadata document and the authorized-apps settings page."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlmodel import select

from services.context import Services
from storage.oauth_models import OAuthCode, OAuthToken
from tests.api.conftest import PASSWORD, bearer, snapshot
from tests.api.schemas import (
    ACCOUNT,
    APPLICATION,
    CREDENTIAL_APPLICATION,
    ERROR,
    TOKEN,
    check,
)
from tests.conftest import CSRF_RE, sign_in

CALLBACK = "https://app.example/callback"


async def register(client: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    data = {
        "client_name": "Test App",
        "redirect_uris": f"{CALLBACK}\nurn:ietf:wg:oauth:2.0:oob",
        "scopes": "read write follow",
        "website": "https://app.example",
        **extra,
    }
    response = await client.post("/api/v1/apps", data=data)
    assert response.status_code == 200, response.text
    return check(CREDENTIAL_APPLICATION, response.json())  # type: ignore[no-any-return]


def authorize_params(app: dict[str, Any], **extra: str) -> dict[str, str]:
    return {
        "client_id": app["client_id"],
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": "read write",
        "state": "s-123",
        **extra,
    }


async def authorize(
    client: httpx.AsyncClient, app: dict[str, Any], decision: str = "authorize", **extra: str
) -> httpx.Response:
    """Open the authorization page as the signed-in browser, then press a button."""
    page = await client.get("/oauth/authorize", params=authorize_params(app, **extra))
    assert page.status_code == 200, page.text
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    assert CSRF_RE.search(page.text)
    return await client.post("/oauth/authorize", data={**form, "decision": decision})


def code_from(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["s-123"]
    return query["code"][0]


async def exchange(client: httpx.AsyncClient, app: dict[str, Any], code: str, **extra: str):  # type: ignore[no-untyped-def]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "redirect_uri": CALLBACK,
        **extra,
    }
    return await client.post("/oauth/token", data={k: v for k, v in data.items() if v is not None})


async def test_code_flow_gives_a_token_for_the_signed_in_user(
    client: httpx.AsyncClient, alice: Any, services: Services
) -> None:
    app = await register(client)
    assert app["scopes"] == ["read", "write", "follow"]
    assert app["redirect_uris"] == [CALLBACK, "urn:ietf:wg:oauth:2.0:oob"]
    page = await client.get("/oauth/authorize", params=authorize_params(app))
    assert page.status_code == 200
    assert "Test App" in page.text and "@alice" in page.text and "read" in page.text
    # the app's redirect target is allowed as a form action on this page only
    assert "form-action 'self' https://app.example" in page.headers["content-security-policy"]

    code = code_from(await authorize(client, app))
    response = await exchange(client, app, code)
    assert response.status_code == 200, response.text
    token = check(TOKEN, response.json())
    assert token["scope"] == "read write" and token["refresh_token"]

    me = await client.get(
        "/api/v1/accounts/verify_credentials", headers=bearer(token["access_token"])
    )
    assert me.status_code == 200 and check(ACCOUNT, me.json())["username"] == "alice"

    # stored hashed only; the code was single use
    async with services.db.session() as session:
        rows = (await session.exec(select(OAuthToken))).all()
        assert [r.token_hash for r in rows] == [
            hashlib.sha256(token["access_token"].encode()).hexdigest()
        ]
        assert (await session.exec(select(OAuthCode))).all() == []
    again = await exchange(client, app, code)
    assert again.status_code == 400 and check(ERROR, again.json())["error"] == "invalid_grant"


async def test_signed_out_visitor_is_sent_to_sign_in_and_back(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    await make_user("alice", PASSWORD)
    app = await register(client)
    first = await client.get("/oauth/authorize", params=authorize_params(app))
    assert first.status_code == 303
    login_url = first.headers["location"]
    assert login_url.startswith("/login?next=%2Foauth%2Fauthorize%3F")
    form = await client.get(login_url)
    token = CSRF_RE.search(form.text).group(1)  # type: ignore[union-attr]
    next_value = re.search(r'name="next" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    signed = await client.post(
        "/login",
        data={
            "username": "alice",
            "password": PASSWORD,
            "csrf_token": token,
            "next": next_value.replace("&amp;", "&"),
        },
    )
    assert signed.status_code == 303 and signed.headers["location"].startswith("/oauth/authorize?")
    page = await client.get(signed.headers["location"])
    assert page.status_code == 200 and "Authorize" in page.text


async def test_pkce_public_client(client: httpx.AsyncClient, alice: Any) -> None:
    app = await register(client)
    verifier = "v" * 20 + "-._~" + "x" * 30
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    code = code_from(
        await authorize(client, app, code_challenge=challenge, code_challenge_method="S256")
    )
    public = {"client_secret": None}
    missing = await exchange(client, app, code, **public)  # type: ignore[arg-type]
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_grant"
    wrong = await exchange(client, app, code, code_verifier="w" * 50, **public)  # type: ignore[arg-type]
    assert wrong.status_code == 400
    right = await exchange(client, app, code, code_verifier=verifier, **public)  # type: ignore[arg-type]
    assert right.status_code == 200, right.text
    plain = await client.get(
        "/oauth/authorize",
        params=authorize_params(app, code_challenge=challenge, code_challenge_method="plain"),
    )
    assert plain.status_code == 302 and "error=invalid_request" in plain.headers["location"]


async def test_redirect_uri_must_match_exactly(client: httpx.AsyncClient, alice: Any) -> None:
    app = await register(client)
    for uri in (CALLBACK + "/evil", "https://app.example/callbac", "https://evil.example/callback"):
        page = await client.get("/oauth/authorize", params=authorize_params(app, redirect_uri=uri))
        assert page.status_code == 400 and "location" not in page.headers
        assert "redirect URI" in page.text
    code = code_from(await authorize(client, app))
    other = await exchange(client, app, code, redirect_uri="urn:ietf:wg:oauth:2.0:oob")
    assert other.status_code == 400 and other.json()["error"] == "invalid_grant"


async def test_deny_and_out_of_band(client: httpx.AsyncClient, alice: Any) -> None:
    app = await register(client)
    denied = await authorize(client, app, decision="deny")
    assert denied.status_code == 302
    query = parse_qs(urlsplit(denied.headers["location"]).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["s-123"]
    shown = await authorize(client, app, redirect_uri="urn:ietf:wg:oauth:2.0:oob")
    assert shown.status_code == 200
    code = re.search(r'id="oauth-code"[^>]*value="([^"]+)"', shown.text).group(1)  # type: ignore[union-attr]
    token = await exchange(client, app, code, redirect_uri="urn:ietf:wg:oauth:2.0:oob")
    assert token.status_code == 200, token.text


async def test_authorize_post_needs_csrf_and_creates_nothing_without_it(
    client: httpx.AsyncClient, alice: Any, services: Services
) -> None:
    app = await register(client)
    response = await client.post(
        "/oauth/authorize", data={**authorize_params(app), "decision": "authorize"}
    )
    assert response.status_code == 403
    async with services.db.session() as session:
        assert (await session.exec(select(OAuthCode))).all() == []


async def test_scopes_are_checked_at_every_step(client: httpx.AsyncClient, alice: Any) -> None:
    bad = await client.post(
        "/api/v1/apps",
        data={"client_name": "x", "redirect_uris": CALLBACK, "scopes": "read wrte"},
    )
    assert bad.status_code == 422 and "wrte" in bad.json()["error"]
    app = await register(client, scopes="read")
    wider = await client.get("/oauth/authorize", params=authorize_params(app, scope="read write"))
    assert wider.status_code == 302 and "error=invalid_scope" in wider.headers["location"]
    granular = code_from(await authorize(client, app, scope="read:statuses"))
    token = (await exchange(client, app, granular)).json()["access_token"]
    timeline = await client.get("/api/v1/timelines/home", headers=bearer(token))
    assert timeline.status_code == 200
    me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token))
    assert me.status_code == 403 and check(ERROR, me.json())


async def test_client_credentials_refresh_and_revoke(
    client: httpx.AsyncClient, alice: Any, services: Services
) -> None:
    app = await register(client)
    creds = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    app_token = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials", **creds}
    )
    assert app_token.status_code == 200
    app_bearer = bearer(app_token.json()["access_token"])
    verified = await client.get("/api/v1/apps/verify_credentials", headers=app_bearer)
    assert check(APPLICATION, verified.json())["name"] == "Test App"
    no_user = await client.get("/api/v1/timelines/home", headers=app_bearer)
    assert no_user.status_code == 422

    wrong = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": "nope",
        },
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"

    first = (await exchange(client, app, code_from(await authorize(client, app)))).json()
    used = await client.get(  # resolved once, so the refresh must end a remembered token
        "/api/v1/accounts/verify_credentials", headers=bearer(first["access_token"])
    )
    assert used.status_code == 200
    refreshed = await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"], **creds},
    )
    assert refreshed.status_code == 200
    second = check(TOKEN, refreshed.json())
    old = await client.get(
        "/api/v1/accounts/verify_credentials", headers=bearer(first["access_token"])
    )
    assert old.status_code == 401
    new = await client.get(
        "/api/v1/accounts/verify_credentials", headers=bearer(second["access_token"])
    )
    assert new.status_code == 200

    other = await register(client, client_name="Other")
    foreign = await client.post(
        "/oauth/revoke",
        data={
            "token": second["access_token"],
            "client_id": other["client_id"],
            "client_secret": other["client_secret"],
        },
    )
    assert foreign.status_code == 403
    before = await snapshot(services)
    revoked = await client.post("/oauth/revoke", data={"token": second["access_token"], **creds})
    assert revoked.status_code == 200 and revoked.json() == {}
    assert await snapshot(services) == before  # revoking marks the row, it deletes nothing
    gone = await client.get(
        "/api/v1/accounts/verify_credentials", headers=bearer(second["access_token"])
    )
    assert gone.status_code == 401
    twice = await client.post("/oauth/revoke", data={"token": second["access_token"], **creds})
    assert twice.status_code == 200


async def test_basic_authentication_at_the_token_endpoint(
    client: httpx.AsyncClient, alice: Any
) -> None:
    app = await register(client)
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "read"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200 and response.json()["scope"] == "read"


async def test_authorization_server_metadata(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert doc["authorization_endpoint"] == "http://gallery.test/oauth/authorize"
    assert doc["token_endpoint"] == "http://gallery.test/oauth/token"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert {"authorization_code", "client_credentials", "refresh_token"} <= set(
        doc["grant_types_supported"]
    )
    assert {"read", "write:media", "admin:read"} <= set(doc["scopes_supported"])


async def test_settings_page_lists_and_revokes_apps(client: httpx.AsyncClient, alice: Any) -> None:
    app = await register(client)
    token = (await exchange(client, app, code_from(await authorize(client, app)))).json()
    before = await client.get(
        "/api/v1/accounts/verify_credentials", headers=bearer(token["access_token"])
    )
    assert before.status_code == 200  # resolved, and so remembered, before the revoke
    page = await client.get("/settings/apps")
    assert page.status_code == 200 and "Test App" in page.text
    action = re.search(r'action="(/settings/apps/\d+/revoke)"', page.text).group(1)  # type: ignore[union-attr]
    csrf = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
    done = await client.post(action, data={"csrf_token": csrf})
    assert done.status_code == 200 and "No app has access" in done.text
    after = await client.get(
        "/api/v1/accounts/verify_credentials", headers=bearer(token["access_token"])
    )
    assert after.status_code == 401
    settings = await client.get("/settings")
    assert 'href="/settings/apps"' in settings.text


async def test_another_person_cannot_use_the_settings_revoke(
    client: httpx.AsyncClient, make_user: Any
) -> None:
    await make_user("bob", PASSWORD)
    await sign_in(client, "bob", PASSWORD)
    page = await client.get("/settings/apps")
    csrf = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
    response = await client.post("/settings/apps/12345/revoke", data={"csrf_token": csrf})
    assert response.status_code == 404
