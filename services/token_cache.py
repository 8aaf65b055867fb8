"""Resolved client-API bearer tokens and browser sessions, kept for the seconds the page
cache keeps pages (sessions under ``web:`` keys, see ``web.context.current_user``).

Every client-API request names its token, and a client polling its timelines names the
same one many times a second. Resolving it is one indexed lookup joining the token, its
app, its account and its local user, but through the ORM and a session of its own it
cost about a quarter of a home timeline request (1.3 ms of ~5 ms, measured in
``bench/``); looking it up here costs a dictionary read.

What a cached resolution may be behind, and why that is safe:

- Any write through this process's web pages or client API empties the cache when it
  answers (``web.page_cache`` calls :meth:`TokenCache.clear`, as it empties the entity
  cache): revoking a token, signing out, changing a password, disabling an account
  through the admin pages all take effect on the very next request.
- The other web processes of the same ``tessera serve`` (``[server] processes``) empty
  theirs before their next request: the page cache middleware watches the
  ``ChangeSignal`` they share. A change made by any other process (the ``tessera``
  command line, ``tessera worker``) takes effect within ``ttl`` seconds, as cached pages
  and entities do.
- Only tokens that resolved are kept: an unknown or revoked token is looked up every
  time, so a token created a moment ago in another process works at once.
- A resolution that started before a write and ended after it is not kept (the
  ``generation`` check, as in ``services.entity_cache``).

The cached objects are detached ORM rows shared by concurrent requests: handlers read
them and never change them in place (an update goes through a session of its own).
Bounded by count, keyed by the token's SHA-256, never by the token itself.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

MAX_TOKENS = 2000


class TokenCache:
    """Token hash -> what it resolved to. A ``ttl`` of 0 turns it off."""

    def __init__(
        self,
        ttl_seconds: float,
        *,
        max_tokens: int = MAX_TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl_seconds
        self.max_tokens = max_tokens
        self.clock = clock
        self.generation = 0
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def clear(self) -> None:
        """Forget every token: this process just wrote something a token's owner, app or
        state may depend on."""
        self.generation += 1
        self._items.clear()

    def get(self, token_hash: str) -> Any | None:
        if self.ttl <= 0:
            return None
        found = self._items.get(token_hash)
        if found is None:
            return None
        expires, value = found
        if expires <= self.clock():
            del self._items[token_hash]
            return None
        self._items.move_to_end(token_hash)
        return value

    def keep(self, token_hash: str, value: Any, *, generation: int) -> None:
        """Store a resolution whose lookup began under ``generation`` (read it before the
        lookup): one that a write overtook is dropped."""
        if self.ttl <= 0 or generation != self.generation:
            return
        self._items[token_hash] = (self.clock() + self.ttl, value)
        self._items.move_to_end(token_hash)
        while len(self._items) > self.max_tokens:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
