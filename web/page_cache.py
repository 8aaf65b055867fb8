"""A short-lived cache of the public HTML pages, for readers without a session.

Most reads of an image gallery are anonymous, and an anonymous page is the same bytes for
every reader: the gallery, a profile, a hashtag, a post. Rendering one costs two or three
queries and a template of 30 tiles; answering a copy costs nothing. So this pure ASGI
middleware keeps the rendered answer for ``[server] page_cache_seconds`` (0 turns it off),
keyed by path and query string, in a bounded LRU.

What keeps one reader's data away from another:

- Only ``GET`` requests without a session cookie and without an ``Authorization`` header
  are looked up or stored; signed-in readers always get a fresh page (it shows their name,
  a CSRF token in every form, their follow state).
- Only HTML is cached: a request that asks for ActivityPub JSON (``/@name`` and
  ``/@name/ID`` negotiate on ``Accept``) passes through untouched, so the key needs no
  variant and a JSON document never reaches a browser or the reverse.
- Only complete ``200 text/html`` answers that set no cookie are stored (a page that
  issued a CSRF cookie was made for one browser). Security headers are added outside this
  middleware, on hits too; they are the same for everyone (no per-request nonce).

Freshness: any request that may write (not ``GET``/``HEAD``/``OPTIONS``) empties the cache
when its answer starts, that is after its transaction committed, so whoever publishes,
edits, deletes or changes a profile here sees the change on the very next page. A page
rendered while such a write ran is not stored (the generation it started under is gone).
Changes this process does not see as requests (the federation inbox, processed in the
background; another process such as ``tessera worker`` or the CLI) show within the TTL;
inbox POSTs do not empty the cache, or a busy federation would keep it empty. With several
web processes (``[server] processes``), a write answered by one empties the caches of all:
it raises a ``ChangeSignal`` the others look at before each request.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from federation.negotiation import wants_activity_json
from storage.change_signal import ChangeSignal
from web.idle_gc import IdleCollector

SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
MAX_BYTES = 4 * 1024 * 1024
"""The budget for cached bodies: ~130 gallery pages of ~30 KiB. Hot pages (the front page,
a popular profile within the TTL) are what a cache is for; a larger budget mostly holds
pages nobody asks for twice within a few seconds, and would show up as resident memory
the benchmark's growth target (<= 10% over idle) counts."""
MAX_BODY = 512 * 1024  # larger answers are not worth a slot
MAX_KEY = 512
"""Longer paths and query strings are not cached: real ones (a name, a tag, a cursor) are
short, and random long ones would only fill the cache with pages nobody asks for again."""


@dataclass(frozen=True)
class _Entry:
    expires: float
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


def _cost(key: tuple[str, bytes], entry: _Entry) -> int:
    """What an entry holds, as counted against the budget: body, headers and key."""
    return (
        len(entry.body) + sum(len(n) + len(v) for n, v in entry.headers) + len(key[0]) + len(key[1])
    )


def _is_public_page(path: str) -> bool:
    """The pages worth caching: gallery, hashtags, profiles and posts."""
    return path == "/" or path.startswith("/tags/") or path.startswith("/@")


def _is_inbox(path: str) -> bool:
    return path == "/inbox" or path.endswith("/inbox")


class PageCache:
    def __init__(
        self,
        app: ASGIApp,
        *,
        ttl_seconds: float,
        session_cookie: str,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
        on_write: Callable[[], None] | None = None,
        signal: ChangeSignal | None = None,
        idle: IdleCollector | None = None,
    ) -> None:
        self.app = app
        self._on_write = on_write
        self._signal = signal
        self.ttl = ttl_seconds
        self.max_bytes = max_bytes
        self._bytes = 0
        self.clock = clock
        self._session_cookie = session_cookie
        self._entries: OrderedDict[tuple[str, bytes], _Entry] = OrderedDict()
        self.generation = 0
        if idle is not None and ttl_seconds > 0:
            # Once requests stop for the TTL, every page kept (and every entity and token
            # ``on_write`` forgets) has expired: let the memory go instead of holding it
            # until the next request.
            idle.after_quiet(ttl_seconds, self._forget)

    def invalidate(self) -> None:
        """Forget every page: something this process serves may have changed. Also calls
        ``on_write``, for the caches that follow the same rule (the client API's rendered
        entities and resolved tokens, ``Services.forget_cached``), and tells the other web
        processes to do the same."""
        if self._signal is not None:
            self._signal.bump()
        self._forget()

    def _forget(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._bytes = 0
        if self._on_write is not None:
            self._on_write()

    def _anonymous_html(self, scope: Scope) -> bool:
        """No session cookie, no credentials, and HTML wanted. The cookie is read with the
        parser the app signs readers in with: a substring test would miss a header such as
        ``tessera_session =TOKEN``, which that parser accepts, and would then store one
        reader's signed-in page for everybody."""
        accept = None
        cookies: list[str] = []
        for name, value in scope["headers"]:
            if name == b"authorization":
                return False
            if name == b"cookie":
                cookies.append(value.decode("latin-1"))
            elif name == b"accept":
                accept = value.decode("latin-1")
        if cookies and self._session_cookie in cookie_parser("; ".join(cookies)):
            return False
        return not wants_activity_json(accept)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.ttl <= 0:
            await self.app(scope, receive, send)
            return
        if self._signal is not None and self._signal.changed():
            self._forget()  # another web process answered a write
        method = scope["method"]
        if method not in SAFE_METHODS:
            await self._write(scope, receive, send)
            return
        if method != "GET" or not _is_public_page(scope["path"]):
            await self.app(scope, receive, send)
            return
        if not self._anonymous_html(scope):
            await self.app(scope, receive, send)
            return
        key = (scope["path"], scope.get("query_string", b""))
        if len(key[0]) + len(key[1]) > MAX_KEY:
            await self.app(scope, receive, send)
            return
        entry = self._entries.get(key)
        now = self.clock()
        if entry is not None:
            if entry.expires > now:
                self._entries.move_to_end(key)
                await send(
                    {
                        "type": "http.response.start",
                        "status": entry.status,
                        "headers": list(entry.headers),
                    }
                )
                await send({"type": "http.response.body", "body": entry.body})
                return
            self._bytes -= _cost(key, self._entries.pop(key))
        await self._fill(scope, receive, send, key, now)

    async def _write(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_inbox(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_after_commit(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.invalidate()
            await send(message)

        try:
            await self.app(scope, receive, send_after_commit)
        finally:
            self.invalidate()  # also when the handler failed before answering

    async def _fill(
        self, scope: Scope, receive: Receive, send: Send, key: tuple[str, bytes], now: float
    ) -> None:
        generation = self.generation
        status = 0
        headers: tuple[tuple[bytes, bytes], ...] = ()
        chunks: list[bytes] = []
        complete = False

        async def recording_send(message: Message) -> None:
            nonlocal status, headers, complete
            if message["type"] == "http.response.start":
                # Copied before sending: the headers middleware outside adds to this list.
                status = message["status"]
                headers = tuple((bytes(n), bytes(v)) for n, v in message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        await self.app(scope, receive, recording_send)
        if status != 200 or not complete or generation != self.generation:
            return
        if scope.get("tessera_new_csrf"):
            return
        if any(n.lower() == b"set-cookie" for n, _ in headers):
            return
        content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
        body = b"".join(chunks)
        if not content_type.startswith(b"text/html") or len(body) > MAX_BODY:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= _cost(key, old)
        entry = _Entry(now + self.ttl, status, headers, body)
        self._entries[key] = entry
        self._bytes += _cost(key, entry)
        while self._bytes > self.max_bytes and self._entries:
            evicted_key, evicted = self._entries.popitem(last=False)
            self._bytes -= _cost(evicted_key, evicted)
