"""The limits of the outbound HTTP client: which addresses we connect to, what we accept back.

Anyone on the fediverse can make us fetch a URL (an actor's key, an avatar, a redirect), so
without a guard a stranger could make the server read its own admin ports, the cloud
metadata service at 169.254.169.254 or the office network. Unless
``federation.allow_private_addresses`` is set (tests, closed networks), a request is only
made to an http(s) URL whose host resolves to globally routable addresses - *all* of them.

DNS rebinding: checking a name and then letting the HTTP library resolve it again opens a
window in which a hostile DNS server answers "public" to the check and "127.0.0.1" to the
connect. So the check happens where the socket is opened: the connection pool (aiohttp's,
behind httpx's client API through ``httpx-aiohttp``, in :mod:`federation.transport_pool`)
asks its guarded resolver for the
addresses of a host name; it resolves the name once, refuses it if any address is not
public, and hands back only the vetted IP literals, which the pool then connects to. TLS
still verifies the certificate against the host *name* (aiohttp passes the URL's host as
``server_hostname``, whatever address it connected to). Every connection goes through it
- the first request, every redirect hop (each hop opens its own connection unless one to
the same, already vetted origin is kept alive). aiohttp never asks a resolver about an IP
literal, so the pool's transport runs :func:`check_url` on every request it sends,
which judges literals; legacy numeric forms (``127.1``, ``2130706433``) are refused by
aiohttp itself before any connection.

The pool is aiohttp's rather than httpcore's because it costs about half the CPU per
request, and a fan-out to a thousand servers is bound by exactly that; httpx stays the API
the rest of the code (and its error mapping) sees.

On the way back, :func:`check_answer` and :func:`read_capped` refuse compressed or
unexpected media types and bodies past a size cap while they stream in.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from urllib.parse import urljoin, urlsplit

import httpx

from federation.transport_errors import (
    AddressRefused,
    BadContentType,
    BadDocument,
    NetworkError,
    RedirectRefused,
    ResponseTooLarge,
)

__all__ = [
    "IPAddress",
    "check_address",
    "check_answer",
    "check_url",
    "media_type",
    "next_hop",
    "origin_of",
    "read_capped",
    "read_snippet",
    "resolve_checked",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
"""RFC 6052 well-known NAT64 prefix: the last 32 bits are an IPv4 address."""

_CLASSES: tuple[tuple[str, str], ...] = (
    ("is_loopback", "a loopback address"),
    ("is_unspecified", "an unspecified address"),
    ("is_link_local", "a link-local address"),
    ("is_multicast", "a multicast address"),
    ("is_private", "a private address"),
    ("is_reserved", "a reserved address"),
    # fec0::/10, deprecated (RFC 3879) but still routed inside some networks; Python
    # counts it as global. IPv6 only: an IPv4 address has no such attribute.
    ("is_site_local", "a site-local address"),
)

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 form stands for (mapped, 6to4, NAT64), with its name."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    return None


def check_address(ip: IPAddress | str) -> str | None:
    """Why we must not connect to ``ip`` (a short reason), or None when it is public.

    IPv6 forms that carry an IPv4 address (``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64
    ``64:ff9b::/96``) are judged by the IPv4 address they reach: ``::ffff:127.0.0.1`` is
    loopback, while a NAT64 address of a public server (what DNS64 hands out on IPv6-only
    hosts) stays allowed. Anything Python does not consider globally reachable (e.g. the
    100.64.0.0/10 carrier-grade NAT range) is refused as well.
    """
    if isinstance(ip, str):
        try:
            ip = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner, form = embedded
            reason = check_address(inner)
            return f"{reason} in {form} form" if reason else None
    for attribute, reason in _CLASSES:
        if getattr(ip, attribute, False):
            return reason
    if not ip.is_global:
        return "not a globally routable address"
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse URLs we never fetch, before any DNS or connection.

    Only http(s) URLs with a host and without credentials (httpx would turn them into an
    Authorization header). A literal IP host is checked here already, so an obviously
    private target costs nothing; host names are checked at connect time by
    the pool's guarded resolver (:mod:`federation.transport_pool`).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a malformed port
    except ValueError:
        raise AddressRefused.for_url(url, "not a valid URL") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise AddressRefused.for_url(url, "only http and https URLs are fetched")
    if not host:
        raise AddressRefused.for_url(url, "the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused.for_url(url, "URLs with credentials are not fetched")
    literal = _literal(host)
    if literal is not None and not allow_private:
        reason = check_address(literal)
        if reason:
            raise AddressRefused.for_url(url, f"{literal} is {reason}")


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, lower-cased host, port with defaults filled in), or None if not http(s)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    return scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme]


def next_hop(current: str, location: str | None) -> str:
    """The absolute URL a redirect points to, or :class:`RedirectRefused`.

    Relative ``Location`` values are resolved against the current URL. A hop from https to
    http is refused: it would send our signed request (and trust the answer) in clear text.
    """
    if not location or not location.strip():
        raise RedirectRefused.for_url(current, "a redirect without a Location header")
    target = urljoin(current, location.strip())
    scheme = urlsplit(target).scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise RedirectRefused.for_url(current, "a redirect to a URL that is not http(s)")
    if urlsplit(current).scheme.lower() == "https" and scheme == "http":
        raise RedirectRefused.for_url(current, "a redirect from https to http")
    return target


async def resolve_checked(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Resolve ``host`` once and return the IP literals to connect to, in resolver order.

    With ``allow_private`` False, the whole name is refused when ANY address is not public:
    a name that also points at 127.0.0.1 is hostile or misconfigured either way.
    """
    url = f"//{host}:{port}"
    literal = _literal(host)
    if literal is not None:
        addresses: list[str] = [str(literal)]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise NetworkError.for_url(url, "the host name does not resolve") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise NetworkError.for_url(url, "the host name does not resolve")
    if not allow_private:
        for address in addresses:
            reason = check_address(address)
            if reason:
                raise AddressRefused.for_url(url, f"{host} resolves to {reason}")
    return addresses


# -- what we accept back ----------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_SNIPPET_BYTES = 2048


def media_type(content_type: str | None) -> str:
    """The lower-cased ``type/subtype`` of a Content-Type value, '' when absent or malformed.

    Only token characters survive, so the value can go into an error message safely."""
    if not content_type:
        return ""
    candidate = content_type.split(";", 1)[0].strip().lower()
    return candidate[:100] if _TOKEN.fullmatch(candidate) else ""


def check_answer(url: str, response: httpx.Response, media_types: frozenset[str] | None) -> None:
    """Refuse a compressed answer (we asked for identity; decoding would let a small body
    expand past the cap) and, when ``media_types`` is given, any other media type."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise BadDocument.for_url(url, "the answer uses a content encoding we did not ask for")
    if media_types is None:
        return
    found = media_type(response.headers.get("content-type"))
    if found not in media_types:
        raise BadContentType.for_url(
            url, f"expected a JSON document, got {found or 'no valid content type'}"
        )


async def read_capped(url: str, response: httpx.Response, limit: int) -> bytes:
    """Read at most ``limit`` bytes as they arrive; refuse at once when Content-Length
    already declares more. httpx's ``aread()`` would buffer any size first."""
    declared = response.headers.get("content-length")
    if declared and re.fullmatch(r"\s*[0-9]+\s*", declared) and int(declared) > limit:
        raise ResponseTooLarge.for_url(url, f"the answer declares more than {limit} bytes")
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_raw():
        total += len(chunk)
        if total > limit:
            raise ResponseTooLarge.for_url(url, f"the answer is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_snippet(response: httpx.Response) -> str:
    """The start of an inbox's answer, for logs; the rest is never read."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        total += len(chunk)
        if total >= _SNIPPET_BYTES:
            break
    return b"".join(chunks)[:_SNIPPET_BYTES].decode("utf-8", errors="replace")
