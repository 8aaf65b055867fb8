"""gzip for the answers that are the same for everyone who asks.

Why the instance does it itself: it is meant to run on its own (one command, no reverse
proxy in front), and a gallery page of ~31 KiB is ~3 KiB gzipped, a tenth of the bytes to
a reader on a phone. The anonymous page cache (``web.page_cache``) keeps its pages
gzipped, compressed once when a page is stored: the same memory then holds ten times the
pages, and a hit costs no compression.

Why only those answers: a compressed answer's length tells how well its parts compress
together, so an answer holding a secret next to text an attacker chooses (a reflected
query, a post they sent) leaks the secret to someone who can watch the lengths on the
wire and make the victim's browser ask again and again (BREACH). Tessera compresses only
what carries no secret of the reader's: requests without a session cookie, an
``Authorization`` header or an HTTP signature, answers that set no cookie and printed no
CSRF token (``web.context.csrf_token`` marks the request when a page prints one). A
signed-in reader's pages, the client API with a token and signed ActivityPub fetches go
out as they are; an operator who weighs that risk differently can compress them in a
reverse proxy.
"""

from __future__ import annotations

import gzip
from collections.abc import Awaitable, Callable, Iterable

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from federation.negotiation import Remembered

KEPT_LEVEL = 6
"""For pages the cache keeps, compressed once per TTL and sent many times: zlib's default,
the better ratio (a gallery page in ~0.15 ms to 9% of its size)."""
ONCE_LEVEL = 1
"""For answers compressed for one request, on the event loop: a 79 KB page of the client
API's public timeline in ~0.2 ms to 6.9 KB, against ~0.5 ms and 5.7 KB at level 6 (a
page costs ~1.7 ms to make)."""
MIN_BYTES = 1024
"""Smaller answers gain less than gzip's own framing and the work of it."""
MAX_BYTES = 256 * 1024
"""Larger bodies pass as they are: compression runs on the event loop, and anyone may ask
for a shared answer again and again (256 KiB is a few milliseconds at most; a page is
~31 KiB)."""

COMPRESSIBLE = (
    b"text/",
    b"application/json",
    b"application/activity+json",
    b"application/ld+json",
    b"application/jrd+json",
    b"application/xrd+xml",
    b"application/xml",
    b"application/atom+xml",
    b"application/rss+xml",
    b"application/javascript",
    b"image/svg+xml",
)
PRINTED_CSRF = "tessera_csrf_printed"
"""Set in the request's scope when a page printed a CSRF token (a secret of the reader's)."""
NEW_CSRF = "tessera_new_csrf"
"""Set when the answer issues a CSRF cookie (``web.middleware.SecurityHeaders``)."""


@Remembered
def accepts_gzip(value: str | None) -> bool:
    """Whether an ``Accept-Encoding`` value accepts gzip (RFC 9110 section 12.5.3).

    ``gzip`` or ``x-gzip`` with a weight above zero, or ``*`` above zero when gzip is not
    named; ``gzip;q=0`` refuses it whatever else the value says.
    """
    if not value:
        return False
    named: float | None = None
    wildcard: float | None = None
    for part in value.split(","):
        coding, _, params = part.partition(";")
        coding = coding.strip().lower()
        weight = 1.0
        for param in params.split(";"):
            name, _, number = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(number.strip())
                except ValueError:
                    weight = 0.0
        if coding in ("gzip", "x-gzip"):
            named = weight if named is None else max(named, weight)
        elif coding == "*":
            wildcard = weight
    if named is not None:
        return named > 0
    return wildcard is not None and wildcard > 0


def shared_request(scope: Scope, session_cookie: str) -> bool:
    """No session cookie, no ``Authorization``, no HTTP signature: the answer is not made for
    one reader. The cookie is read with the parser that signs readers in (a substring test
    would miss ``tessera_session =TOKEN``, which that parser accepts)."""
    cookies: list[str] = []
    for name, value in scope["headers"]:
        if name in (b"authorization", b"signature", b"signature-input"):
            return False
        if name == b"cookie":
            cookies.append(value.decode("latin-1"))
    return not (cookies and session_cookie in cookie_parser("; ".join(cookies)))


def made_for_this_reader(scope: Scope, headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """The answer holds something of this reader's: it sets a cookie, issues a CSRF
    cookie, or printed a CSRF token. Such an answer is neither compressed nor kept."""
    if scope.get(PRINTED_CSRF) or scope.get(NEW_CSRF):
        return True
    return any(n.lower() == b"set-cookie" for n, _ in headers)


def request_accepts_gzip(scope: Scope) -> bool:
    values = [v.decode("latin-1") for n, v in scope["headers"] if n == b"accept-encoding"]
    return accepts_gzip(", ".join(values)) if values else False


def compressible(headers: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...]) -> bool:
    """A textual answer not already encoded."""
    kind = b""
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-encoding":
            return False
        if lowered == b"content-type":
            kind = value.lower()
    return kind.startswith(COMPRESSIBLE)


def gzip_bytes(body: bytes, level: int = KEPT_LEVEL) -> bytes:
    """The same bytes for the same body (no timestamp in the header), so a page compressed
    twice is one representation."""
    return gzip.compress(body, level, mtime=0)


def gunzip(body: bytes) -> bytes:
    return gzip.decompress(body)


def with_vary(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``Vary: Accept-Encoding`` added to (or merged into) the headers: a cache in between
    must not hand the gzipped bytes to a client that did not ask for them."""
    out = []
    merged = False
    for name, value in headers:
        if name.lower() == b"vary":
            present = {v.strip().lower() for v in value.split(b",")}
            if b"accept-encoding" not in present and b"*" not in present:
                value = value + b", Accept-Encoding"
            merged = True
        out.append((name, value))
    if not merged:
        out.append((b"vary", b"Accept-Encoding"))
    return out


def encoded_headers(
    headers: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...],
    length: int,
    *,
    gzipped: bool,
) -> list[tuple[bytes, bytes]]:
    """The answer's headers for a body of ``length`` bytes, gzipped or not, with ``Vary``.
    A gzipped body drops the identity's validators (``ETag`` names other bytes, and a
    ``Last-Modified`` revalidated would get the identity's ``304``) and its
    ``Accept-Ranges`` (ranges would count the gzipped bytes)."""
    dropped = (
        (b"content-length", b"etag", b"last-modified", b"accept-ranges")
        if gzipped
        else (b"content-length",)
    )
    out = [(n, v) for n, v in headers if n.lower() not in dropped]
    out.append((b"content-length", str(length).encode()))
    if gzipped:
        out.append((b"content-encoding", b"gzip"))
    return with_vary(out)


class Compression:
    """gzip for shared answers (see the module's docstring), as pure ASGI middleware.
    Only ``200`` answers: a ``206`` holds a range of the identity's bytes.

    A compressible answer's start is held until its body is known (``holding_send``); a
    streamed answer is passed on as it comes, untouched but for ``Vary``.
    """

    def __init__(self, app: ASGIApp, *, session_cookie: str) -> None:
        self.app = app
        self.session_cookie = session_cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"

        def worth_holding(start: Message) -> bool:
            # Asked only of answers that could be compressed: a kept page from the page
            # cache (already gzipped) or an image passes on with no more work. A HEAD
            # answer has no body to compress: it only gets the Vary a GET would.
            return (
                not head
                and start["status"] == 200
                and compressible(start.get("headers", []))
                and shared_request(scope, self.session_cookie)
            )

        def passed(start: Message) -> Message:
            """``Vary`` on a shared HEAD answer and on a ``304`` (RFC 9110 15.4.5: a 304
            carries the Vary its 200 would have)."""
            status = start["status"]
            headers = start.get("headers", [])
            if (
                status == 304 or (head and status == 200 and compressible(headers))
            ) and shared_request(scope, self.session_cookie):
                return {**start, "headers": with_vary(list(headers))}
            return start

        async def complete(start: Message, message: Message) -> None:
            headers = list(start.get("headers", []))
            body = message.get("body", b"")
            if (
                request_accepts_gzip(scope)
                and MIN_BYTES <= len(body) <= MAX_BYTES
                and not made_for_this_reader(scope, headers)
            ):
                packed = gzip_bytes(body, ONCE_LEVEL)
                if len(packed) < len(body):
                    await send(
                        {**start, "headers": encoded_headers(headers, len(packed), gzipped=True)}
                    )
                    await send({**message, "body": packed})
                    return
            await send({**start, "headers": with_vary(headers)})
            await send(message)

        def streamed(start: Message) -> Message:
            return {**start, "headers": with_vary(list(start.get("headers", [])))}

        await self.app(
            scope,
            receive,
            holding_send(
                send, hold=worth_holding, complete=complete, streamed=streamed, passed=passed
            ),
        )


def holding_send(
    send: Send,
    *,
    hold: Callable[[Message], bool],
    complete: Callable[[Message, Message], Awaitable[None]],
    streamed: Callable[[Message], Message] = lambda start: start,
    passed: Callable[[Message], Message] = lambda start: start,
) -> Send:
    """A ``send`` that holds an answer's start, when ``hold`` says so, until its body is
    known. A whole answer (Starlette's responses send start and body at once) goes to
    ``complete(start, body_message)``, which sends it as it sees fit; a streamed one, or
    one that goes on with another message (``http.response.pathsend``, where a server
    offers it), is passed on as it comes, its start through ``streamed``. A start not
    held goes out through ``passed``."""
    held: Message | None = None
    passing = False

    async def holding(message: Message) -> None:
        nonlocal held, passing
        if passing:
            await send(message)
            return
        if message["type"] == "http.response.start":
            if hold(message):
                held = message
            else:
                passing = True
                await send(passed(message))
            return
        if held is None:
            await send(message)
            return
        start, held = held, None
        passing = True
        if message["type"] != "http.response.body" or message.get("more_body", False):
            await send(streamed(start))
            await send(message)
            return
        await complete(start, message)

    return holding
