"""Fixtures for the transport tests: one actor key pair, a signer, a Transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from federation.keys import generate_rsa_keypair
from federation.transport import Signer, Transport

USER_AGENT = "Tessera/0.1.0 (+http://gallery.test)"


@pytest.fixture(scope="session")
def keypair() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture
def signer(keypair: tuple[str, str]) -> Signer:
    return Signer(key_id="http://gallery.test/users/alice#main-key", private_key_pem=keypair[0])


@pytest.fixture
def public_pem(keypair: tuple[str, str]) -> str:
    return keypair[1]


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    """Private addresses allowed: the fake peers live on 127.0.0.1."""
    async with Transport(user_agent=USER_AGENT, allow_private_addresses=True) as client:
        yield client
