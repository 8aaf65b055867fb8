"""Freed heap memory goes back to the operating system once requests stop (web.idle_gc).

Requests go through the real app and the trim is glibc's own ``malloc_trim``; the quiet
period is stepped with the collector's clock, and the lifespan's background task is
waited for with a deadline, never timed."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.context import Services
from tessera.config import Config
from tests.web.idle_helpers import HeldBody, SteppedClock, hold_a_request
from web.app import create_app
from web.idle_gc import CHECK_SECONDS, MALLOC_TRIM, TRIM_QUIET_SECONDS, IdleCollector

pytestmark = pytest.mark.skipif(
    MALLOC_TRIM is None, reason="this C library has no malloc_trim (it is glibc's)"
)


async def test_trims_once_a_burst_is_over_and_never_during_a_request(
    config: Config, services: Services
) -> None:
    app = create_app(config, services=services, run_workers=False)
    collector: IdleCollector = app.state.idle_collector
    clock = SteppedClock()
    collector.clock = clock
    collector.last_active = clock.now
    clock.now += 10 * TRIM_QUIET_SECONDS
    assert collector.trim_if_idle() is False, "trimmed with no request answered"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=config.base_url) as client:
        body = HeldBody()
        task = await hold_a_request(client, body)
        clock.now += 10 * TRIM_QUIET_SECONDS
        assert collector.trim_if_idle() is False, "trimmed with a request in flight"
        body.release.set()
        assert (await task).status_code == 403
        assert collector.trim_if_idle() is False, "trimmed before the quiet period"
        clock.now += TRIM_QUIET_SECONDS
        assert collector.trim_if_idle() is True
        assert collector.trims == 1
        clock.now += 10 * TRIM_QUIET_SECONDS
        assert collector.trim_if_idle() is False, "trimmed again with nothing answered since"
        assert (await client.get("/login")).status_code == 200
        clock.now += TRIM_QUIET_SECONDS
        assert collector.trim_if_idle() is True
        assert collector.trims == 2


async def test_the_lifespan_trims_after_requests(config: Config, services: Services) -> None:
    app = create_app(config, services=services, run_workers=False)
    collector: IdleCollector = app.state.idle_collector
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=config.base_url) as client,
    ):
        assert (await client.get("/login")).status_code == 200
        for _ in range(200):
            if collector.trims:
                break
            await asyncio.sleep(CHECK_SECONDS / 5)
        assert collector.trims == 1
        assert collector.trim_due is False
