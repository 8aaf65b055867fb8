"""gzip for the answers that are the same for everyone, and never for one reader's.

Through the real app where the rule is about real pages (the gallery, a profile, the login
form, the client API, an ActivityPub document); the middleware alone, over a stand-in page
server, where the rule is about one header at a time.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from federation.negotiation import MEMO_LIMIT, MEMO_SIZE, wants_activity_json
from services.api_tokens import create_script_token
from services.context import Services
from tessera.config import Config
from tests.conftest import sign_in
from tests.web.helpers import post_behind_the_apps_back
from web.app import create_app
from web.compression import MAX_BYTES, Compression, accepts_gzip

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
GZIP = {**HTML, "Accept-Encoding": "gzip, deflate, br"}
IDENTITY = {**HTML, "Accept-Encoding": "identity"}


@pytest.fixture
async def app_client(
    config: Config, services: Services, make_user: Callable[..., Any]
) -> AsyncIterator[httpx.AsyncClient]:
    await make_user("alice", "correct horse battery")
    await post_behind_the_apps_back(services, "Dawn #harbour", "A harbour at dawn")
    transport = httpx.ASGITransport(app=create_app(config, services=services, run_workers=False))
    async with httpx.AsyncClient(transport=transport, base_url=config.base_url) as client:
        yield client


def assert_gzipped(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    # what went over the wire is what Content-Length says, and less than the page
    assert int(response.headers["content-length"]) == response.num_bytes_downloaded
    assert response.num_bytes_downloaded < len(response.content)


def assert_plain(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert int(response.headers["content-length"]) == len(response.content)


@pytest.mark.parametrize("path", ["/", "/@alice", "/tags/harbour"])
async def test_an_anonymous_page_goes_out_gzipped_and_kept_gzipped(
    app_client: httpx.AsyncClient, path: str
) -> None:
    """Rendered (the cache fills), then kept: the gzip reader gets the same page both
    times, and a reader without gzip gets the kept page unpacked, byte for byte."""
    rendered = await app_client.get(path, headers=GZIP)
    assert_gzipped(rendered)
    assert "A harbour at dawn" in rendered.text
    kept = await app_client.get(path, headers=GZIP)
    assert_gzipped(kept)
    assert kept.content == rendered.content
    unpacked = await app_client.get(path, headers=IDENTITY)
    assert_plain(unpacked)
    assert "accept-encoding" in unpacked.headers["vary"].lower()
    assert unpacked.content == rendered.content


@pytest.mark.parametrize("config_overrides", [{"server": {"page_cache_seconds": 0}}])
async def test_pages_are_gzipped_with_the_cache_off_too(app_client: httpx.AsyncClient) -> None:
    first = await app_client.get("/@alice", headers=GZIP)
    assert_gzipped(first)
    plain = await app_client.get("/@alice", headers=IDENTITY)
    assert_plain(plain)
    assert plain.content == first.content


async def test_a_signed_in_readers_pages_are_never_compressed(
    app_client: httpx.AsyncClient,
) -> None:
    assert (await sign_in(app_client, "alice", "correct horse battery")).status_code == 303
    for path in ("/", "/@alice", "/home"):
        response = await app_client.get(path, headers=GZIP)
        assert_plain(response)
        assert "alice" in response.text


async def test_a_page_that_prints_a_csrf_token_is_never_compressed(
    app_client: httpx.AsyncClient,
) -> None:
    """The first visit issues the CSRF cookie; the second is a returning browser whose
    token the form prints without setting any cookie: neither may be compressed."""
    first = await app_client.get("/login", headers=GZIP)
    assert_plain(first)
    assert "set-cookie" in first.headers
    again = await app_client.get("/login", headers=GZIP)
    assert_plain(again)
    assert "set-cookie" not in again.headers
    assert 'name="csrf_token"' in again.text


async def test_the_client_api_with_a_token_is_never_compressed(
    app_client: httpx.AsyncClient, services: Services
) -> None:
    token = await create_script_token(services, "alice", scopes="read")
    path = "/api/v1/timelines/public?local=true"
    anonymous = await app_client.get(path, headers={"Accept-Encoding": "gzip"})
    assert_gzipped(anonymous)
    mine = await app_client.get(
        path, headers={"Accept-Encoding": "gzip", "Authorization": f"Bearer {token}"}
    )
    assert_plain(mine)
    assert [s["id"] for s in mine.json()] == [s["id"] for s in anonymous.json()]


async def test_an_activitypub_document_is_gzipped_unless_the_fetch_is_signed(
    app_client: httpx.AsyncClient,
) -> None:
    wanted = {"Accept": "application/activity+json", "Accept-Encoding": "gzip"}
    unsigned = await app_client.get("/users/alice", headers=wanted)
    assert_gzipped(unsigned)
    assert unsigned.json()["preferredUsername"] == "alice"
    # a bad signature is still a signed fetch: whatever the answer, it is not compressed
    signed = await app_client.get(
        "/users/alice", headers={**wanted, "Signature": 'keyId="x",signature="eA=="'}
    )
    assert "content-encoding" not in signed.headers


async def test_a_stylesheet_is_gzipped_but_a_range_of_it_is_not(
    app_client: httpx.AsyncClient,
) -> None:
    whole = await app_client.get("/static/tessera.css", headers={"Accept-Encoding": "gzip"})
    assert_gzipped(whole)
    # no validator of the plain file's on its gzipped bytes, and no ranges of them
    for header in ("etag", "last-modified", "accept-ranges"):
        assert header not in whole.headers
    part = await app_client.get(
        "/static/tessera.css", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-99"}
    )
    assert part.status_code == 206
    assert "content-encoding" not in part.headers
    assert part.content == whole.content[:100]


async def test_a_304_carries_the_vary_of_its_200(app_client: httpx.AsyncClient) -> None:
    plain = await app_client.get("/static/tessera.css", headers={"Accept-Encoding": "identity"})
    assert_plain(plain)
    assert "accept-encoding" in plain.headers["vary"].lower()
    again = await app_client.get(
        "/static/tessera.css",
        headers={"Accept-Encoding": "identity", "If-None-Match": plain.headers["etag"]},
    )
    assert again.status_code == 304
    assert "accept-encoding" in again.headers["vary"].lower()


# --- the middleware alone, one header at a time ------------------------------------------

PAGE = ("<p>" + "a gallery tile " * 200 + "</p>").encode()


def stand_in(headers: list[tuple[bytes, bytes]], body: bytes = PAGE) -> Any:
    """A page server answering ``body`` with ``headers`` (the middleware is under test)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body})

    return app


async def fetch(app: Any, headers: dict[str, str], method: str = "GET") -> httpx.Response:
    transport = httpx.ASGITransport(app=Compression(app, session_cookie="tessera_session"))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, "/page", headers=headers)


HTML_TYPE = [(b"content-type", b"text/html; charset=utf-8")]


@pytest.mark.parametrize(
    ("headers", "compressed"),
    [
        ({"Accept-Encoding": "gzip"}, True),
        ({"Accept-Encoding": "deflate, gzip;q=0.5"}, True),
        ({"Accept-Encoding": "gzip;q=0"}, False),
        ({"Accept-Encoding": "br"}, False),
        ({"Accept-Encoding": "identity"}, False),
        ({"Accept-Encoding": "gzip", "Authorization": "Bearer abc"}, False),
        ({"Accept-Encoding": "gzip", "Signature": 'keyId="k"'}, False),
        ({"Accept-Encoding": "gzip", "Signature-Input": 'sig1=("@method")'}, False),
        ({"Accept-Encoding": "gzip", "Cookie": "theme=dark; tessera_session=abc"}, False),
        ({"Accept-Encoding": "gzip", "Cookie": "tessera_session =abc"}, False),
        ({"Accept-Encoding": "gzip", "Cookie": "tessera_csrf=abc"}, True),
    ],
)
async def test_who_gets_gzip(headers: dict[str, str], compressed: bool) -> None:
    response = await fetch(stand_in(HTML_TYPE), headers)
    assert response.content == PAGE
    assert ("content-encoding" in response.headers) is compressed
    assert response.num_bytes_downloaded == (
        int(response.headers["content-length"]) if compressed else len(PAGE)
    )


@pytest.mark.parametrize(
    ("answer_headers", "body"),
    [
        ([*HTML_TYPE, (b"set-cookie", b"a=b")], PAGE),
        (HTML_TYPE, b"<p>short</p>"),
        ([(b"content-type", b"image/png")], PAGE),
        ([*HTML_TYPE, (b"content-encoding", b"br")], PAGE),
    ],
    ids=["sets-a-cookie", "short", "an-image", "already-encoded"],
)
async def test_what_is_never_gzipped(
    answer_headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    response = await fetch(stand_in(answer_headers, body), {"Accept-Encoding": "gzip"})
    assert response.headers.get("content-encoding") in (None, "br")
    assert response.num_bytes_downloaded == len(body)


async def test_head_streamed_and_large_answers_pass_as_they_are() -> None:
    async def streamed(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HTML_TYPE})
        await send({"type": "http.response.body", "body": PAGE, "more_body": True})
        await send({"type": "http.response.body", "body": PAGE})

    response = await fetch(streamed, {"Accept-Encoding": "gzip"})
    assert "content-encoding" not in response.headers
    assert response.content == PAGE + PAGE
    assert "accept-encoding" in response.headers["vary"].lower()
    head = await fetch(stand_in(HTML_TYPE), {"Accept-Encoding": "gzip"}, method="HEAD")
    assert "content-encoding" not in head.headers
    assert "accept-encoding" in head.headers["vary"].lower()  # as its GET would say
    large = PAGE * (MAX_BYTES // len(PAGE) + 1)  # compressing it would hold the loop
    response = await fetch(stand_in(HTML_TYPE, large), {"Accept-Encoding": "gzip"})
    assert "content-encoding" not in response.headers
    assert response.content == large


async def test_a_start_held_is_sent_before_a_message_of_another_kind() -> None:
    """A server offering ``http.response.pathsend`` gets a file's path instead of its body
    (Starlette's FileResponse): the start held for compression must still go first."""

    async def file_answer(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HTML_TYPE})
        await send({"type": "http.response.pathsend", "path": "/srv/page.html"})

    sent: list[dict[str, Any]] = []

    async def collect(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/page",
        "headers": [(b"accept-encoding", b"gzip")],
        "extensions": {"http.response.pathsend": {}},
    }
    await Compression(file_answer, session_cookie="tessera_session")(scope, receive, collect)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.pathsend"]
    assert (b"vary", b"Accept-Encoding") in sent[0]["headers"]


async def test_vary_is_merged_and_the_gzip_is_a_real_one() -> None:
    app = stand_in([*HTML_TYPE, (b"vary", b"Accept"), (b"etag", b'"v1"')])
    transport = httpx.ASGITransport(app=Compression(app, session_cookie="tessera_session"))
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        client.stream("GET", "/page", headers={"Accept-Encoding": "gzip"}) as response,
    ):
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert gzip.decompress(raw) == PAGE
    assert response.headers["vary"] == "Accept, Accept-Encoding"
    assert "etag" not in response.headers  # the identity's tag names other bytes


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("x-gzip", True),
        ("gzip, deflate, br, zstd", True),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", True),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0, *", False),
        ("gzip;q=0.000", False),
        ("gzip;q=nonsense", False),
        ("deflate", False),
        ("", False),
        (None, False),
    ],
)
def test_accept_encoding(value: str | None, accepted: bool) -> None:
    assert accepts_gzip(value) is accepted


def test_only_short_header_values_are_remembered_and_only_so_many() -> None:
    """Parsing an Accept value costs as much as answering a kept page, so answers are
    remembered; but never for long values (nobody may pin large strings) and never for
    more than ``MEMO_SIZE`` values."""
    accepts_gzip.memo.cache_clear()
    long_value = "deflate, " * 40 + "gzip"
    assert len(long_value) > MEMO_LIMIT
    for _ in range(3):
        assert accepts_gzip(long_value) is True
    assert accepts_gzip.memo.cache_info().currsize == 0
    for n in range(MEMO_SIZE + 50):
        assert accepts_gzip(f"gzip;q=0.{n + 1}") is True
    assert accepts_gzip.memo.cache_info().currsize == MEMO_SIZE
    assert wants_activity_json("deflate " * 40 + ", application/activity+json") is True
