"""GET through the transport against real local peers: signatures as a peer verifies them,
content types, the origin rule and hand-made redirects."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from federation.signatures import Verified
from federation.transport import (
    AP_ACCEPT,
    AddressRefused,
    BadContentType,
    BadDocument,
    OriginMismatch,
    RedirectRefused,
    RemoteHTTPError,
    Signer,
    Transport,
)
from tests.transport.conftest import USER_AGENT
from tests.transport.peers import Seen, serve_app, verifying_app

AS_JSON = "application/activity+json"


def actor(request: Request) -> Response:
    """A document whose id is exactly where it was fetched from."""
    return JSONResponse({"id": str(request.url), "type": "Person"}, media_type=AS_JSON)


def answer(body: bytes | str, content_type: str | None, status: int = 200) -> Callable:
    def handler(request: Request) -> Response:
        response = Response(body, status_code=status, media_type=content_type)
        if content_type is None:
            del response.headers["content-type"]
        return response

    return handler


async def test_signed_get_verifies_at_the_peer(
    transport: Transport, signer: Signer, public_pem: str
) -> None:
    seen: list[Seen] = []
    async with serve_app(verifying_app(public_pem, seen, actor)) as base:
        document = await transport.get_json(f"{base}/users/bob?page=1", signer=signer)
    assert document.data == {"id": f"{base}/users/bob?page=1", "type": "Person"}
    assert document.status == 200
    assert document.url_final == f"{base}/users/bob?page=1"
    assert document.headers["content-type"] == AS_JSON
    [request] = seen
    assert isinstance(request.verdict, Verified), request.verdict
    assert request.verdict.key_id == signer.key_id
    assert request.verdict.covered == ("(request-target)", "host", "date", "accept")
    assert request.headers["accept"] == AP_ACCEPT
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["accept-encoding"] == "identity"


async def test_unsigned_get_carries_no_signature(transport: Transport, public_pem: str) -> None:
    seen: list[Seen] = []
    async with serve_app(verifying_app(public_pem, seen, actor)) as base:
        await transport.get_json(f"{base}/users/bob", signer=None)
    assert "signature" not in seen[0].headers


@pytest.mark.parametrize(
    "content_type",
    [
        AS_JSON,
        'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
        "application/json; charset=utf-8",
        "application/jrd+json",
        "Application/Activity+JSON",
    ],
)
async def test_json_media_types_are_accepted(
    transport: Transport, public_pem: str, content_type: str
) -> None:
    async with serve_app(verifying_app(public_pem, [], answer(b'{"a": 1}', content_type))) as base:
        document = await transport.get_json(f"{base}/x", signer=None)
    assert document.data == {"a": 1}


@pytest.mark.parametrize(
    "content_type", ["text/html; charset=utf-8", "text/plain", "application/xml", None]
)
async def test_other_media_types_are_refused(
    transport: Transport, public_pem: str, content_type: str | None
) -> None:
    handler = answer(b'{"id": "x"}', content_type)
    async with serve_app(verifying_app(public_pem, [], handler)) as base:
        with pytest.raises(BadContentType) as info:
            await transport.get_json(f"{base}/x", signer=None)
    assert info.value.public.startswith(f"request to {base} failed: expected a JSON document")
    if content_type:
        assert content_type.split(";")[0] in info.value.public


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[1, 2]", "not an object"),
        (b'"text"', "not an object"),
        (b"{nope", "not valid JSON"),
        (b"\xff\xfe{", "not valid JSON"),
    ],
)
async def test_unusable_json_is_refused(
    transport: Transport, public_pem: str, body: bytes, reason: str
) -> None:
    async with serve_app(verifying_app(public_pem, [], answer(body, AS_JSON))) as base:
        with pytest.raises(BadDocument) as info:
            await transport.get_json(f"{base}/x", signer=None)
    assert reason in info.value.public


@pytest.mark.parametrize("status", [401, 404, 410, 500, 503])
async def test_error_statuses_raise_with_the_remote_status(
    transport: Transport, public_pem: str, status: int
) -> None:
    async with serve_app(verifying_app(public_pem, [], answer(b"{}", AS_JSON, status))) as base:
        with pytest.raises(RemoteHTTPError) as info:
            await transport.get_json(f"{base}/x", signer=None)
    assert info.value.remote_status == status
    assert info.value.status == 502
    assert f"HTTP {status}" in info.value.public


async def test_compressed_answers_are_refused(transport: Transport, public_pem: str) -> None:
    def gzipped(request: Request) -> Response:
        import gzip

        body = gzip.compress(b'{"a": 1}')
        return Response(body, media_type=AS_JSON, headers={"Content-Encoding": "gzip"})

    async with serve_app(verifying_app(public_pem, [], gzipped)) as base:
        with pytest.raises(BadDocument) as info:
            await transport.get_json(f"{base}/x", signer=None)
    assert "content encoding" in info.value.public


async def test_fetch_ap_object_accepts_a_document_from_its_own_host(
    transport: Transport, signer: Signer, public_pem: str
) -> None:
    async with serve_app(verifying_app(public_pem, [], actor)) as base:
        data = await transport.fetch_ap_object(f"{base}/users/bob", signer=signer)
    assert data["id"] == f"{base}/users/bob"


@pytest.mark.parametrize(
    "claimed",
    [
        "https://elsewhere.example/users/bob",
        "http://127.0.0.1:1/users/bob",  # same host, another port: another origin
    ],
)
async def test_fetch_ap_object_refuses_an_id_on_another_host(
    transport: Transport, public_pem: str, claimed: str
) -> None:
    handler = answer(f'{{"id": "{claimed}", "type": "Person"}}', AS_JSON)
    async with serve_app(verifying_app(public_pem, [], handler)) as base:
        with pytest.raises(OriginMismatch) as info:
            await transport.fetch_ap_object(f"{base}/users/bob", signer=None)
    assert "id on another host than the document was fetched from" in info.value.public


@pytest.mark.parametrize("body", [b'{"type": "Person"}', b'{"id": 5}', b'{"id": ""}'])
async def test_fetch_ap_object_needs_an_id(
    transport: Transport, public_pem: str, body: bytes
) -> None:
    async with serve_app(verifying_app(public_pem, [], answer(body, AS_JSON))) as base:
        with pytest.raises(BadDocument):
            await transport.fetch_ap_object(f"{base}/users/bob", signer=None)


async def test_cross_host_redirect_uses_the_final_host_for_the_origin_rule(
    transport: Transport, signer: Signer, public_pem: str
) -> None:
    seen_a: list[Seen] = []
    seen_b: list[Seen] = []
    async with serve_app(verifying_app(public_pem, seen_b, actor)) as base_b:
        # The second peer is reached by name ("localhost"), the first by literal address.
        target_b = base_b.replace("127.0.0.1", "localhost")

        def moved(request: Request) -> Response:
            return RedirectResponse(f"{target_b}/users/bob", status_code=301)

        async with serve_app(verifying_app(public_pem, seen_a, moved)) as base_a:
            data = await transport.fetch_ap_object(f"{base_a}/@bob", signer=signer)
    assert data["id"] == f"{target_b}/users/bob"
    # Both hops were signed, each for its own host and path.
    assert isinstance(seen_a[0].verdict, Verified)
    assert isinstance(seen_b[0].verdict, Verified)
    assert seen_b[0].target == "/users/bob"
    assert seen_b[0].headers["host"] == target_b.removeprefix("http://")


async def test_redirected_document_claiming_the_first_host_is_refused(
    transport: Transport, public_pem: str
) -> None:
    seen_a: list[Seen] = []
    async with serve_app(verifying_app(public_pem, seen_a, actor)) as base_a:
        claim = answer(f'{{"id": "{base_a}/users/bob"}}', AS_JSON)
        async with serve_app(verifying_app(public_pem, [], claim)) as base_b:

            def moved(request: Request) -> Response:
                return RedirectResponse(f"{base_b}/users/bob", status_code=302)

            async with serve_app(verifying_app(public_pem, [], moved)) as base_c:
                with pytest.raises(OriginMismatch):
                    await transport.fetch_ap_object(f"{base_c}/users/bob", signer=None)
    assert seen_a == []  # the claimed host itself was never asked


async def test_relative_redirects_are_followed(transport: Transport, public_pem: str) -> None:
    def route(request: Request) -> Response:
        if request.url.path == "/old":
            return RedirectResponse("/new?x=1", status_code=308)
        return actor(request)

    async with serve_app(verifying_app(public_pem, [], route)) as base:
        document = await transport.get_json(f"{base}/old", signer=None)
    assert document.url_final == f"{base}/new?x=1"


async def test_redirect_loops_stop_after_max_redirects(
    transport: Transport, public_pem: str
) -> None:
    seen: list[Seen] = []

    def loop(request: Request) -> Response:
        return RedirectResponse("/loop", status_code=302)

    async with serve_app(verifying_app(public_pem, seen, loop)) as base:
        with pytest.raises(RedirectRefused) as info:
            await transport.get_json(f"{base}/loop", signer=None)
    assert "more than 3 redirects" in info.value.public
    assert len(seen) == 4  # the first request and three redirects, then no more


async def test_max_redirects_zero_refuses_any_redirect(public_pem: str) -> None:
    def moved(request: Request) -> Response:
        return RedirectResponse("/elsewhere", status_code=301)

    async with (
        serve_app(verifying_app(public_pem, [], moved)) as base,
        Transport(user_agent=USER_AGENT, allow_private_addresses=True, max_redirects=0) as client,
    ):
        with pytest.raises(RedirectRefused):
            await client.get_json(f"{base}/x", signer=None)


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("ftp://127.0.0.1/x", RedirectRefused),
        ("", RedirectRefused),
        ("http://user:secret@127.0.0.1:1/x", AddressRefused),  # every hop is checked
    ],
)
async def test_bad_redirect_targets_are_refused(
    transport: Transport, public_pem: str, location: str, error: type[Exception]
) -> None:
    def moved(request: Request) -> Response:
        return Response(status_code=302, headers={"Location": location})

    async with serve_app(verifying_app(public_pem, [], moved)) as base:
        with pytest.raises(error) as info:
            await transport.get_json(f"{base}/x", signer=None)
    assert "secret" not in str(info.value)


async def test_cookies_a_peer_sets_are_never_sent(
    transport: Transport, signer: Signer, public_pem: str
) -> None:
    """Federation requests carry their signature and nothing else: a cookie one server
    sets (a tracker, a session) is not kept for the next request, to it or to another."""
    cookies: list[str | None] = []

    def setting(request: Request) -> Response:
        cookies.append(request.headers.get("cookie"))
        response = actor(request) if request.method == "GET" else Response(status_code=202)
        response.set_cookie("tracker", "you-again", path="/")
        return response

    app = Starlette(
        routes=[Route("/users/bob", setting), Route("/inbox", setting, methods=["POST"])]
    )
    async with serve_app(app) as base:
        for _ in range(2):
            await transport.get_json(f"{base}/users/bob", signer=signer)
            result = await transport.post_activity(f"{base}/inbox", b"{}", signer=signer)
            assert result.status == 202
    assert cookies == [None, None, None, None]
