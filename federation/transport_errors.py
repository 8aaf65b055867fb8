"""The errors of the outbound HTTP client (:mod:`federation.transport`).

Everything that can go wrong while talking to another server ends as a :class:`FetchError`
subclass, never as an httpx/httpcore exception: callers (the inbox's key fetch, the delivery
worker, a remote-account search) must not import httpx, and they need to tell the cases
apart - a refused address is never worth retrying, a timeout or a refused connection is.

Every message is safe to show: it names the remote host (scheme, host and port, never the
path or any credentials) and a short reason, never a traceback or remote-controlled text
beyond a sanitised media type. The HTTP status is the one *we* would answer with (502 Bad
Gateway: the other server failed us; 504 for a timeout); the remote's own status, when
there is one, is ``remote_status``.
"""

from __future__ import annotations

from typing import Self
from urllib.parse import urlsplit

from tessera.errors import TesseraError

__all__ = [
    "AddressRefused",
    "BadContentType",
    "BadDocument",
    "FetchError",
    "FetchTimeout",
    "NetworkError",
    "OriginMismatch",
    "RedirectRefused",
    "RemoteHTTPError",
    "ResponseTooLarge",
    "describe_host",
]


def describe_host(url: str) -> str:
    """``scheme://host[:port]`` of a URL for messages: no credentials, path or query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "an invalid URL"
    if not host:
        return "an invalid URL"
    shown = f"[{host}]" if ":" in host else host
    if port is not None:
        shown = f"{shown}:{port}"
    return f"{parts.scheme}://{shown}" if parts.scheme else shown


class FetchError(TesseraError):
    """A request to another server failed; ``host`` and ``reason`` are kept for logs."""

    status = 502

    def __init__(
        self, public: str, *, status: int | None = None, host: str = "", reason: str = ""
    ) -> None:
        super().__init__(public, status=status)
        self.host = host
        self.reason = reason

    @classmethod
    def for_url(cls, url: str, reason: str) -> Self:
        """The usual way to build one: ``request to https://host failed: <reason>``."""
        host = describe_host(url)
        return cls(f"request to {host} failed: {reason}", host=host, reason=reason)


class AddressRefused(FetchError):
    """The URL is not one we fetch: not http(s), no host, credentials, or an address that
    is loopback/private/link-local/... (the SSRF guard). Never worth retrying."""


class NetworkError(FetchError):
    """The host name did not resolve, the connection was refused or broke, TLS failed."""


class FetchTimeout(FetchError):
    """The total deadline (or a connect/read timeout) passed before the answer was complete."""

    status = 504


class ResponseTooLarge(FetchError):
    """The answer declared or streamed more bytes than the cap for this kind of request."""


class BadContentType(FetchError):
    """The answer is not of a media type we asked for (e.g. an HTML page, not JSON)."""


class BadDocument(FetchError):
    """The body is not usable: invalid JSON, JSON that is not an object, no ``id``, an
    encoding we did not ask for."""


class OriginMismatch(FetchError):
    """An ActivityPub document claims an ``id`` on another host than the one it came from;
    accepting it would let any server speak for any other."""


class RedirectRefused(FetchError):
    """Too many redirects, a redirect without Location, to a non-http(s) URL, or from
    https down to http."""


class RemoteHTTPError(FetchError):
    """The other server answered with an error status (kept in ``remote_status``)."""

    def __init__(
        self,
        public: str,
        *,
        status: int | None = None,
        host: str = "",
        reason: str = "",
        remote_status: int = 0,
    ) -> None:
        super().__init__(public, status=status, host=host, reason=reason)
        self.remote_status = remote_status

    @classmethod
    def for_status(cls, url: str, remote_status: int) -> RemoteHTTPError:
        error = cls.for_url(url, f"the server answered HTTP {remote_status}")
        error.remote_status = remote_status
        return error
