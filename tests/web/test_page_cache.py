"""The anonymous page cache, through the real app: what is kept, for whom, until when.

A change made outside the web requests (here: the services called directly, as the
federation worker or the CLI would) is what shows whether an answer came from the cache;
a change made through a web request must be visible on the very next page.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from services.context import Services
from tessera.config import Config
from tests.conftest import csrf_from, sign_in
from tests.imagegen import png_bytes
from tests.web.helpers import post_behind_the_apps_back, publish
from tests.web.idle_helpers import SteppedClock
from web.app import create_app
from web.compression import NEW_CSRF, PRINTED_CSRF
from web.context import SESSION_COOKIE

PAGES = ("/", "/@alice", "/tags/harbour")
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
async def browsers(
    config: Config, services: Services, make_user: Callable[..., Any]
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """An anonymous browser and alice signed in, both talking to one app (one cache)."""
    await make_user("alice", "correct horse battery")
    transport = httpx.ASGITransport(app=create_app(config, services=services, run_workers=False))
    async with (
        httpx.AsyncClient(transport=transport, base_url=config.base_url) as anon,
        httpx.AsyncClient(transport=transport, base_url=config.base_url) as alice,
    ):
        response = await sign_in(alice, "alice", "correct horse battery")
        assert response.status_code == 303
        yield anon, alice


async def test_a_write_through_the_app_shows_on_the_next_anonymous_page(
    browsers: tuple[httpx.AsyncClient, httpx.AsyncClient], services: Services
) -> None:
    anon, alice = browsers
    await post_behind_the_apps_back(services, "Dawn #harbour", "A harbour at dawn")
    first = {path: await anon.get(path, headers=HTML) for path in PAGES}
    for page in first.values():
        assert page.status_code == 200
        assert "A harbour at dawn" in page.text

    # Not a web request: the anonymous pages stay as they were, within the TTL...
    await post_behind_the_apps_back(services, "Noon #harbour", "A harbour at noon")
    for path, page in first.items():
        again = await anon.get(path, headers=HTML)
        assert again.content == page.content
        assert "A harbour at noon" not in again.text
    # ...while a signed-in reader always gets a fresh page.
    assert "A harbour at noon" in (await alice.get("/@alice")).text

    # Publishing through the app drops every cached page at once.
    response = await publish(
        alice,
        [("dusk.png", png_bytes(50, 30, seed=9))],
        alts=["A harbour at dusk"],
        caption="#harbour",
    )
    assert response.status_code == 303
    for path in PAGES:
        text = (await anon.get(path, headers=HTML)).text
        assert "A harbour at noon" in text
        assert "A harbour at dusk" in text


async def test_a_deleted_post_is_gone_for_anonymous_readers_at_once(
    browsers: tuple[httpx.AsyncClient, httpx.AsyncClient], services: Services
) -> None:
    anon, alice = browsers
    post_id = await post_behind_the_apps_back(services, "Soon gone", "A doomed harbour")
    path = f"/@alice/{post_id}"
    assert "A doomed harbour" in (await anon.get(path, headers=HTML)).text
    assert "A doomed harbour" in (await anon.get("/", headers=HTML)).text
    token = await csrf_from(alice, path)
    deleted = await alice.post(f"{path}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    assert (await anon.get(path, headers=HTML)).status_code == 410
    assert "A doomed harbour" not in (await anon.get("/", headers=HTML)).text


async def test_signed_in_pages_are_never_stored_nor_served_from_the_cache(
    browsers: tuple[httpx.AsyncClient, httpx.AsyncClient], services: Services
) -> None:
    anon, alice = browsers
    await post_behind_the_apps_back(services, "Mine", "A quiet harbour")
    mine = await alice.get("/@alice")
    assert "Sign out" in mine.text and 'name="csrf_token"' in mine.text
    page = await anon.get("/@alice", headers=HTML)
    assert "Sign out" not in page.text
    assert "csrf_token" not in page.text
    cached = await anon.get("/@alice", headers=HTML)
    assert cached.content == page.content
    mine_again = await alice.get("/@alice")
    assert "Sign out" in mine_again.text


async def test_an_oddly_written_session_cookie_still_counts_as_signed_in(
    browsers: tuple[httpx.AsyncClient, httpx.AsyncClient], services: Services
) -> None:
    """The app's cookie parser accepts ``name =value``; the cache must read it the same
    way, or it would store this signed-in page and hand it to every anonymous reader."""
    anon, alice = browsers
    session = alice.cookies.get(SESSION_COOKIE)
    assert session
    odd = {**HTML, "Cookie": f"{SESSION_COOKIE} ={session}; tessera_csrf=x"}
    signed_in = await anon.get("/", headers=odd)
    assert "Sign out" in signed_in.text  # the app took it as alice's session
    for _ in range(2):
        page = await anon.get("/", headers=HTML)
        assert "Sign out" not in page.text and "csrf_token" not in page.text


async def test_anonymous_pages_set_no_cookie_and_carry_no_token(
    browsers: tuple[httpx.AsyncClient, httpx.AsyncClient], services: Services
) -> None:
    anon, _ = browsers
    post_id = await post_behind_the_apps_back(services, "#harbour", "A harbour")
    for path in (*PAGES, f"/@alice/{post_id}"):
        for _ in range(2):  # rendered, then from the cache
            response = await anon.get(path, headers=HTML)
            assert response.status_code == 200
            assert "set-cookie" not in response.headers
            assert "csrf_token" not in response.text
            assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert not anon.cookies
    # A page with a form still issues the cookie its token is checked against.
    login = await anon.get("/login")
    assert "tessera_csrf" in login.headers.get("set-cookie", "")


async def test_activitypub_documents_never_come_from_the_html_cache(
    browsers: tuple[httpx.AsyncClient, httpx.AsyncClient], services: Services
) -> None:
    anon, _ = browsers
    post_id = await post_behind_the_apps_back(services, "Negotiated", "A harbour")
    for path in ("/@alice", f"/@alice/{post_id}"):
        html = await anon.get(path, headers=HTML)
        assert html.headers["content-type"].startswith("text/html")
        document = await anon.get(path, headers={"Accept": "application/activity+json"})
        assert document.headers["content-type"].startswith("application/activity+json")
        assert document.json()["id"].startswith("http://gallery.test/")
        html_again = await anon.get(path, headers=HTML)
        assert html_again.content == html.content


@pytest.mark.parametrize("config_overrides", [{"server": {"page_cache_seconds": 0}}])
async def test_zero_seconds_turns_the_cache_off(
    browsers: tuple[httpx.AsyncClient, httpx.AsyncClient], services: Services
) -> None:
    anon, _ = browsers
    await post_behind_the_apps_back(services, "#harbour", "A harbour at dawn")
    for path in PAGES:
        assert "A harbour at dawn" in (await anon.get(path, headers=HTML)).text
    await post_behind_the_apps_back(services, "#harbour", "A harbour at noon")
    for path in PAGES:
        assert "A harbour at noon" in (await anon.get(path, headers=HTML)).text


@pytest.mark.parametrize("mark", [PRINTED_CSRF, NEW_CSRF])
async def test_a_page_made_for_one_browser_is_never_kept(mark: str) -> None:
    """A page that printed a returning browser's CSRF token (or issued a CSRF cookie) was
    made for that browser: it is answered, never kept for the next reader. The inner app
    is a stand-in page server marking the request as the CSRF helper does."""
    from web.page_cache import PageCache

    calls = 0

    async def page_with_a_form(scope: Any, receive: Any, send: Any) -> None:
        nonlocal calls
        calls += 1
        scope[mark] = True if mark == PRINTED_CSRF else "cookie-value"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": b"<form>" + b"x" * 2000})

    cache = PageCache(page_with_a_form, ttl_seconds=60, session_cookie="tessera_session")
    transport = httpx.ASGITransport(app=cache)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for _ in range(2):
            response = await client.get("/@alice", headers={**HTML, "Accept-Encoding": "gzip"})
            assert response.status_code == 200
            assert "content-encoding" not in response.headers
    assert calls == 2
    assert not cache._entries


async def test_the_cache_holds_at_most_its_byte_budget() -> None:
    """Pages past the budget push out the least recently used ones: memory stays bounded
    however many distinct URLs are read. The inner app is a stand-in page server that
    counts how often it is asked (the cache is what is under test)."""
    from web.page_cache import PageCache

    calls: dict[str, int] = {}

    async def pages(scope: Any, receive: Any, send: Any) -> None:
        calls[scope["path"]] = calls.get(scope["path"], 0) + 1
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/html; charset=utf-8")],
            }
        )
        # incompressible: a page kept (gzipped, with its headers) takes ~1,160 bytes
        body = random.Random(scope["path"]).randbytes(1000)
        await send({"type": "http.response.body", "body": body})

    cache = PageCache(pages, ttl_seconds=60, session_cookie="tessera_session", max_bytes=3600)
    transport = httpx.ASGITransport(app=cache)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/@a", "/@b", "/@c", "/@a", "/@d", "/@b"):
            assert (await client.get(path, headers=HTML)).status_code == 200
    # /@a was read again before /@d arrived, so /@b (least recently used) went instead;
    # three such pages (and their headers and keys) fit the budget, never four.
    assert calls == {"/@a": 1, "/@b": 2, "/@c": 1, "/@d": 1}
    assert len(cache._entries) == 3
    assert sum(len(e.body) for e in cache._entries.values()) <= 3600


async def test_a_quiet_spell_as_long_as_the_ttl_lets_the_kept_pages_go(
    config: Config, services: Services, make_user: Callable[..., Any]
) -> None:
    """Once no request has come for the cache's seconds, every page and entity kept has
    expired; the idle task empties the caches then instead of holding them until the
    next request (web.idle_gc). Stepped with the collector's clock: the page cache's own
    clock has not moved, so only the emptying can explain the fresh page."""
    await make_user("alice", "correct horse battery")
    app = create_app(config, services=services, run_workers=False)
    collector = app.state.idle_collector
    clock = SteppedClock()
    collector.clock = clock
    collector.last_active = clock.now
    ttl = config.server.page_cache_seconds
    assert ttl > 0
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=config.base_url) as anon:
        await post_behind_the_apps_back(services, "Dawn #harbour", "A harbour at dawn")
        assert "A harbour at dawn" in (await anon.get("/@alice", headers=HTML)).text
        statuses = await anon.get("/api/v1/timelines/public")
        assert statuses.status_code == 200 and statuses.json()
        assert len(services.entity_cache) > 0
        await post_behind_the_apps_back(services, "Noon #harbour", "A harbour at noon")
        assert "A harbour at noon" not in (await anon.get("/@alice", headers=HTML)).text

        clock.now += ttl / 2
        assert collector.forget_if_quiet() == 0, "emptied before the entries expired"
        assert "A harbour at noon" not in (await anon.get("/@alice", headers=HTML)).text
        clock.now += ttl
        assert collector.forget_if_quiet() == 1
        assert len(services.entity_cache) == 0
        assert collector.trim_due
        assert collector.forget_if_quiet() == 0, "emptied twice in one quiet spell"
        assert "A harbour at noon" in (await anon.get("/@alice", headers=HTML)).text
