"""Rendered status and account entities of the client API, and the grid tiles of the
HTML pages, kept for a few seconds.

A client refreshing its home timeline asks for the same forty statuses again and again,
and so do its followers' clients: the statuses and their authors change far less often
than they are read. Rendering one from the database costs five lookups (media, tags,
mentions, the replied-to author, the author's counts) and the Python to build the JSON
shape; looking it up here costs a dictionary read. Mastodon keeps rendered statuses in
its cache for the same reason.

What a cached entity may and may not be behind:

- Each status is stored with its *version*: the columns of its ``post`` row that the
  entity shows (text, warning, visibility, edit time, and the reply, boost and like
  counts). The row is read on every request anyway, so a changed post or a new count is
  never served stale: the version differs and the status is rendered again.
- An account is stored with the columns of its ``actor`` row in the same way, and a
  status with its author's too (the status embeds its author's account).
- What is read from other tables (media descriptions, tags, mentions, an author's
  follower and post counts) may be up to ``ttl`` seconds old when the change came from
  elsewhere (the federation inbox, the command line, ``tessera worker``); any write
  through the web or client API of this process, or of another web process of the same
  server (their shared ``ChangeSignal``), empties the cache before the next request
  (``web.page_cache`` calls :meth:`EntityCache.clear`), as it empties the anonymous
  page cache.
- Only the viewer-independent part is kept: favourited, reblogged, bookmarked and pinned
  are added per request, on a copy.

A grid tile (``web.views.build_tile_views``) is kept as its HTML under the same rules,
its row being the version (media are the other table). A tile found costs a signed-in
grid page no media lookup and no template rendering; anonymous pages are whole-page
cached already (``web.page_cache``).

A status is kept as its JSON (``orjson``), not as the dict: a timeline page is then
forty cached byte strings with the viewer's fields spliced in (``web.api.entities.
status_json``), with nothing to serialize again, and the bytes take about a third of
the memory of the dicts (~2 against ~6 KB a status). Accounts stay dicts: statuses and
boosts embed them.

Bounded by count (a status entity is a few KB): the hot set is recent posts, and the
benchmark's memory growth target counts what a cache holds.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from storage.api_queries import ActorRow, PostRow

MAX_STATUSES = 1000
MAX_ACCOUNTS = 1000
MAX_TILES = 2000
"""Grid tiles: a page shows thirty, and the hot set is the first pages of the gallery, of
followed accounts and of home. A tile is ~1.3 KB of strings and keys but ~3 KB of the
process once the allocator's share is counted (20,000 mixed requests grew the server by
30 MB with 2,000 tiles kept, 24 MB with none; docs/performance.md). 4,000 held the
benchmark's whole signed-in cycle (its 100 profiles are 3,000 tiles; an LRU smaller than
a cycle it is walked in keeps nothing of it) for no better memory figure in one run."""


def post_version(post: PostRow) -> tuple[Any, ...]:
    """The ``post`` columns a status entity shows: if any changed, render it again."""
    return (
        post.edited_at,
        post.content_html,
        post.content_warning,
        post.sensitive,
        post.visibility,
        post.language,
        post.url,
        post.in_reply_to_id,
        post.likes_count,
        post.boosts_count,
        post.replies_count,
    )


def actor_version(actor: ActorRow) -> tuple[Any, ...]:
    """The ``actor`` columns an account entity shows."""
    return (
        actor.username,
        actor.domain,
        actor.url,
        actor.display_name,
        actor.bio_html,
        actor.avatar_key,
        actor.header_key,
        actor.manually_approves_followers,
        actor.actor_type,
        actor.discoverable,
        actor.moved_to_id,
    )


class _Lru:
    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self.items: OrderedDict[int, tuple[float, Hashable, Any]] = OrderedDict()

    def get(self, key: int, version: Hashable, now: float) -> Any:
        found = self.items.get(key)
        if found is None:
            return None
        expires, stored_version, value = found
        if expires <= now or stored_version != version:
            del self.items[key]
            return None
        self.items.move_to_end(key)
        return value

    def put(self, key: int, version: Hashable, value: Any, expires: float) -> None:
        self.items[key] = (expires, version, value)
        self.items.move_to_end(key)
        while len(self.items) > self.max_items:
            self.items.popitem(last=False)


class EntityCache:
    """Statuses by post id and accounts by actor id, each with its version. A ``ttl`` of
    0 turns it off (every lookup misses, nothing is stored)."""

    def __init__(
        self,
        ttl_seconds: float,
        *,
        max_statuses: int = MAX_STATUSES,
        max_accounts: int = MAX_ACCOUNTS,
        max_tiles: int = MAX_TILES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl_seconds
        self.clock = clock
        self._statuses = _Lru(max_statuses)
        self._accounts = _Lru(max_accounts)
        self._tiles = _Lru(max_tiles)
        self.generation = 0

    def clear(self) -> None:
        """Forget everything: this process just wrote something an entity may show."""
        self.generation += 1
        self._statuses.items.clear()
        self._accounts.items.clear()
        self._tiles.items.clear()

    def status(self, post: PostRow, author: ActorRow) -> bytes | None:
        """The status's viewer-independent JSON, if kept and still current."""
        if self.ttl <= 0:
            return None
        version = (post_version(post), actor_version(author))
        return self._statuses.get(post.id, version, self.clock())

    def keep_status(
        self, post: PostRow, author: ActorRow, entity_json: bytes, *, generation: int
    ) -> None:
        """Store an entity rendered from reads made under ``generation`` (read it before
        the first of them): one rendered while a write was emptying the cache may show
        what that write changed in other tables, so it is not stored."""
        if self.ttl > 0 and generation == self.generation:
            version = (post_version(post), actor_version(author))
            self._statuses.put(post.id, version, entity_json, self.clock() + self.ttl)

    def account(self, actor: ActorRow) -> dict[str, Any] | None:
        if self.ttl <= 0:
            return None
        return self._accounts.get(actor.id, actor_version(actor), self.clock())

    def keep_account(self, actor: ActorRow, entity: dict[str, Any], *, generation: int) -> None:
        if self.ttl > 0 and generation == self.generation:
            self._accounts.put(actor.id, actor_version(actor), entity, self.clock() + self.ttl)

    def tile(self, row: Any) -> str | None:
        """A grid tile's HTML, if kept and its row (the post and author columns a tile
        shows, ``storage.posts.PostTile``) is unchanged. The row is compared by its hash:
        keeping every row's strings would double what a tile costs, and a collision of
        64-bit hashes would at worst show a tile up to ``ttl`` seconds old."""
        if self.ttl <= 0:
            return None
        return self._tiles.get(row.id, hash(tuple(row)), self.clock())  # type: ignore[no-any-return]

    def keep_tile(self, row: Any, html: str, *, generation: int) -> None:
        if self.ttl > 0 and generation == self.generation:
            self._tiles.put(row.id, hash(tuple(row)), html, self.clock() + self.ttl)

    def __len__(self) -> int:
        return len(self._statuses.items) + len(self._accounts.items) + len(self._tiles.items)
