"""The retry policy and host health, rule by rule (pure, table-driven)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from federation.retry import (
    DEFAULT_CAP,
    HostHealth,
    host_after_failure,
    host_after_success,
    host_counts_as_failure,
    next_attempt,
)

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


class Fixed(random.Random):
    """An rng whose ``random()`` is a chosen fraction, to pin the jitter."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


# (attempts, status, previous status, retry_after, age, expected kind, expected delay)
CASES = [
    (1, 200, None, None, 0, "done", None),
    (1, 202, None, None, 0, "done", None),
    (3, 204, 503, None, 0, "done", None),
    (1, 404, None, None, 0, "gone", None),
    (1, 410, None, None, 0, "gone", None),
    (1, 401, None, None, 0, "retry", 15),
    (1, 403, None, None, 0, "retry", 15),
    (2, 401, 401, None, 0, "give_up", None),
    (2, 403, 401, None, 0, "give_up", None),
    (2, 401, 503, None, 0, "retry", 30),  # the first auth failure after outages
    (1, 400, None, None, 0, "give_up", None),
    (1, 422, None, None, 0, "give_up", None),
    (1, 405, None, None, 0, "give_up", None),
    (1, 408, None, None, 0, "retry", 15),
    (1, 429, None, None, 0, "retry", 15),
    (1, 500, None, None, 0, "retry", 15),
    (1, 502, None, None, 0, "retry", 15),
    (1, 301, None, None, 0, "retry", 15),  # inbox POSTs never follow redirects
    (1, None, None, None, 0, "retry", 15),  # connection refused, timeout, DNS
    (2, 503, 503, None, 0, "retry", 30),
    (5, 503, 503, None, 0, "retry", 240),  # 30 s * 2**4, half of it
    (20, 503, 503, None, 0, "retry", DEFAULT_CAP.total_seconds() / 2),
    (500, None, None, None, 0, "retry", DEFAULT_CAP.total_seconds() / 2),  # no overflow
    (1, 503, None, 120.0, 0, "retry", 120),  # Retry-After honoured over the backoff
    (1, 429, None, 0.0, 0, "retry", 1),  # ... but never a tight loop
    (1, 503, None, 10 * 86400.0, 0, "retry", DEFAULT_CAP.total_seconds()),  # capped
    (9, 503, 503, None, 72 * 3600, "give_up", None),  # past the maximum age
    (9, None, None, None, 80 * 3600, "give_up", None),
    (1, 200, None, None, 80 * 3600, "done", None),  # a late success is still a success
    (1, 410, None, None, 80 * 3600, "gone", None),
]


@pytest.mark.parametrize(
    ("attempts", "status", "previous", "retry_after", "age", "kind", "delay"), CASES
)
def test_policy(
    attempts: int,
    status: int | None,
    previous: int | None,
    retry_after: float | None,
    age: int,
    kind: str,
    delay: float | None,
) -> None:
    now = T0 + timedelta(seconds=age)
    decision = next_attempt(
        attempts,
        status=status,
        retry_after=retry_after,
        now=now,
        first_attempt_at=T0,
        rng=Fixed(0.5),
        previous_status=previous,
    )
    assert decision.kind == kind, decision
    assert decision.reason
    if delay is None:
        assert decision.at is None
    else:
        assert decision.at == now + timedelta(seconds=delay)


def test_full_jitter_spreads_retries_within_the_ceiling() -> None:
    rng = random.Random(7)
    delays = {
        (
            next_attempt(4, status=503, retry_after=None, now=T0, first_attempt_at=T0, rng=rng).at
            - T0
        ).total_seconds()
        for _ in range(200)
    }
    assert len(delays) > 150  # not synchronised
    assert min(delays) >= 1 and max(delays) <= 240  # 30 s * 2**3


def test_the_last_retry_lands_on_the_deadline() -> None:
    now = T0 + timedelta(hours=71, minutes=59)
    decision = next_attempt(
        30, status=503, retry_after=None, now=now, first_attempt_at=T0, rng=Fixed(0.99)
    )
    assert decision.kind == "retry"
    assert decision.at == T0 + timedelta(hours=72)


def test_max_age_is_a_parameter() -> None:
    decision = next_attempt(
        2,
        status=503,
        retry_after=None,
        now=T0 + timedelta(hours=2),
        first_attempt_at=T0,
        rng=Fixed(0.5),
        max_age=timedelta(hours=1),
    )
    assert decision.kind == "give_up"


# --- host health -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "counts"), [(None, True), (500, True), (503, True), (404, False), (401, False)]
)
def test_what_counts_against_a_host(status: int | None, counts: bool) -> None:
    assert host_counts_as_failure(status) is counts


def fail(times: int, start: datetime, step: timedelta, health: HostHealth | None = None):  # type: ignore[no-untyped-def]
    health = health or HostHealth()
    moment = start
    for _ in range(times):
        health = host_after_failure(health, moment)
        moment += step
    return health, moment - step


def test_many_quick_failures_do_not_mark_a_host_down() -> None:
    health, last = fail(50, T0, timedelta(seconds=10))  # 50 failures within ~8 minutes
    assert health.consecutive_failures == 50
    assert health.failing_since == T0
    assert health.available(last)


def test_few_failures_over_a_long_time_do_not_mark_a_host_down() -> None:
    health, last = fail(9, T0, timedelta(hours=1))
    assert health.available(last)


def test_ten_failures_over_an_hour_mark_the_host_down_for_longer_each_time() -> None:
    health, last = fail(10, T0, timedelta(minutes=7))  # 63 minutes
    assert not health.available(last)
    first_pause = health.unavailable_until - last
    assert first_pause == timedelta(minutes=63)
    # after the pause one probe fails again: the next pause is longer
    probe = health.unavailable_until
    again = host_after_failure(health, probe)
    assert again.unavailable_until - probe > first_pause
    assert again.failing_since == T0
    # and never longer than a day
    much_later = host_after_failure(again, T0 + timedelta(days=5))
    assert much_later.unavailable_until - (T0 + timedelta(days=5)) == timedelta(days=1)


def test_one_success_resets_the_host() -> None:
    health, last = fail(12, T0, timedelta(minutes=10))
    assert not health.available(last)
    healed = host_after_success(health, last)
    assert healed == HostHealth(0, None, None, last)
    assert healed.available(last)
