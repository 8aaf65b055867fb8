"""Fixtures for the outbox tests: Tessera listening on a real port (so fake peers can fetch
our actors' keys), an injectable clock, fake peers and a delivery worker."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from federation.delivery import DeliveryWorker
from services.context import Services
from storage.federation_models import Delivery, OutboxActivity
from tessera.config import Config
from tests.outbox.peers import FakeClock, FakePeer, bound_socket, fake_peer, serve
from web.app import create_app


@pytest.fixture
def tessera_socket() -> Iterator[socket.socket]:
    sock = bound_socket()
    yield sock
    sock.close()


@pytest.fixture
def config_overrides(tessera_socket: socket.socket) -> dict[str, dict[str, Any]]:
    """Our instance's domain is the address it really listens on, so its actor ids resolve."""
    port = tessera_socket.getsockname()[1]
    return {"instance": {"domain": f"127.0.0.1:{port}"}}


@pytest.fixture
def clock(services: Services) -> FakeClock:
    """Replaces ``services.clock`` before anything (the transport) captures it."""
    fake = FakeClock()
    services.clock = fake
    return fake


@pytest.fixture
async def tessera(
    config: Config, services: Services, tessera_socket: socket.socket, clock: FakeClock
) -> AsyncIterator[str]:
    """The same app and services as ``client``, also served over real HTTP."""
    app = create_app(config, services=services, run_workers=False)
    async with serve(app, tessera_socket) as base:
        assert base == config.base_url
        yield base


@pytest.fixture
async def peer(tessera: str, clock: FakeClock) -> AsyncIterator[FakePeer]:
    async with fake_peer(clock) as remote:
        yield remote


@pytest.fixture
async def worker(services: Services, clock: FakeClock) -> AsyncIterator[DeliveryWorker]:
    delivery_worker = DeliveryWorker(services)
    yield delivery_worker
    await delivery_worker.close()
    await services.close()


async def insert(services: Services, *rows: Any) -> None:
    """Fixture data written straight to the database (remote actors, follows, posts)."""
    async with services.db.transaction() as session:
        for row in rows:
            session.add(row)
            await session.flush()


async def deliveries(services: Services, kind: str | None = None) -> list[Delivery]:
    async with services.db.session() as session:
        stmt = select(Delivery).join(
            OutboxActivity, col(OutboxActivity.id) == col(Delivery.activity_id)
        )
        if kind is not None:
            stmt = stmt.where(col(OutboxActivity.activity_type) == kind)
        return list((await session.exec(stmt.order_by(col(Delivery.id)))).all())
