"""Pagination with Link headers, notifications filters, markers, instance documents,
the empty-but-valid lists, CORS and the rate limiter."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.context import Services
from tessera.config import Config
from tests.api.conftest import PASSWORD, bearer, post_status, snapshot
from tests.api.schemas import (
    INSTANCE_V1,
    INSTANCE_V2,
    MARKER,
    NOTIFICATION,
    PREFERENCES,
    STATUS,
    check,
    list_of,
)
from tests.conftest import sign_in
from web.api.auth import ApiRateLimiter
from web.app import create_app


def links(response: httpx.Response) -> dict[str, str]:
    return {
        rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["link"])
    }


async def test_timeline_pages_follow_link_headers(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    _, token = await make_token()
    ids = [(await post_status(client, token, f"post {i}"))["id"] for i in range(5)]
    newest_first = ids[::-1]
    page1 = await client.get("/api/v1/timelines/public", params={"limit": 2, "local": "true"})
    assert [s["id"] for s in check(list_of(STATUS), page1.json())] == newest_first[:2]
    nxt = links(page1)["next"]
    assert nxt.startswith("http://gallery.test/api/v1/timelines/public?") and "local=true" in nxt
    page2 = await client.get(nxt)
    assert [s["id"] for s in page2.json()] == newest_first[2:4]
    page3 = await client.get(links(page2)["next"])
    assert [s["id"] for s in page3.json()] == newest_first[4:]
    back = await client.get(links(page3)["prev"])
    assert [s["id"] for s in back.json()] == newest_first[2:4]  # min_id: the page just above
    since = await client.get("/api/v1/timelines/public", params={"since_id": ids[2], "limit": 1})
    assert [s["id"] for s in since.json()] == [ids[4]]  # since_id: newest first
    empty = await client.get("/api/v1/timelines/public", params={"max_id": ids[0]})
    assert empty.json() == [] and "link" not in empty.headers
    big = await client.get("/api/v1/timelines/public", params={"limit": 1000})
    assert len(big.json()) == 5


async def test_notifications_types_dismiss_and_clear(
    client: httpx.AsyncClient, make_token: Any, services: Services
) -> None:
    alice_actor, alice = await make_token("alice")
    _, bob = await make_token("bob")
    status = await post_status(client, alice, "hello")
    await client.post(f"/api/v1/statuses/{status['id']}/favourite", headers=bearer(bob))
    await client.post(f"/api/v1/accounts/{alice_actor.id}/follow", headers=bearer(bob))
    auth = bearer(alice)
    everything = check(
        list_of(NOTIFICATION), (await client.get("/api/v1/notifications", headers=auth)).json()
    )
    assert [n["type"] for n in everything] == ["follow", "favourite"]
    only = (
        await client.get("/api/v1/notifications", params={"types[]": "follow"}, headers=auth)
    ).json()
    assert [n["type"] for n in only] == ["follow"]
    without = (
        await client.get(
            "/api/v1/notifications", params={"exclude_types[]": "follow"}, headers=auth
        )
    ).json()
    assert [n["type"] for n in without] == ["favourite"]
    one = await client.get(f"/api/v1/notifications/{everything[0]['id']}", headers=auth)
    assert check(NOTIFICATION, one.json())["id"] == everything[0]["id"]
    assert (
        await client.get(f"/api/v1/notifications/{everything[0]['id']}", headers=bearer(bob))
    ).status_code == 404
    await sign_in(client, "alice", PASSWORD)
    assert '<span class="count">2</span>' in (await client.get("/")).text
    marker = await client.post(
        "/api/v1/markers", headers=auth, data={"notifications[last_read_id]": everything[0]["id"]}
    )
    assert check(MARKER, marker.json()["notifications"])["last_read_id"] == everything[0]["id"]
    page = await client.get("/")  # the web badge follows the client's read marker
    assert page.status_code == 200 and '<span class="count">' not in page.text
    dismissed = await client.post(
        f"/api/v1/notifications/{everything[0]['id']}/dismiss", headers=auth
    )
    assert dismissed.status_code == 200
    assert len((await client.get("/api/v1/notifications", headers=auth)).json()) == 1
    await client.post("/api/v1/notifications/clear", headers=auth)
    assert (await client.get("/api/v1/notifications", headers=auth)).json() == []


async def test_markers(client: httpx.AsyncClient, make_token: Any) -> None:
    _, token = await make_token()
    auth = bearer(token)
    assert (await client.get("/api/v1/markers", headers=auth)).json() == {}
    saved = await client.post(
        "/api/v1/markers", headers=auth, json={"home": {"last_read_id": "123"}}
    )
    assert check(MARKER, saved.json()["home"])["version"] == 1
    again = await client.post("/api/v1/markers", headers=auth, data={"home[last_read_id]": "456"})
    assert again.json()["home"]["version"] == 2
    read = await client.get("/api/v1/markers", params={"timeline[]": "home"}, headers=auth)
    assert read.json()["home"]["last_read_id"] == "456"


async def test_instance_documents(
    client: httpx.AsyncClient, make_user: Any, config: Config
) -> None:
    await make_user("admin", "correct horse battery", is_admin=True, allow_reserved=True)
    v1 = check(INSTANCE_V1, (await client.get("/api/v1/instance")).json())
    assert v1["uri"] == "gallery.test" and v1["stats"]["user_count"] == 1
    assert v1["contact_account"]["username"] == "admin"
    assert (await client.get("/api/v1/instance/")).json() == v1
    v2 = check(INSTANCE_V2, (await client.get("/api/v2/instance")).json())
    media = v2["configuration"]["media_attachments"]
    assert media["image_size_limit"] == config.media.max_upload_bytes
    assert media["image_matrix_limit"] == config.media.max_pixels
    assert "image/png" in media["supported_mime_types"]
    assert v2["configuration"]["statuses"]["max_media_attachments"] == config.media.max_attachments
    assert v2["api_versions"]["mastodon"] >= 1
    assert (await client.get("/api/v1/instance/peers")).json() == []
    assert (await client.get("/api/v1/custom_emojis")).json() == []


async def test_empty_but_valid_lists(client: httpx.AsyncClient, make_token: Any) -> None:
    _, token = await make_token()
    auth = bearer(token)
    for path in (
        "/api/v1/filters",
        "/api/v2/filters",
        "/api/v1/lists",
        "/api/v1/trends/tags",
        "/api/v1/trends/statuses",
        "/api/v1/trends/links",
        "/api/v1/announcements",
        "/api/v1/mutes",
        "/api/v1/conversations",
        "/api/v1/followed_tags",
        "/api/v1/bookmarks",
        "/api/v1/favourites",
        "/api/v1/blocks",
        "/api/v1/follow_requests",
    ):
        response = await client.get(path, headers=auth)
        assert response.status_code == 200 and response.json() == [], path
    assert check(PREFERENCES, (await client.get("/api/v1/preferences", headers=auth)).json())
    assert (await client.get("/api/v1/lists/1", headers=auth)).status_code == 404


async def test_cors_for_browser_clients(client: httpx.AsyncClient, make_token: Any) -> None:
    _, token = await make_token()
    preflight = await client.options(
        "/api/v1/timelines/home",
        headers={"Origin": "https://elk.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    answer = await client.get("/api/v1/timelines/home", headers=bearer(token))
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "Link" in answer.headers["access-control-expose-headers"]


@pytest.fixture
async def limited(
    config: Config, services: Services
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    app = create_app(config, services=services, run_workers=False)
    app.state.api_limiter = ApiRateLimiter(limit=3, window=timedelta(minutes=5))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=config.base_url
    ) as c:
        yield app, c


async def test_rate_limit_per_token(
    limited: tuple[Any, httpx.AsyncClient], make_token: Any, services: Services
) -> None:
    _, client = limited
    _, alice = await make_token("alice")
    _, bob = await make_token("bob")
    seen = []
    for _ in range(3):
        response = await client.get("/api/v1/timelines/home", headers=bearer(alice))
        assert response.status_code == 200
        seen.append(int(response.headers["x-ratelimit-remaining"]))
    assert seen == [2, 1, 0]
    assert response.headers["x-ratelimit-limit"] == "3"
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", response.headers["x-ratelimit-reset"]
    )
    before = await snapshot(services)
    refused = await client.post("/api/v1/statuses", headers=bearer(alice), data={"status": "x"})
    assert refused.status_code == 429 and refused.json() == {"error": "Too many requests"}
    assert int(refused.headers["retry-after"]) > 0
    assert await snapshot(services) == before
    other = await client.get("/api/v1/timelines/home", headers=bearer(bob))
    assert other.status_code == 200 and other.headers["x-ratelimit-remaining"] == "2"


def test_rate_windows_stay_bounded_under_a_spray_of_addresses() -> None:
    """Thousands of one-off client addresses cannot grow the limiter without bound, and
    a client that used up its quota recently is still refused after the pruning."""
    limiter = ApiRateLimiter(limit=2, window=timedelta(minutes=5), max_keys=10)
    now = datetime(2026, 11, 24, tzinfo=UTC)
    for n in range(25):
        assert limiter.hit(f"ip:192.0.2.{n}", now).allowed
        assert len(limiter) <= 10
    heavy = "t:heavy"
    assert limiter.hit(heavy, now).allowed and limiter.hit(heavy, now).allowed
    for n in range(25, 29):  # a few more strangers, not enough to push it out
        limiter.hit(f"ip:192.0.2.{n}", now)
    assert not limiter.hit(heavy, now).allowed
    later = now + timedelta(minutes=6)  # expired windows are what goes first
    limiter.hit("ip:198.51.100.1", later)
    assert len(limiter) <= 10
    assert limiter.hit(heavy, later).allowed


async def test_home_timeline_pages_by_every_cursor(
    client: httpx.AsyncClient, make_token: Any
) -> None:
    """The home statement is built once per cursor shape: each shape pages correctly."""
    _, token = await make_token()
    ids = [(await post_status(client, token, f"home {i}"))["id"] for i in range(5)]
    newest_first = ids[::-1]

    async def home(**params: Any) -> httpx.Response:
        response = await client.get("/api/v1/timelines/home", params=params, headers=bearer(token))
        assert response.status_code == 200, response.text
        return response

    page1 = await home(limit=2)
    assert [s["id"] for s in check(list_of(STATUS), page1.json())] == newest_first[:2]
    page2 = await client.get(links(page1)["next"], headers=bearer(token))
    assert [s["id"] for s in page2.json()] == newest_first[2:4]  # max_id
    back = await client.get(links(page2)["prev"], headers=bearer(token))
    assert [s["id"] for s in back.json()] == newest_first[:2]  # min_id: the page just above
    assert [s["id"] for s in (await home(min_id=ids[0], limit=2)).json()] == [ids[2], ids[1]]
    assert [s["id"] for s in (await home(since_id=ids[2])).json()] == [ids[4], ids[3]]
    both = await home(since_id=ids[0], max_id=ids[4])
    assert [s["id"] for s in both.json()] == [ids[3], ids[2], ids[1]]
    assert (await home(max_id=ids[0])).json() == []
