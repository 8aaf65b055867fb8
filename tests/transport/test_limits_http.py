"""The transport's limits against real local peers: size caps, the total deadline, the
SSRF guard (refusing before any connection), network errors, and signed deliveries."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from federation.digests import digest_header
from federation.signatures import Verified
from federation.transport import (
    ACTIVITY_JSON,
    AddressRefused,
    FetchError,
    FetchTimeout,
    NetworkError,
    ResponseTooLarge,
    Signer,
    Transport,
)
from tessera.errors import TesseraError
from tests.transport.conftest import USER_AGENT
from tests.transport.peers import (
    Seen,
    closed_port,
    read_request_head,
    serve_app,
    serve_raw,
    verifying_app,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/activity+json\r\n"


def small_transport(**options: object) -> Transport:
    return Transport(user_agent=USER_AGENT, allow_private_addresses=True, **options)  # type: ignore[arg-type]


# -- size caps ----------------------------------------------------------------------------


async def test_honest_content_length_over_the_cap_is_refused(
    transport: Transport, public_pem: str
) -> None:
    big = JSONResponse({"id": "x", "padding": "a" * 5000}, media_type=ACTIVITY_JSON)
    async with serve_app(verifying_app(public_pem, [], lambda r: big)) as base:
        with pytest.raises(ResponseTooLarge) as info:
            await transport.get_json(f"{base}/x", signer=None, max_bytes=1000)
        document = await transport.get_json(f"{base}/x", signer=None, max_bytes=10_000)
    assert "1000 bytes" in info.value.public
    assert document.data["id"] == "x"


async def test_chunked_answer_over_the_cap_is_cut_off_while_streaming() -> None:
    async def endless_chunks(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"a" * 4096
        while True:  # never ends: only the client's cap can stop this
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()

    async with serve_raw(endless_chunks) as peer, small_transport() as client:
        with pytest.raises(ResponseTooLarge):
            await client.get_json(f"http://127.0.0.1:{peer.port}/x", signer=None, max_bytes=10_000)
        with pytest.raises(ResponseTooLarge):
            await client.get_bytes(f"http://127.0.0.1:{peer.port}/img", max_bytes=10_000)


async def test_declared_length_is_refused_before_reading() -> None:
    """The peer declares 10 MB, sends 10 bytes and stalls: only an up-front refusal is quick
    enough to answer ResponseTooLarge rather than hitting the deadline."""

    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(HEAD + b"Content-Length: 10000000\r\n\r\n" + b'{"id": "x"')
        await writer.drain()
        await asyncio.Event().wait()

    async with serve_raw(liar) as peer, small_transport(total_timeout=5.0) as client:
        with pytest.raises(ResponseTooLarge) as info:
            await client.get_json(f"http://127.0.0.1:{peer.port}/x", signer=None)
    assert "declares more than 1048576 bytes" in info.value.public


async def test_get_bytes_returns_the_body_and_its_type(
    transport: Transport, public_pem: str
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    handler = lambda r: Response(png, media_type="image/png")  # noqa: E731
    seen: list[Seen] = []
    async with serve_app(verifying_app(public_pem, seen, handler)) as base:
        fetched = await transport.get_bytes(f"{base}/media/a.png", max_bytes=1000)
        with pytest.raises(ResponseTooLarge):
            await transport.get_bytes(f"{base}/media/a.png", max_bytes=50)
    assert fetched.data == png
    assert fetched.content_type == "image/png"
    assert fetched.status == 200
    assert "signature" not in seen[0].headers


# -- the total deadline -------------------------------------------------------------------


async def test_a_trickling_body_is_cut_off_by_the_total_deadline() -> None:
    """One byte every 0.3 s never trips a per-read timeout; the total deadline must."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(HEAD + b"Connection: close\r\n\r\n")
        while True:
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.3)

    async with serve_raw(trickle) as peer, small_transport(total_timeout=1.0) as client:
        with pytest.raises(FetchTimeout) as info:
            await client.get_json(f"http://127.0.0.1:{peer.port}/x", signer=None)
    assert info.value.status == 504


async def test_a_trickling_inbox_is_cut_off_by_the_total_deadline(signer: Signer) -> None:
    """Here even the status line and headers arrive one byte at a time."""

    async def trickle_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        for byte in b"HTTP/1.1 202 Accepted\r\nX-Slow: " + b"a" * 1000:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.3)

    async with serve_raw(trickle_head) as peer, small_transport(total_timeout=1.0) as client:
        with pytest.raises(FetchTimeout):
            await client.post_activity(f"http://127.0.0.1:{peer.port}/inbox", b"{}", signer=signer)


# -- the SSRF guard -----------------------------------------------------------------------


async def _connection_counter(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request_head(reader)
    writer.write(HEAD + b"Content-Length: 2\r\n\r\n{}")
    await writer.drain()


def _private_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",  # a name: refused by the connect-time check
        "http://[::1]/",
        f"http://[::1]:{port}/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://0.0.0.0:{port}/",
        f"https://127.0.0.1:{port}/",
        # Numeric spellings of 127.0.0.1: parsed without DNS, refused by what they resolve to.
        f"http://2130706433:{port}/",
        f"http://127.1:{port}/",
        f"http://0x7f.0.0.1:{port}/",
        f"http://0177.0.0.1:{port}/",  # httpx rejects it as a URL: refused all the same
    ]


async def test_private_addresses_are_refused_before_connecting(signer: Signer) -> None:
    async with (
        serve_raw(_connection_counter) as peer,
        Transport(user_agent=USER_AGENT, allow_private_addresses=False) as client,
    ):
        for url in _private_urls(peer.port):
            with pytest.raises(AddressRefused) as info:
                await client.get_json(url, signer=signer)
            assert info.value.status == 502
            with pytest.raises(AddressRefused):
                await client.get_bytes(url, max_bytes=100)
            with pytest.raises(AddressRefused):
                await client.post_activity(url + "inbox", b"{}", signer=signer)
        assert peer.connections == 0


async def test_the_same_peer_is_reachable_when_private_addresses_are_allowed() -> None:
    """The control for the test above: the counter does count real connections."""
    async with serve_raw(_connection_counter) as peer, small_transport() as client:
        document = await client.get_json(f"http://localhost:{peer.port}/", signer=None)
    assert document.data == {}
    assert peer.connections == 1


# -- network errors -----------------------------------------------------------------------


async def test_a_closed_port_is_a_network_error(transport: Transport, signer: Signer) -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}/x"
    with pytest.raises(NetworkError) as info:
        await transport.get_json(url, signer=signer)
    assert isinstance(info.value, FetchError)
    assert isinstance(info.value, TesseraError)
    assert info.value.public == f"request to http://127.0.0.1:{port} failed: could not connect"
    with pytest.raises(NetworkError):
        await transport.post_activity(url, b"{}", signer=signer)


async def test_a_peer_that_hangs_up_is_a_network_error(transport: Transport) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n")
        await writer.drain()

    async with serve_raw(hang_up) as peer:
        with pytest.raises(NetworkError):
            await transport.get_bytes(f"http://127.0.0.1:{peer.port}/x", max_bytes=1000)


# -- deliveries ---------------------------------------------------------------------------


async def test_signed_post_arrives_with_a_matching_digest(
    transport: Transport, signer: Signer, public_pem: str
) -> None:
    seen: list[Seen] = []
    body = json.dumps({"type": "Follow", "actor": "http://gallery.test/users/alice"}).encode()
    handler = lambda r: Response(b"accepted", status_code=202)  # noqa: E731
    async with serve_app(verifying_app(public_pem, seen, handler)) as base:
        result = await transport.post_activity(f"{base}/users/bob/inbox", body, signer=signer)
    assert (result.status, result.retry_after, result.body_snippet) == (202, None, "accepted")
    assert result.ok
    [request] = seen
    assert request.method == "POST"
    assert request.body == body
    assert request.headers["content-type"] == ACTIVITY_JSON
    assert request.headers["digest"] == digest_header(body)
    assert request.headers["user-agent"] == USER_AGENT
    assert isinstance(request.verdict, Verified), request.verdict
    assert request.verdict.covered == (
        "(request-target)",
        "host",
        "date",
        "digest",
        "content-type",
    )


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, "30", 30.0),
        (503, format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (503, format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
        (429, "whenever", None),
        (500, None, None),
        (410, None, None),
        (302, None, None),  # deliveries never follow redirects
    ],
)
async def test_delivery_statuses_are_data_not_errors(
    signer: Signer, public_pem: str, status: int, retry_after: str | None, expected: float | None
) -> None:
    def handler(request: Request) -> Response:
        headers = {"Retry-After": retry_after} if retry_after else {}
        if status == 302:
            headers["Location"] = "/elsewhere"
        return Response(b"x" * 5000, status_code=status, headers=headers)

    async with (
        serve_app(verifying_app(public_pem, [], handler)) as base,
        small_transport(clock=lambda: NOW) as client,
    ):
        result = await client.post_activity(f"{base}/inbox", b"{}", signer=signer)
    assert result.status == status
    assert result.retry_after == expected
    assert not result.ok
    assert result.body_snippet == "x" * 2048


# -- construction -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"user_agent": ""},
        {"user_agent": "Tessera\r\nX-Evil: 1"},
        {"max_response_bytes": 0},
        {"total_timeout": 0},
        {"connect_timeout": -1},
        {"max_redirects": -1},
    ],
)
def test_bad_construction_values_are_refused(options: dict[str, object]) -> None:
    values: dict[str, object] = {"user_agent": USER_AGENT, "allow_private_addresses": True}
    with pytest.raises(ValueError):
        Transport(**(values | options))  # type: ignore[arg-type]
