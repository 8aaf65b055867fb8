"""View models: rows turned into what templates (and feeds) show.

Templates get plain values (URLs, sizes, placeholders) so they never reach into the
database or compute URLs themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from federation.urls import Urls
from media.placeholder import placeholder_data_uri
from services.entity_cache import EntityCache
from storage import posts as q
from storage.models import Actor, Post
from storage.posts import MediaRow, PostTile


class ActorLike(Protocol):
    """What an author's view needs: a whole ``Actor`` or a grid tile row."""

    username: str
    domain: str | None
    display_name: str
    avatar_key: str | None


@dataclass(frozen=True)
class ActorView:
    actor: Any  # the Actor on full pages; the tile row on grids (no ``id`` of its own)
    handle: str  # "@name" for local, "@name@domain" for remote
    full_handle: str  # always "@name@domain"
    profile_url: str
    avatar_url: str
    display_name: str


@dataclass(frozen=True)
class MediaView:
    id: int
    alt: str
    thumb_url: str
    display_url: str
    original_url: str
    width: int
    height: int
    thumb_width: int
    thumb_height: int
    display_width: int
    display_height: int
    placeholder: str
    mime: str

    @property
    def aspect(self) -> float:
        return (self.width / self.height) if self.height else 1.0

    @property
    def srcset(self) -> str:
        return (
            f"{self.thumb_url} {self.thumb_width}w, {self.display_url} {self.display_width}w, "
            f"{self.original_url} {self.width}w"
        )


@dataclass
class PostView:
    post: Any  # a whole Post, or on grids a PostTile row with the columns a tile shows
    author: ActorView
    media: list[MediaView]
    url: str
    liked: bool = False
    boosted: bool = False
    replies: list[PostView] = field(default_factory=list)
    html: str | None = None  # a grid tile's HTML, rendered (or cached) by build_tile_views

    @property
    def cover(self) -> MediaView | None:
        return self.media[0] if self.media else None


def actor_view(actor: ActorLike, urls: Urls, local_domain: str) -> ActorView:
    if actor.domain is None:
        handle = f"@{actor.username}"
        full = f"@{actor.username}@{local_domain}"
        profile = urls.profile(actor.username)
    else:
        handle = full = f"@{actor.username}@{actor.domain}"
        profile = f"{urls.base}/@{actor.username}@{actor.domain}"
    avatar = urls.media(actor.avatar_key) if actor.avatar_key else f"{urls.base}/static/avatar.svg"
    return ActorView(
        actor=actor,
        handle=handle,
        full_handle=full,
        profile_url=profile,
        avatar_url=avatar,
        display_name=actor.display_name or actor.username,
    )


def media_view(media: MediaRow, urls: Urls) -> MediaView:
    def url(key: str | None) -> str:
        # Remote images are served from our own copy; one we could not fetch shows a
        # placeholder rather than hot-linking the other server (a privacy leak).
        return urls.media(key) if key else f"{urls.base}/static/unavailable.svg"

    aspect = media.width / media.height if media.height else 1.0
    return MediaView(
        id=media.id,
        alt=media.description,
        thumb_url=url(media.thumb_key),
        display_url=url(media.display_key),
        original_url=url(media.original_key),
        width=media.width,
        height=media.height,
        thumb_width=media.thumb_width or media.width,
        thumb_height=media.thumb_height or media.height,
        display_width=media.display_width or media.width,
        display_height=media.display_height or media.height,
        placeholder=placeholder_data_uri(media.blurhash, round(aspect, 2)),
        mime=media.original_mime,
    )


def post_url(post_id: int, author: ActorLike, urls: Urls) -> str:
    """Our page for the post; remote posts render here too, like local ones."""
    if author.domain is None:
        return urls.post_page(author.username, post_id)
    return f"{urls.base}/@{author.username}@{author.domain}/{post_id}"


async def build_post_views(
    session: AsyncSession,
    rows: Sequence[tuple[Post, Actor]],
    urls: Urls,
    local_domain: str,
    viewer_id: int | None,
) -> list[PostView]:
    ids = [p.id for p, _ in rows]
    media = await q.media_rows_for(session, ids)
    liked: set[int] = set()
    boosted: set[int] = set()
    if viewer_id is not None:
        liked, boosted = await q.interactions_of(session, viewer_id, ids)
    return [
        PostView(
            post=p,
            author=actor_view(a, urls, local_domain),
            media=[media_view(m, urls) for m in media.get(p.id, [])],
            url=post_url(p.id, a, urls),
            liked=p.id in liked,
            boosted=p.id in boosted,
        )
        for p, a in rows
    ]


async def build_tile_views(
    session: AsyncSession,
    tiles: Sequence[PostTile],
    urls: Urls,
    local_domain: str,
    *,
    cache: EntityCache | None = None,
    render_tile: Callable[[PostView], str] | None = None,
) -> list[PostView]:
    """Grid tiles for anonymous-looking pages: rows, not entities, and one author view per
    author on the page. Likes and boosts are not shown on tiles, so none are looked up.

    With ``render_tile`` (the grid's ``tile`` macro), each view carries its tile's HTML,
    and with ``cache`` too that HTML is kept by the tile's row (``EntityCache.tile``): a
    tile found there costs no media lookup and no rendering, which were about a third of
    a signed-in grid page (docs/performance.md). Its view then has no media."""
    # Before the media reads: a tile rendered while a write empties the cache is not kept.
    # (Its row was read before this; a row that changed meanwhile is kept under a hash
    # no later row has, and never found.)
    generation = cache.generation if cache is not None else 0
    kept: dict[int, str] = {}
    if cache is not None and render_tile is not None:
        for tile in tiles:
            found = cache.tile(tile)
            if found is not None:
                kept[tile.id] = found
    todo = [t.id for t in tiles if t.id not in kept]
    media = await q.media_rows_for(session, todo) if todo else {}
    authors: dict[int, ActorView] = {}
    views = []
    for tile in tiles:
        author = authors.get(tile.actor_id)
        if author is None:
            author = authors[tile.actor_id] = actor_view(tile, urls, local_domain)
        view = PostView(
            post=tile,
            author=author,
            media=[media_view(m, urls) for m in media.get(tile.id, [])],
            url=post_url(tile.id, tile, urls),
            html=kept.get(tile.id),
        )
        if view.html is None and render_tile is not None:
            view.html = render_tile(view)
            if cache is not None:
                cache.keep_tile(tile, view.html, generation=generation)
        views.append(view)
    return views
