"""What every inbox handler shares: its context, the origin rule and tolerant fetching.

The origin rule: the inbox verified who *sent* an activity (its actor), nothing more. An
object embedded in it is only taken as given when its id lives on that actor's origin;
anything else (a boosted post of a third server, a forwarded reply) is fetched again from
where its id says it lives, and ``fetch_object`` checks that the document fetched there
carries that very id. A document that cannot be had that way is dropped.

Fetch errors come in two kinds. Permanent ones (404/410, a refused address, a document
that is not what it claims) mean "drop it": retrying cannot help. Transient ones (timeouts,
refused connections, 5xx) propagate, so the item is retried with backoff.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from federation.fetch import FetchContext, fetch_object, get_actor
from federation.parse import ParsedActivity, id_of, same_origin
from federation.transport import (
    AddressRefused,
    BadContentType,
    BadDocument,
    FetchError,
    OriginMismatch,
    RedirectRefused,
    RemoteHTTPError,
    ResponseTooLarge,
)
from storage.blobs import LocalBlobStore
from storage.inbox_writer import InboxWriter
from storage.models import Actor
from tessera.errors import NotFound

DONE = "done"
IGNORED = "ignored"

_PERMANENT = (
    AddressRefused,
    BadContentType,
    BadDocument,
    OriginMismatch,
    RedirectRefused,
    ResponseTooLarge,
)
_RETRYABLE_STATUSES = frozenset({408, 425, 429})


class InboxServices(FetchContext, Protocol):
    """What processing needs from the application (``services.context.Services`` fits)."""

    blobs: LocalBlobStore
    media_slots: asyncio.Semaphore
    inbox_writer: InboxWriter


def is_permanent(exc: FetchError) -> bool:
    """Whether retrying a failed fetch later is pointless."""
    if isinstance(exc, RemoteHTTPError):
        status = exc.remote_status
        return 400 <= status < 500 and status not in _RETRYABLE_STATUSES
    return isinstance(exc, _PERMANENT)


async def fetch_or_none(services: InboxServices, url: str) -> dict[str, Any] | None:
    """``fetch_object`` that answers None for permanent failures (transient ones raise)."""
    try:
        return await fetch_object(services, url)
    except FetchError as exc:
        if is_permanent(exc):
            return None
        raise


async def actor_or_none(services: InboxServices, url: str | None) -> Actor | None:
    """``get_actor`` that answers None when the actor cannot be had (gone, not an actor)
    or must not be heard (suspended here, or deleted by its own server)."""
    if not url:
        return None
    try:
        actor = await get_actor(services, url)
        return None if actor.suspended else actor
    except NotFound:
        return None
    except FetchError as exc:
        if is_permanent(exc):
            return None
        raise


@dataclass
class InboxContext:
    """One stored activity being processed."""

    services: InboxServices
    activity: ParsedActivity
    item_id: int = 0
    _actor: Actor | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return self.services.config.base_url

    def is_local(self, url: str | None) -> bool:
        return url is not None and same_origin(url, self.base_url)

    async def actor(self) -> Actor | None:
        """The (remote) actor who sent the activity, fetched or from the cache."""
        if self._actor is None:
            if self.is_local(self.activity.actor):
                return None  # our own activities never come back through the inbox
            self._actor = await actor_or_none(self.services, self.activity.actor)
        return self._actor

    def from_actor_origin(self, url: str | None) -> bool:
        return same_origin(url, self.activity.actor)

    async def trusted_object(self, value: Any) -> dict[str, Any] | None:
        """``value`` as a document we may believe (see the module docstring), or None."""
        object_id = id_of(value)
        if not object_id or self.is_local(object_id):
            return None
        if isinstance(value, dict) and self.from_actor_origin(object_id):
            return value
        return await fetch_or_none(self.services, object_id)
