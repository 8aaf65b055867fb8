"""What every use case needs, built once per running app (no globals, no import-time work)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from federation.transport import Transport
from federation.urls import Urls
from storage.blobs import LocalBlobStore
from storage.db import Database
from tessera.config import Config


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    config: Config
    db: Database
    blobs: LocalBlobStore
    clock: Callable[[], datetime] = _utcnow
    # Image work runs in threads (Pillow releases the GIL); bounding it keeps a burst of
    # uploads from starving the event loop's own thread of CPU.
    media_slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(max(1, (os.cpu_count() or 2)))
    )

    _transport: Transport | None = field(default=None, init=False, repr=False)

    @property
    def urls(self) -> Urls:
        return Urls(self.config.base_url)

    @property
    def transport(self) -> Transport:
        """The one outbound HTTP client, made on first use (nothing opens at start-up)."""
        if self._transport is None:
            self._transport = Transport(
                user_agent=f"Tessera/0.1.0 (+{self.config.base_url})",
                allow_private_addresses=self.config.federation.allow_private_addresses,
                clock=self.clock,
            )
        return self._transport

    async def close(self) -> None:
        """Close what the services opened: the outbound client, then the database."""
        if self._transport is not None:
            transport, self._transport = self._transport, None
            await transport.close()
        await self.db.dispose()

    @classmethod
    def from_config(cls, config: Config) -> Services:
        config.media.root.mkdir(parents=True, exist_ok=True)
        return cls(
            config=config,
            db=Database(config.database.url, echo=config.database.echo),
            blobs=LocalBlobStore(config.media.root),
        )
