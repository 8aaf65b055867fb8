"""A monotonic clock the test moves by hand, for the caches that keep things for seconds
(``services.entity_cache``, ``services.token_cache``)."""

from __future__ import annotations


class Clock:
    """Stands still until the test sets ``now`` (seconds, as ``time.monotonic``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
