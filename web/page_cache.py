"""A short-lived cache of the public HTML pages, for readers without a session.

Most reads of an image gallery are anonymous, and an anonymous page is the same bytes for
every reader: the gallery, a profile, a hashtag, a post. Rendering one costs two or three
queries and a template of 30 tiles; answering a copy costs nothing. So this pure ASGI
middleware keeps the rendered answer for ``[server] page_cache_seconds`` (0 turns it off),
keyed by path and query string, in a bounded LRU. Pages are kept gzipped
(``web.compression``): a kept page is compressed once, sent as it is to every reader whose
browser accepts gzip, and unpacked for one that does not.

What keeps one reader's data away from another:

- Only ``GET`` requests without a session cookie, an ``Authorization`` header or an HTTP
  signature are looked up or stored; signed-in readers always get a fresh page (it shows their name,
  a CSRF token in every form, their follow state).
- Only HTML is cached: a request that asks for ActivityPub JSON (``/@name`` and
  ``/@name/ID`` negotiate on ``Accept``) passes through untouched, so the key needs no
  variant and a JSON document never reaches a browser or the reverse.
- Only complete ``200 text/html`` answers that set no cookie and printed no CSRF token are
  stored (a page that issued a CSRF cookie, or printed the token of the cookie a returning
  browser sent, was made for that browser). Security headers are added outside this
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

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from federation.negotiation import wants_activity_json
from storage.change_signal import ChangeSignal
from web.compression import (
    encoded_headers,
    gunzip,
    gzip_bytes,
    holding_send,
    made_for_this_reader,
    request_accepts_gzip,
    shared_request,
)
from web.idle_gc import IdleCollector

SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
MAX_BYTES = 2 * 1024 * 1024
"""The budget for cached bodies, kept gzipped: ~650 gallery pages of ~31 KiB (~3 KiB
each gzipped), or the benchmark's 666 pages of four kinds in ~1.3 MiB. Hot pages (the
front page, a popular profile within the TTL) are what a cache is for; a larger budget
mostly holds pages nobody asks for twice within a few seconds, and would show up as
resident memory the benchmark's growth target (<= 10% over idle) counts."""
MAX_BODY = 512 * 1024  # larger answers are not worth a slot
MAX_KEY = 512
"""Longer paths and query strings are not cached: real ones (a name, a tag, a cursor) are
short, and random long ones would only fill the cache with pages nobody asks for again."""


@dataclass(frozen=True)
class _Entry:
    expires: float
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    """The page's own headers, without ``Content-Length``."""
    body: bytes
    """gzipped."""
    gzip_headers: tuple[tuple[bytes, bytes], ...]
    """``headers`` as a gzipped answer sends them, made once (every browser gets these)."""

    @classmethod
    def make(
        cls, expires: float, status: int, headers: tuple[tuple[bytes, bytes], ...], body: bytes
    ) -> _Entry:
        sent = tuple(encoded_headers(headers, len(body), gzipped=True))
        return cls(expires, status, headers, body, sent)


def _cost(key: tuple[str, bytes], entry: _Entry) -> int:
    """What an entry holds, as counted against the budget: body, both header lists, key."""
    headers = entry.headers + entry.gzip_headers
    return len(entry.body) + sum(len(n) + len(v) for n, v in headers) + len(key[0]) + len(key[1])


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
        if not shared_request(scope, self._session_cookie):
            return False
        accept = next((v.decode("latin-1") for n, v in scope["headers"] if n == b"accept"), None)
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
                await self._answer(scope, send, entry)
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

    @staticmethod
    async def _answer(scope: Scope, send: Send, entry: _Entry) -> None:
        """A kept page: its gzipped bytes to a client that accepts gzip (every browser),
        unpacked for one that does not."""
        if request_accepts_gzip(scope):
            headers, body = list(entry.gzip_headers), entry.body
        else:
            body = gunzip(entry.body)
            headers = encoded_headers(entry.headers, len(body), gzipped=False)
        await send({"type": "http.response.start", "status": entry.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _fill(
        self, scope: Scope, receive: Receive, send: Send, key: tuple[str, bytes], now: float
    ) -> None:
        """Render the page, and keep it when it may be shared. The answer's start is held
        until its body is known (Starlette sends both at once), so a page kept is sent as
        kept: gzipped once, for the cache and for this reader."""
        generation = self.generation
        stored: _Entry | None = None

        async def complete(start: Message, message: Message) -> None:
            nonlocal stored
            body = message.get("body", b"")
            # Copied: the headers middleware outside adds to the list it is sent.
            headers = tuple((bytes(n), bytes(v)) for n, v in start.get("headers", []))
            if self._may_keep(scope, start, headers, body):
                kept = tuple((n, v) for n, v in headers if n.lower() != b"content-length")
                expires = now + self.ttl
                stored = _Entry.make(expires, start["status"], kept, gzip_bytes(body))
                await self._answer(scope, send, stored)
                return
            await send(start)
            await send(message)

        recording_send = holding_send(send, hold=lambda _start: True, complete=complete)
        await self.app(scope, receive, recording_send)
        if stored is None or generation != self.generation:
            return
        entry = stored
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= _cost(key, old)
        self._entries[key] = entry
        self._bytes += _cost(key, entry)
        while self._bytes > self.max_bytes and self._entries:
            evicted_key, evicted = self._entries.popitem(last=False)
            self._bytes -= _cost(evicted_key, evicted)

    @staticmethod
    def _may_keep(
        scope: Scope, start: Message, headers: tuple[tuple[bytes, bytes], ...], body: bytes
    ) -> bool:
        """A complete ``200 text/html`` page made for nobody in particular."""
        if start["status"] != 200 or made_for_this_reader(scope, headers):
            return False
        content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
        return content_type.startswith(b"text/html") and len(body) <= MAX_BODY
