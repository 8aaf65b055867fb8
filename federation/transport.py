"""The one outbound HTTP client of Tessera: every request to another server goes through here.

Fetching actors, keys, objects, WebFinger documents and remote images, and delivering
activities to inboxes, all share the same rules, so they live in one place:

* **SSRF guard** (:mod:`federation.transport_guard`): only public addresses unless
  ``allow_private_addresses``; checked where the socket is opened, on every hop.
* **A total deadline** per call (``asyncio.timeout``), redirects included. httpx's timeouts
  apply per network read, so a server trickling one byte every 0.3 s keeps a "1 s timeout"
  request alive indefinitely; the deadline cannot be stretched like that.
* **A streamed size cap**: httpx would buffer a body of any size, so bodies are read from
  the stream and the request is aborted as soon as the count passes the cap (and before
  reading at all when Content-Length already declares more). ``Accept-Encoding: identity``
  is sent and compressed answers are refused, so the cap counts what lands in memory.
* **Redirects followed by hand** (GET only, at most ``max_redirects``), each hop re-checked
  and re-signed; never from https down to http.
* **Errors from our own tree** (:mod:`federation.transport_errors`), never httpx's.

Only ``federation/transport*.py`` may import httpx (``tests/test_architecture.py``).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import httpx

from federation.signatures import parse_http_date, sign_request
from federation.transport_errors import (
    AddressRefused,
    BadContentType,
    BadDocument,
    FetchError,
    FetchTimeout,
    NetworkError,
    OriginMismatch,
    RedirectRefused,
    RemoteHTTPError,
    ResponseTooLarge,
)
from federation.transport_guard import (
    check_answer,
    check_url,
    media_type,
    next_hop,
    origin_of,
    read_capped,
    read_snippet,
)

__all__ = [
    "ACTIVITY_JSON",
    "AP_ACCEPT",
    "JSON_MEDIA_TYPES",
    "AddressRefused",
    "BadContentType",
    "BadDocument",
    "DeliveryResult",
    "FetchError",
    "FetchTimeout",
    "FetchedBytes",
    "FetchedDocument",
    "NetworkError",
    "OriginMismatch",
    "RedirectRefused",
    "RemoteHTTPError",
    "ResponseTooLarge",
    "Signer",
    "Transport",
    "media_type",
    "parse_retry_after",
]

AP_ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
ACTIVITY_JSON = "application/activity+json"
JSON_MEDIA_TYPES = frozenset(
    {"application/activity+json", "application/ld+json", "application/json", "application/jrd+json"}
)
"""What a JSON fetch accepts back (parameters such as ``profile`` are ignored)."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class Signer:
    """Whose key signs a request: the actor's ``publicKey.id`` and its private key PEM."""

    key_id: str
    private_key_pem: str


@dataclass(frozen=True)
class FetchedDocument:
    """A JSON object fetched from ``url_final`` (after redirects); header names lower-case."""

    url_final: str
    status: int
    headers: Mapping[str, str]
    data: dict[str, Any]


@dataclass(frozen=True)
class FetchedBytes:
    """A body fetched as bytes (remote images); ``content_type`` as sent, possibly empty."""

    url_final: str
    status: int
    content_type: str
    data: bytes


@dataclass(frozen=True)
class DeliveryResult:
    """What an inbox answered; statuses are data here, the retry policy interprets them."""

    status: int
    retry_after: float | None
    body_snippet: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP date (never < 0)."""
    if value is None:
        return None
    text = value.strip()
    if re.fullmatch(r"[0-9]{1,10}", text):
        return float(int(text))
    moment = parse_http_date(text)
    if moment is None:
        return None
    return max(0.0, (moment - now).total_seconds())


POOL_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30)
"""At most 64 requests at once, and 16 connections kept open between requests for 30 s
(the ones released last; ``federation.transport_pool.IdleCappedConnector``)."""


class Transport:
    """Outbound HTTP for federation; build one per process and ``close()`` it on shutdown.

    Built from plain values (not :class:`tessera.config.Config`) so the composition root
    decides, and tests can build one without a configuration file. ``user_agent`` should
    name the instance (``Tessera/0.1.0 (+https://example.org)``): admins of other servers
    read it when they wonder who is fetching. ``clock`` (returning an aware datetime) sets
    the signed Date header and the reference for Retry-After dates.
    """

    def __init__(
        self,
        *,
        user_agent: str,
        allow_private_addresses: bool,
        max_response_bytes: int = 1_048_576,
        total_timeout: float = 15.0,
        connect_timeout: float = 5.0,
        max_redirects: int = 3,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not user_agent or "\r" in user_agent or "\n" in user_agent:
            raise ValueError("user_agent must be a non-empty single line")
        if max_response_bytes < 1 or total_timeout <= 0 or connect_timeout <= 0:
            raise ValueError("sizes and timeouts must be positive")
        if max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        self._allow_private = allow_private_addresses
        self._max_bytes = max_response_bytes
        self._total = total_timeout
        self._max_redirects = max_redirects
        self._clock = clock or (lambda: datetime.now(UTC))
        from federation.transport_pool import GuardedHTTPTransport  # aiohttp: on first use

        self._pool = GuardedHTTPTransport(allow_private=allow_private_addresses, limits=POOL_LIMITS)
        self._client = httpx.AsyncClient(
            transport=self._pool,
            headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
            timeout=httpx.Timeout(total_timeout, connect=connect_timeout),
            follow_redirects=False,
            trust_env=False,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- public calls -----------------------------------------------------------------

    async def get_json(
        self,
        url: str,
        *,
        signer: Signer | None,
        accept: str = AP_ACCEPT,
        max_bytes: int | None = None,
    ) -> FetchedDocument:
        """GET a JSON object (signed when ``signer`` is given), following redirects.

        The answer must be 2xx with a JSON media type (ActivityStreams, JSON-LD, JSON, JRD)
        and its body a JSON object; anything else raises a :class:`FetchError` subclass.
        """
        limit = max_bytes or self._max_bytes
        async with self._deadline(url):
            final, response, body = await self._get(url, signer, accept, limit, JSON_MEDIA_TYPES)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise BadDocument.for_url(final, "the answer is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadDocument.for_url(final, "the JSON answer is not an object")
        headers = {k.lower(): v for k, v in response.headers.items()}
        return FetchedDocument(final, response.status_code, headers, data)

    async def fetch_ap_object(self, url: str, *, signer: Signer | None) -> dict[str, Any]:
        """GET an ActivityPub object whose ``id`` lives where it was fetched from.

        The origin rule: ``id`` must be on the same scheme, host and port as the final URL
        (after redirects). Otherwise any server could serve a document claiming to be an
        actor or a post of another server, and we would store it under that identity.
        """
        document = await self.get_json(url, signer=signer)
        ident = document.data.get("id")
        if not isinstance(ident, str) or not ident:
            raise BadDocument.for_url(document.url_final, "the document has no id")
        expected = origin_of(document.url_final)
        if expected is None or origin_of(ident) != expected:
            raise OriginMismatch.for_url(
                document.url_final, "id on another host than the document was fetched from"
            )
        return document.data

    async def get_bytes(
        self, url: str, *, signer: Signer | None = None, max_bytes: int, accept: str = "*/*"
    ) -> FetchedBytes:
        """GET a body as bytes (remote media), capped at ``max_bytes`` while streaming.

        The media type is not judged here: the media pipeline sniffs formats from bytes.
        """
        async with self._deadline(url):
            final, response, body = await self._get(url, signer, accept, max_bytes, None)
        content_type = response.headers.get("content-type", "")
        return FetchedBytes(final, response.status_code, content_type, body)

    async def post_activity(self, inbox_url: str, body: bytes, *, signer: Signer) -> DeliveryResult:
        """POST a signed activity to an inbox; never follows redirects.

        HTTP statuses (including 3xx, 4xx, 5xx) come back as a :class:`DeliveryResult` for
        the delivery queue's retry policy; network failures, timeouts and refused addresses
        raise :class:`NetworkError`, :class:`FetchTimeout` and :class:`AddressRefused`.
        """
        check_url(inbox_url, allow_private=self._allow_private)
        headers = sign_request(
            "POST",
            inbox_url,
            {"Content-Type": ACTIVITY_JSON, "Accept": AP_ACCEPT},
            body,
            key_id=signer.key_id,
            private_key_pem=signer.private_key_pem,
            now=self._clock(),
        )
        async with self._deadline(inbox_url), self._mapped(inbox_url):
            request = self._client.build_request("POST", inbox_url, content=body, headers=headers)
            response = await self._send(request)
            try:
                snippet = await read_snippet(response)
            finally:
                await response.aclose()
        retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock())
        return DeliveryResult(response.status_code, retry_after, snippet)

    # -- internals --------------------------------------------------------------------

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send one request through the connection pool itself, its body left to stream.

        The request is built by the client (its default headers and timeouts), but
        ``AsyncClient.send`` is bypassed: what it adds is redirect handling (we follow
        redirects by hand, checking each hop), authentication (a federation request
        carries only its signature), a cookie jar (a cookie one server sets must never
        go with a request to another) and a log line per request, and it cost about a
        seventh of a delivery's CPU (~1,050 -> ~850 µs a signed POST to the benchmark's
        sink at 64 in flight; bench/analysis.md)."""
        response = await self._pool.handle_async_request(request)
        response.request = request
        return response

    @asynccontextmanager
    async def _deadline(self, url: str) -> AsyncIterator[None]:
        """One deadline for everything inside (DNS, connects, redirects, body)."""
        try:
            async with asyncio.timeout(self._total):
                yield
        except TimeoutError:
            raise FetchTimeout.for_url(
                url, f"no complete answer within {self._total:g} s"
            ) from None

    @asynccontextmanager
    async def _mapped(self, url: str) -> AsyncIterator[None]:
        """httpx's exceptions -> ours, so no caller ever needs to know httpx."""
        try:
            yield
        except httpx.TimeoutException:
            raise FetchTimeout.for_url(url, "the server did not answer in time") from None
        except httpx.ConnectError:
            raise NetworkError.for_url(url, "could not connect") from None
        except httpx.InvalidURL:
            raise AddressRefused.for_url(url, "not a valid URL") from None
        except httpx.HTTPError:
            raise NetworkError.for_url(url, "the connection failed") from None

    def _headers(self, url: str, accept: str, signer: Signer | None) -> dict[str, str]:
        base = {"Accept": accept}
        if signer is None:
            return base
        return sign_request(
            "GET",
            url,
            base,
            None,
            key_id=signer.key_id,
            private_key_pem=signer.private_key_pem,
            now=self._clock(),
        )

    async def _get(
        self,
        url: str,
        signer: Signer | None,
        accept: str,
        limit: int,
        media_types: frozenset[str] | None,
    ) -> tuple[str, httpx.Response, bytes]:
        """GET with hand-made redirects; returns (final URL, response, body)."""
        current = url
        for hop in range(self._max_redirects + 1):
            check_url(current, allow_private=self._allow_private)
            async with self._mapped(current):
                request = self._client.build_request(
                    "GET", current, headers=self._headers(current, accept, signer)
                )
                response = await self._send(request)
                try:
                    status = response.status_code
                    if status in _REDIRECTS:
                        if hop == self._max_redirects:
                            raise RedirectRefused.for_url(
                                url, f"more than {self._max_redirects} redirects"
                            )
                        current = next_hop(current, response.headers.get("location"))
                        continue
                    if not 200 <= status < 300:
                        raise RemoteHTTPError.for_status(current, status)
                    check_answer(current, response, media_types)
                    body = await read_capped(current, response, limit)
                    return current, response, body
                finally:
                    await response.aclose()
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover
