"""Fixtures for processing stored activities: fake peers with real keys, closed cleanly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from federation.keys import generate_rsa_keypair
from services.context import Services
from tests.inbox_processing.peer import Peer, running_peer


@pytest.fixture(scope="session")
def peer_keys() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture(scope="session")
def other_peer_keys() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture
async def peer(peer_keys: tuple[str, str], services: Services) -> AsyncIterator[Peer]:
    async with running_peer(peer_keys) as running:
        yield running
    await services.close()  # the transport the worker opened, before the loop ends


@pytest.fixture
async def other_peer(other_peer_keys: tuple[str, str]) -> AsyncIterator[Peer]:
    async with running_peer(other_peer_keys) as running:
        yield running
