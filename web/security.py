"""Secrets, CSRF tokens and the sign-in rate limiter.

CSRF uses a signed double submit: a random value lives in an HttpOnly cookie and every
form carries an HMAC of it under the instance secret. A third-party page can neither read
the cookie nor compute the HMAC, and a value planted in the cookie by a sibling domain is
useless without the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections import defaultdict, deque
from pathlib import Path


def load_or_create_secret(path: Path) -> bytes:
    """The instance's signing secret: 32 random bytes made on first start, kept 0600."""
    if path.is_file():
        data = path.read_bytes().strip()
        if len(data) >= 32:
            return data
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
    return value


def csrf_token_for(secret: bytes, cookie_value: str) -> str:
    return hmac.new(secret, b"csrf:" + cookie_value.encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: bytes, cookie_value: str | None, submitted: str | None) -> bool:
    if not cookie_value or not submitted:
        return False
    return hmac.compare_digest(csrf_token_for(secret, cookie_value), submitted)


def hash_token(token: str) -> str:
    """Session and API tokens are stored as hashes: a leaked database signs nobody in."""
    return hashlib.sha256(token.encode()).hexdigest()


class SlidingWindowLimiter:
    """At most ``limit`` events per key within ``window`` seconds (in memory).

    One process serves an SQLite instance, so memory is the right place; a multi-process
    deployment would move this to the database or a shared cache.
    """

    def __init__(self, limit: int, window: float, clock: object = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = defaultdict(deque)

    def _now(self) -> float:
        return self._clock()  # type: ignore[operator,no-any-return]

    def allowed(self, key: str) -> bool:
        events = self._events[key]
        cutoff = self._now() - self.window
        while events and events[0] <= cutoff:
            events.popleft()
        return len(events) < self.limit

    def hit(self, key: str) -> None:
        self._events[key].append(self._now())
        if len(self._events) > 100_000:  # bound memory under a spray of keys
            self._events.clear()

    def retry_after(self, key: str) -> int:
        events = self._events.get(key)
        if not events:
            return 0
        return max(1, int(events[0] + self.window - self._now()) + 1)
