"""Secrets, CSRF tokens and the sign-in rate limiter.

CSRF uses a signed double submit: a random value lives in an HttpOnly cookie and every
form carries an HMAC of it under the instance secret. A third-party page can neither read
the cookie nor compute the HMAC, and a value planted in the cookie by a sibling domain is
useless without the secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path


def load_or_create_secret(path: Path) -> bytes:
    """The instance's signing secret: 32 random bytes made on first start, kept 0600.

    Made under an exclusive lock on a file beside it, read again once the lock is held,
    and moved into place whole: processes starting at once (``tessera serve`` with its
    web processes, ``tessera worker``) all end up with the one key."""
    existing = _read_secret(path)
    if existing is not None:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_name(f".{path.name}.lock")):
        existing = _read_secret(path)  # made by another process while this one waited
        if existing is not None:
            return existing
        value = secrets.token_hex(32).encode("ascii")
        temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(value)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return value


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``lock_path`` (no lock where there is no ``fcntl``)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: one process at a time is up to the operator
        yield
        return
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_secret(path: Path) -> bytes | None:
    if path.is_file():
        data = path.read_bytes().strip()
        if len(data) >= 32:
            return data
    return None


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

    Kept in the memory of one process. With several web processes (``[server]
    processes``) each keeps its own with an equal share of the configured limit, rounded
    down but at least one (``web.app``): together they allow the limit, or one attempt a
    process when the limit is smaller than the number of processes.

    Memory is bounded by ``max_keys``. Past it, keys whose events have all expired go
    first, then keys still under the limit (least recently hit first), and only then
    keys at the limit: a spray of fresh keys (new names, many addresses) must never
    forget the clients that are being held back, as clearing everything would.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        clock: object = time.monotonic,
        *,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._events: dict[str, deque[float]] = {}  # least recently hit first

    def _now(self) -> float:
        return self._clock()  # type: ignore[operator,no-any-return]

    def _live(self, key: str, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        cutoff = now - self.window
        while events and events[0] <= cutoff:
            events.popleft()
        return events

    def allowed(self, key: str) -> bool:
        events = self._live(key, self._now())
        return events is None or len(events) < self.limit

    def hit(self, key: str) -> None:
        now = self._now()
        events = self._events.pop(key, None) or deque()
        events.append(now)
        self._events[key] = events  # re-inserted: most recently hit last
        if len(self._events) > self.max_keys:
            self._shrink(now)

    def _shrink(self, now: float) -> None:
        """Evict down to 90% of ``max_keys`` (so the scan runs once per many new keys)."""
        target = max(1, self.max_keys * 9 // 10)
        for key in list(self._events):
            if not self._live(key, now):
                del self._events[key]
        for held_back_too in (False, True):
            for key in list(self._events):
                if len(self._events) <= target:
                    return
                if held_back_too or len(self._events[key]) < self.limit:
                    del self._events[key]

    def retry_after(self, key: str) -> int:
        events = self._live(key, self._now())
        if not events:
            return 0
        return max(1, int(events[0] + self.window - self._now()) + 1)
