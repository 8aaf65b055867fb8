"""What every use case needs, built once per running app (no globals, no import-time work)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from federation.key_cache import KeyCache
from federation.transport import Transport
from federation.urls import Urls
from services.entity_cache import EntityCache
from services.token_cache import TokenCache
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.inbox_writer import InboxWriter
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
    # Signing keys that verified lately, so a busy peer's deliveries skip the key lookup.
    key_cache: KeyCache = field(default_factory=KeyCache, repr=False)
    # Received activities are stored by one writer, many per commit (group commit).
    inbox_writer: InboxWriter = field(init=False, repr=False)
    # Rendered client-API statuses and accounts, for the seconds the page cache keeps pages.
    entity_cache: EntityCache = field(init=False, repr=False)
    # Client-API bearer tokens and browser sessions that resolved lately, for as long.
    token_cache: TokenCache = field(init=False, repr=False)

    _transport: Transport | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.inbox_writer = InboxWriter(self.db)
        self.entity_cache = EntityCache(self.config.server.page_cache_seconds)
        self.token_cache = TokenCache(self.config.server.page_cache_seconds)

    def forget_cached(self) -> None:
        """Empty the caches that follow the page cache's rule (this process just wrote
        something): rendered client-API entities and resolved tokens."""
        self.entity_cache.clear()
        self.token_cache.clear()

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
        """Close what the services opened: the outbound client, the inbox writer (after
        it has stored what it holds), then the database."""
        if self._transport is not None:
            transport, self._transport = self._transport, None
            await transport.close()
        await self.inbox_writer.close()
        await self.db.dispose()

    @classmethod
    def from_config(cls, config: Config) -> Services:
        config.media.root.mkdir(parents=True, exist_ok=True)
        return cls(
            config=config,
            db=Database(config.database.url, echo=config.database.echo),
            blobs=LocalBlobStore(config.media.root),
        )
