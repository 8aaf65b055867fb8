"""A monotonic clock the test moves by hand, for the caches that keep things for seconds
(``services.entity_cache``, ``services.token_cache``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Clock:
    """Stands still until the test sets ``now`` (seconds, as ``time.monotonic``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class HeldForSeconds(Protocol):
    ttl: float
    clock: Callable[[], float]

    def clear(self) -> None: ...


def install(cache: HeldForSeconds, ttl: float = 5) -> Clock:
    """Give one of the app's own caches a TTL and a clock the test sets, and empty it."""
    clock = Clock()
    cache.ttl, cache.clock = ttl, clock
    cache.clear()
    return clock
