"""Fixtures for the inbox and fetch tests: a running fake Mastodon-like peer with ``bob``,
and the services' outbound client closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import func, select

from services.context import Services
from storage.federation_models import InboxItem
from tests.inbox.peer import FakePeer, running_peer


@pytest.fixture(autouse=True)
async def _close_services(services: Services) -> AsyncIterator[None]:
    yield
    await services.close()


@pytest.fixture
async def peer() -> AsyncIterator[FakePeer]:
    async with running_peer("bob", "mallory") as running:
        yield running


async def inbox_count(services: Services) -> int:
    async with services.db.session() as session:
        return int((await session.exec(select(func.count()).select_from(InboxItem))).one())


async def inbox_items(services: Services) -> list[InboxItem]:
    async with services.db.session() as session:
        return list((await session.exec(select(InboxItem))).all())
