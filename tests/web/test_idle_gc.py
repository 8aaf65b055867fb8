"""Full garbage collections wait for a moment with no request in flight (web.idle_gc).

The requests go through the real app; a request is held in flight by a body that has not
finished arriving. Nothing here measures time: the background task is waited for with a
deadline, and the quiet period is stepped with the collector's clock."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import httpx
import pytest

from federation import background
from services.context import Services
from tessera.config import Config
from tests.web.idle_helpers import HeldBody, SteppedClock, hold_a_request
from web.app import create_app
from web.idle_gc import (
    CHECK_SECONDS,
    DUE_AFTER,
    FULL_EVERY,
    GENERATIONAL,
    QUIET_SECONDS,
    IdleCollector,
)

pytestmark = pytest.mark.skipif(
    not GENERATIONAL,
    reason="the idle collector is off on CPython 3.14+, whose collector counts differently",
)


@pytest.fixture
def no_automatic_collection() -> Iterator[None]:
    """No automatic collection between a test's own steps (one could reset the counts the
    test just set); ``gc.collect()`` still runs when called."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def make_due() -> None:
    """Collect the middle generation as often as makes a full collection due."""
    for _ in range(DUE_AFTER):
        gc.collect(1)
    assert gc.get_count()[2] >= DUE_AFTER


async def test_no_full_collection_while_a_request_is_in_flight(
    config: Config, services: Services, no_automatic_collection: None
) -> None:
    app = create_app(config, services=services, run_workers=False)
    collector: IdleCollector = app.state.idle_collector
    clock = SteppedClock()
    collector.clock = clock
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=config.base_url) as client:
        body = HeldBody()
        task = await hold_a_request(client, body)
        assert collector.in_flight == 1
        clock.now += 10 * QUIET_SECONDS
        make_due()
        assert collector.collect_if_idle() is False
        assert gc.get_count()[2] >= DUE_AFTER, "a full collection ran during the request"

        body.release.set()
        response = await task
        assert response.status_code == 403  # no CSRF token: answered, and no longer in flight
        assert collector.in_flight == 0
        assert collector.last_active == clock.now

        make_due()
        assert collector.collect_if_idle() is False, "collected before the quiet period"
        clock.now += QUIET_SECONDS
        assert collector.collect_if_idle() is True
        assert gc.get_count()[2] == 0
        assert collector.collections == 1
        assert collector.collect_if_idle() is False, "collected again with none due"


async def test_the_lifespan_collects_when_idle_and_restores_the_thresholds(
    config: Config, services: Services
) -> None:
    app = create_app(config, services=services, run_workers=False)
    collector: IdleCollector = app.state.idle_collector
    before = gc.get_threshold()
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=config.base_url) as client,
    ):
        assert gc.get_threshold() == (before[0], before[1], FULL_EVERY)
        body = HeldBody()
        task = await hold_a_request(client, body)
        make_due()
        # several checks of the background task pass with the request held
        await asyncio.sleep(3 * CHECK_SECONDS)
        assert collector.collections == 0
        body.release.set()
        assert (await task).status_code == 403

        make_due()
        for _ in range(100):
            if collector.collections:
                break
            await asyncio.sleep(CHECK_SECONDS / 5)
        assert collector.collections == 1
    assert gc.get_threshold() == before


async def test_overlapping_lifespans_put_the_thresholds_back_once_both_end(
    config: Config, services: Services
) -> None:
    """Two apps in one process (as two instances in a test) whose lifespans end in the
    order they began: the first to end must not put back the thresholds under the other."""
    first = create_app(config, services=services, run_workers=False)
    second = create_app(config, services=services, run_workers=False)
    before = gc.get_threshold()
    first_span = first.router.lifespan_context(first)
    second_span = second.router.lifespan_context(second)
    await first_span.__aenter__()
    await second_span.__aenter__()
    await first_span.__aexit__(None, None, None)
    assert gc.get_threshold() == (before[0], before[1], FULL_EVERY)
    await second_span.__aexit__(None, None, None)
    assert gc.get_threshold() == before


def test_no_full_collection_while_background_work_is_under_way(
    no_automatic_collection: None,
) -> None:
    """A fan-out or an inbox pass has no request in flight; the collection waits for it
    all the same (the workers mark their work: tests/outbox and tests/inbox_processing)."""
    clock = SteppedClock()
    collector = IdleCollector(clock=clock)
    clock.now += 10 * QUIET_SECONDS
    make_due()
    with background.working():
        assert background.busy()
        assert collector.collect_if_idle() is False
        assert gc.get_count()[2] >= DUE_AFTER, "a full collection ran during the work"
    assert not background.busy()
    assert collector.collect_if_idle() is True
    assert gc.get_count()[2] == 0
