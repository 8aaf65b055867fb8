"""When to try a delivery again, and when a host is too sick to try at all (pure).

The policy reads an outcome (an HTTP status, or None for a network failure) and answers
with a :class:`Decision`; it never touches the database or the clock, so every rule is a
row in a table-driven test.

* 2xx: delivered.
* 404 / 410: the inbox (or its actor) is gone; trying again will not bring it back.
* 401 / 403: often a key the receiver cached before we rotated it, or a clock skew; worth
  one more try (the receiver refetches our key on failure), then we give up.
* Other 4xx except 408 / 429: the receiver refuses this activity; repeating it will not help.
* 408, 429, 3xx, 5xx and network errors: exponential backoff with *full jitter* (a random
  delay between 0 and ``base * factor ** (attempts - 1)``, capped), so many deliveries that
  failed together do not all come back together. ``Retry-After`` is honoured, capped too.
* Nothing is retried past ``max_age`` after the delivery was queued; the last retry is
  moved to that deadline rather than dropped, so a delivery always gets its full age.

Host health (:func:`host_after_failure` / :func:`host_after_success`): after
``threshold`` consecutive failures spread over at least ``min_span``, the host is marked
unavailable for as long as it has been failing (at least ``min_span``, at most
``max_unavailable``), so each failed probe after a pause makes the next pause longer. One
answer from the host resets it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

__all__ = [
    "DEFAULT_BASE",
    "DEFAULT_CAP",
    "DEFAULT_MAX_AGE",
    "Decision",
    "HostHealth",
    "host_after_failure",
    "host_after_success",
    "host_counts_as_failure",
    "next_attempt",
]

DecisionKind = Literal["retry", "give_up", "gone", "done"]

DEFAULT_BASE = timedelta(seconds=30)
DEFAULT_FACTOR = 2.0
DEFAULT_CAP = timedelta(hours=6)
DEFAULT_MAX_AGE = timedelta(days=3)
MIN_DELAY = timedelta(seconds=1)
"""Full jitter may draw ~0; a floor keeps a failing inbox from being hit in a tight loop."""

HOST_FAILURE_THRESHOLD = 10
HOST_MIN_SPAN = timedelta(hours=1)
HOST_MAX_UNAVAILABLE = timedelta(days=1)

_AUTH = frozenset({401, 403})
_GONE = frozenset({404, 410})
_TRANSIENT_4XX = frozenset({408, 429})


@dataclass(frozen=True)
class Decision:
    """What to do with a delivery after an attempt. ``at`` is set for ``retry`` only."""

    kind: DecisionKind
    at: datetime | None
    reason: str


def _backoff(attempts: int, rng: random.Random, base: timedelta, cap: timedelta) -> timedelta:
    exponent = max(0, attempts - 1)
    # 2 ** 64 seconds overflows timedelta; anything past the cap is the cap anyway.
    ceiling = cap if exponent > 40 else min(cap, base * (DEFAULT_FACTOR**exponent))
    return max(MIN_DELAY, ceiling * rng.random())


def next_attempt(
    attempts: int,
    *,
    status: int | None,
    retry_after: float | None,
    now: datetime,
    first_attempt_at: datetime,
    rng: random.Random | None = None,
    previous_status: int | None = None,
    max_age: timedelta = DEFAULT_MAX_AGE,
    base: timedelta = DEFAULT_BASE,
    cap: timedelta = DEFAULT_CAP,
) -> Decision:
    """Decide after attempt number ``attempts`` (1 for the first) answered ``status``.

    ``status`` None means no HTTP answer (connection refused, timeout, DNS). ``retry_after``
    is the parsed ``Retry-After`` in seconds. ``first_attempt_at`` is when the delivery was
    queued: the reference for ``max_age``. ``previous_status`` is the answer before this
    one, so a second 401/403 in a row gives up.
    """
    if status is not None and 200 <= status < 300:
        return Decision("done", None, f"HTTP {status}")
    if status in _GONE:
        return Decision("gone", None, f"HTTP {status}: the inbox is gone")
    if status in _AUTH and previous_status in _AUTH:
        return Decision("give_up", None, f"HTTP {status} twice: the receiver refuses our key")
    if status is not None and 400 <= status < 500 and status not in _AUTH | _TRANSIENT_4XX:
        return Decision("give_up", None, f"HTTP {status}: the receiver refuses the activity")
    what = "network error" if status is None else f"HTTP {status}"
    deadline = first_attempt_at + max_age
    if now >= deadline:
        return Decision("give_up", None, f"{what}; gave up after {max_age}")
    delay = _backoff(attempts, rng or random.Random(), base, cap)
    if retry_after is not None and retry_after >= 0:
        delay = max(MIN_DELAY, min(timedelta(seconds=retry_after), cap))
    return Decision("retry", min(now + delay, deadline), what)


# --- host health -------------------------------------------------------------------------


@dataclass(frozen=True)
class HostHealth:
    """The columns of ``remote_host`` the policy reads and writes."""

    consecutive_failures: int = 0
    failing_since: datetime | None = None
    unavailable_until: datetime | None = None
    last_success_at: datetime | None = None

    def available(self, now: datetime) -> bool:
        return self.unavailable_until is None or self.unavailable_until <= now


def host_counts_as_failure(status: int | None) -> bool:
    """Only "the server is not answering properly" counts against a host: no answer, or a
    5xx. A 4xx is the host alive and speaking, even if it refuses one activity."""
    return status is None or status >= 500


def host_after_success(health: HostHealth, now: datetime) -> HostHealth:
    return HostHealth(0, None, None, now)


def host_after_failure(
    health: HostHealth,
    now: datetime,
    *,
    threshold: int = HOST_FAILURE_THRESHOLD,
    min_span: timedelta = HOST_MIN_SPAN,
    max_unavailable: timedelta = HOST_MAX_UNAVAILABLE,
) -> HostHealth:
    """One more failure; the host becomes unavailable after ``threshold`` failures over at
    least ``min_span``, for as long as it has been failing (clamped)."""
    failures = health.consecutive_failures + 1
    since = health.failing_since or now
    until = health.unavailable_until
    span = now - since
    if failures >= threshold and span >= min_span:
        pause = min(max(span, min_span), max_unavailable)
        until = max(until, now + pause) if until is not None else now + pause
    return HostHealth(failures, since, until, health.last_success_at)
