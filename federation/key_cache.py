"""Signing keys the inbox has verified lately, kept in memory.

A busy peer signs every delivery with the same key. Looking its owner up in the database
for each one (a pool checkout, a query, ORM objects, a rollback: several trips to the
database thread) was the largest cost of accepting a delivery, and the verify itself is a
small one. So the owner found for a key id is remembered for :data:`RECHECK_AFTER`.

Why a short re-check instead of invalidation: the actor row can change in another process
(``tessera worker`` runs Update{Person} and Delete{actor}), which no in-memory hook would
hear of. After :data:`RECHECK_AFTER` the entry is read again from the database, so a row
changed elsewhere - a rotated key stored by Update{Person} - is seen within that time.
Key rotation seen by the inbox itself needs no wait: a cached key that fails is refetched
(``federation.inbox_receive.authenticate``) and the fresh owner replaces the entry.
Only owners whose key has just verified a signature are remembered, and a remembered key
that fails is dropped before the usual lookup runs: memory is a fast path in front of
``federation.fetch.get_actor_by_key_id``, whose policy (``ACTOR_TTL``, refetch of stale
actors) it follows at most :data:`RECHECK_AFTER` late.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from storage.models import Actor

__all__ = ["RECHECK_AFTER", "KeyCache"]

RECHECK_AFTER = timedelta(seconds=30)
"""How long a key's owner is used from memory before the database is asked again."""

MAX_ENTRIES = 1_000
"""Keys remembered at most, least recently used dropped first: bounds memory (an entry holds
an actor row), not correctness. Senders beyond it are looked up as before."""


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Entry:
    owner: Actor
    checked_at: datetime


class KeyCache:
    """key id -> the actor row that holds that key, as last read or fetched."""

    def __init__(self, *, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._max = max_entries

    def get(self, key_id: str, now: datetime) -> Actor | None:
        """The remembered owner of ``key_id``, or None when unknown or due for a re-check."""
        entry = self._entries.get(key_id)
        if entry is None:
            return None
        if _aware(now) - entry.checked_at >= RECHECK_AFTER:
            del self._entries[key_id]
            return None
        self._entries.move_to_end(key_id)
        return entry.owner

    def put(self, key_id: str, owner: Actor, now: datetime) -> None:
        """Remember ``owner``, whose key verified a signature at ``now``, for ``key_id``."""
        self._entries[key_id] = _Entry(owner, _aware(now))
        self._entries.move_to_end(key_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, key_id: str) -> None:
        """Drop ``key_id`` (its remembered key failed a signature: it may have changed)."""
        self._entries.pop(key_id, None)
