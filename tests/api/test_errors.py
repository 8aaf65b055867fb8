"""Refusals: 401 without a valid token, 403 without the scope, 404 for unknown ids, 422
for invalid values, each with Mastodon's ``{"error": "..."}`` body, and none of them
changing a single row."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.context import Services
from tests.api.conftest import bearer, post_status, snapshot, upload
from tests.api.schemas import ERROR, check


async def expect(response: httpx.Response, status: int, words: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = check(ERROR, response.json())
    assert words.lower() in body["error"].lower(), body
    return body


async def test_missing_or_wrong_token_is_401(
    client: httpx.AsyncClient, make_token: Any, services: Services
) -> None:
    _, token = await make_token()
    before = await snapshot(services)
    for headers in ({}, bearer("not-a-token"), {"Authorization": "Basic abc"}):
        home = await client.get("/api/v1/timelines/home", headers=headers)
        await expect(home, 401, "access token")
        assert home.headers["www-authenticate"].startswith("Bearer")
        created = await client.post("/api/v1/statuses", headers=headers, data={"status": "x"})
        await expect(created, 401)
    # a public endpoint still refuses a bad token rather than ignoring it
    await expect(await client.get("/api/v1/timelines/public", headers=bearer("nope")), 401)
    assert await snapshot(services) == before
    assert (await client.get("/api/v1/timelines/home", headers=bearer(token))).status_code == 200


@pytest.mark.parametrize(
    ("scopes", "method", "path", "data"),
    [
        ("read", "post", "/api/v1/statuses", {"status": "x"}),
        ("read", "post", "/api/v2/media", {}),
        ("write", "get", "/api/v1/timelines/home", None),
        ("read:statuses", "get", "/api/v1/notifications", None),
        ("write:media", "post", "/api/v1/statuses", {"status": "x"}),
        ("profile", "get", "/api/v1/accounts/relationships", None),
        ("read", "patch", "/api/v1/accounts/update_credentials", {"display_name": "x"}),
    ],
)
async def test_missing_scope_is_403(
    client: httpx.AsyncClient,
    make_token: Any,
    services: Services,
    scopes: str,
    method: str,
    path: str,
    data: dict[str, str] | None,
) -> None:
    _, token = await make_token(scopes=scopes)
    before = await snapshot(services)
    kwargs: dict[str, Any] = {"headers": bearer(token)}
    if data is not None:
        kwargs["data"] = data
    response = await getattr(client, method)(path, **kwargs)
    await expect(response, 403, "scope")
    assert await snapshot(services) == before


async def test_granular_and_follow_scopes_are_enough(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    alice_actor, _ = await make_token("alice")
    _, token = await make_token("bob", scopes="follow read:accounts")
    followed = await client.post(f"/api/v1/accounts/{alice_actor.id}/follow", headers=bearer(token))
    assert followed.status_code == 200
    _, profile = await make_token("carol", scopes="profile")
    me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(profile))
    assert me.status_code == 200


async def test_unknown_ids_are_404(
    client: httpx.AsyncClient, make_token: Any, services: Services
) -> None:
    _, token = await make_token()
    status = await post_status(client, token)
    before = await snapshot(services)
    auth = bearer(token)
    for method, path in [
        ("get", "/api/v1/statuses/999"),
        ("get", "/api/v1/statuses/not-a-number"),
        ("put", "/api/v1/statuses/999"),
        ("delete", "/api/v1/statuses/999"),
        ("post", "/api/v1/statuses/999/favourite"),
        ("post", "/api/v1/statuses/999/reblog"),
        ("post", "/api/v1/statuses/999/bookmark"),
        ("get", "/api/v1/statuses/999/context"),
        ("get", "/api/v1/accounts/999"),
        ("post", "/api/v1/accounts/999/follow"),
        ("get", "/api/v1/accounts/999/statuses"),
        ("get", "/api/v1/media/999"),
        ("put", "/api/v1/media/999"),
        ("get", "/api/v1/notifications/999"),
        ("post", "/api/v1/notifications/999/dismiss"),
        ("post", "/api/v1/follow_requests/999/authorize"),
        ("get", "/api/v1/accounts/lookup?acct=nobody"),
    ]:
        await expect(await getattr(client, method)(path, headers=auth), 404, "not found")
    _, other = await make_token("mallory")
    for method, path in [
        ("delete", f"/api/v1/statuses/{status['id']}"),
        ("put", f"/api/v1/statuses/{status['id']}"),
        ("get", f"/api/v1/media/{status['media_attachments'][0]['id']}"),
    ]:
        await expect(await getattr(client, method)(path, headers=bearer(other)), 404)
    after = await snapshot(services)
    assert {k: v for k, v in after.items() if k not in ("oauth_app", "oauth_token")} == {
        k: v for k, v in before.items() if k not in ("oauth_app", "oauth_token")
    }


async def test_invalid_values_are_422_and_change_nothing(
    client: httpx.AsyncClient, make_token: Any, services: Services
) -> None:
    _, token = await make_token()
    _, other = await make_token("mallory")
    mine = await upload(client, token, seed=1)
    theirs = await upload(client, other, seed=2)
    auth = bearer(token)
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        (
            "post",
            "/api/v1/statuses",
            {"data": {"status": "x", "media_ids[]": [mine["id"]], "visibility": "bogus"}},
            "visibility",
        ),
        (
            "post",
            "/api/v1/statuses",
            {"data": {"status": "x", "media_ids[]": [mine["id"]], "visibility": "direct"}},
            "direct",
        ),
        (
            "post",
            "/api/v1/statuses",
            {"data": {"status": "x", "media_ids[]": [theirs["id"]]}},
            "not an upload of yours",
        ),
        ("post", "/api/v1/statuses", {"data": {"status": "no image"}}, "at least one image"),
        (
            "post",
            "/api/v1/statuses",
            {"data": {"status": "x", "media_ids[]": [mine["id"]], "sensitive": "maybe"}},
            "sensitive",
        ),
        (
            "post",
            "/api/v1/statuses",
            {"data": {"status": "x" * 5001, "media_ids[]": [mine["id"]]}},
            "longer",
        ),
        (
            "post",
            "/api/v1/statuses",
            {"data": {"status": "x", "media_ids[]": [mine["id"], mine["id"]]}},
            "twice",
        ),
        (
            "post",
            "/api/v1/statuses",
            {"data": {"status": "x", "media_ids[]": ["abc"]}},
            "media_ids",
        ),
        (
            "post",
            "/api/v1/statuses",
            {"json": {"status": "x", "media_ids": [mine["id"]], "poll": {"options": ["a", "b"]}}},
            "poll",
        ),
        ("post", "/api/v2/media", {"data": {"description": "no file"}}, "file"),
        (
            "post",
            "/api/v2/media",
            {"files": {"file": ("a.png", b"not an image", "image/png")}},
            "image",
        ),
        (
            "post",
            "/api/v2/media",
            {
                "files": {"file": ("a.png", mine and b"\x89PNG", "image/png")},
                "data": {"focus": "2,2"},
            },
            "focal",
        ),
        ("put", f"/api/v1/media/{mine['id']}", {"data": {"description": "d" * 1501}}, "alt text"),
        ("get", "/api/v1/timelines/home?limit=abc", {}, "limit"),
        ("get", "/api/v1/timelines/home?max_id=-5", {}, "max_id"),
        (
            "patch",
            "/api/v1/accounts/update_credentials",
            {"data": {"display_name": "n" * 101}},
            "display name",
        ),
        ("patch", "/api/v1/accounts/update_credentials", {"data": {"locked": "perhaps"}}, "locked"),
        (
            "patch",
            "/api/v1/accounts/update_credentials",
            {"files": {"avatar": ("a.png", b"GIF89a broken", "image/gif")}},
            "",
        ),
        ("post", "/api/v1/markers", {"data": {"home[last_read_id]": "x1"}}, "last_read_id"),
        (
            "post",
            "/api/v1/apps",
            {"data": {"client_name": "x", "redirect_uris": "not a uri"}},
            "redirect uri",
        ),
        ("get", "/api/v2/search?q=x&type=people", {}, "type"),
    ]
    before = await snapshot(services)
    for method, path, kwargs, words in cases:
        response = await getattr(client, method)(path, headers=auth, **kwargs)
        await expect(response, 422, words)
    assert await snapshot(services) == before
    media = await client.get(f"/api/v1/media/{mine['id']}", headers=auth)
    assert media.json()["description"] is None
    malformed = await client.post(
        "/api/v1/statuses", headers={**auth, "Content-Type": "application/json"}, content=b"{nope"
    )
    await expect(malformed, 400, "JSON")


async def test_app_token_on_a_user_endpoint(client: httpx.AsyncClient) -> None:
    app = (
        await client.post(
            "/api/v1/apps",
            data={"client_name": "bot", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"},
        )
    ).json()
    token = (
        await client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
            },
        )
    ).json()["access_token"]
    await expect(await client.get("/api/v1/timelines/home", headers=bearer(token)), 422, "user")
    public = await client.get("/api/v1/timelines/public", headers=bearer(token))
    assert public.status_code == 200


async def test_disabled_account_token_is_refused(
    client: httpx.AsyncClient, make_token: Any, services: Services
) -> None:
    from services.accounts import set_disabled

    _, token = await make_token()
    await set_disabled(services, "alice", True)
    await expect(await client.get("/api/v1/timelines/home", headers=bearer(token)), 403, "disabled")
