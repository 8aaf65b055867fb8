"""The connection pool under the federation transport: aiohttp's, behind httpx's API.

The rules it enforces live in :mod:`federation.transport_guard` (which addresses may be
connected to, and why the check must happen when the socket is opened); this module is
where they meet aiohttp. It is a module of its own, imported when a
:class:`federation.transport.Transport` is built rather than when the app is imported,
because aiohttp is about a tenth of a second of start-up and several megabytes that a
process which never sends a request (the CLI, a web process before its first delivery or
fetch) does not need.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from functools import cache
from typing import Any

import aiohttp
import certifi
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from httpx_aiohttp import AiohttpTransport

from federation.transport_guard import check_url, resolve_checked

__all__ = ["GuardedHTTPTransport", "GuardedResolver", "IdleCappedConnector", "tls_context"]


@cache
def tls_context() -> ssl.SSLContext:
    """One verifying context for every transport of the process: loading the CA bundle
    costs tens of milliseconds, and a context may be shared by connections and threads."""
    return ssl.create_default_context(cafile=certifi.where())


class GuardedResolver(AbstractResolver):
    """An aiohttp resolver that hands the connector only addresses :func:`resolve_checked`
    vetted, so the connection goes to exactly the IP that was checked."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await resolve_checked(host, port, allow_private=self._allow_private)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


class IdleCappedConnector(aiohttp.TCPConnector):
    """aiohttp's connector, keeping at most ``max_idle`` connections open between requests.

    aiohttp keeps every connection it is handed back until its keep-alive timeout,
    however many there are (its ``limit`` counts connections in use only), so a fan-out to
    a thousand servers left a thousand sockets open, each a file descriptor, for the
    timeout after it, and a larger one could run the process out of descriptors in the
    middle of its deliveries. Past ``max_idle`` (httpx's ``max_keepalive_connections``,
    which aiohttp has no setting for) the connection released longest ago is closed, as
    httpx's own pool does. This reaches into aiohttp's idle table (``_conns``, what its own
    clean-up walks); ``tests/transport/test_idle_connections.py`` checks it with real
    sockets, so a change there fails a test rather than passing unnoticed."""

    def __init__(self, *, max_idle: int | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_idle = max_idle  # None: as many as aiohttp keeps

    def _release(self, *args: Any, **kwargs: Any) -> None:
        # Whatever aiohttp passes (the key, the protocol, whether to close it), passed on.
        super()._release(*args, **kwargs)
        if self._max_idle is None:
            return
        idle = self._conns
        excess = sum(map(len, idle.values())) - self._max_idle
        while excess > 0:
            # Each key's connections are in the order they were released; at most
            # max_idle + 1 keys hold any, so the scan is short.
            oldest = min((k for k, held in idle.items() if held), key=lambda k: idle[k][0][1])
            stale, _released_at = idle[oldest].popleft()
            if not idle[oldest]:
                del idle[oldest]
            transport = stale.transport
            stale.close()
            if oldest.is_ssl and not self._cleanup_closed_disabled:
                self._cleanup_closed_transports.append(transport)
            excess -= 1


class GuardedHTTPTransport(AiohttpTransport):
    """httpx's client API over aiohttp's connection pool (``httpx-aiohttp``).

    Every request's URL passes :func:`check_url` here, at the transport, and every host
    name is resolved by :class:`GuardedResolver` when a connection is opened (aiohttp
    does not ask a resolver for IP literals, which ``check_url`` has judged). HTTP/1.1,
    no proxies or ``.netrc`` from the environment, no redirects (the caller follows them
    by hand), no decompression, no DNS cache of our own beyond one connection attempt.
    aiohttp's connection errors are reported as the httpx errors they are: a refused
    connect as ``ConnectError``, a peer hanging up as ``ReadError``, and a host aiohttp
    will not connect to (legacy numeric IPv4 forms such as ``127.1``) as ``InvalidURL``.
    """

    def __init__(self, *, allow_private: bool, limits: httpx.Limits) -> None:
        context = tls_context()
        self._allow_private = allow_private

        def session() -> aiohttp.ClientSession:
            connector = IdleCappedConnector(
                max_idle=limits.max_keepalive_connections,
                resolver=GuardedResolver(allow_private=allow_private),
                use_dns_cache=False,
                ssl=context,
                limit=limits.max_connections or 0,
                keepalive_timeout=limits.keepalive_expiry or 15,
            )
            return aiohttp.ClientSession(connector=connector, trust_env=False)

        super().__init__(verify=context, trust_env=False, limits=limits, client=session)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        check_url(str(request.url), allow_private=self._allow_private)
        try:
            return await super().handle_async_request(request)
        except httpx.TransportError as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.InvalidURL):  # e.g. 2130706433, 127.1: never opened
                raise httpx.InvalidURL(str(cause)) from cause
            if isinstance(cause, aiohttp.ClientConnectorError):
                raise httpx.ConnectError(str(cause)) from cause
            if isinstance(cause, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
                raise
            if isinstance(cause, aiohttp.ClientError):
                raise httpx.ReadError(str(cause)) from cause
            raise
