"""Public pages: the gallery, profiles, posts and hashtags."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from storage import accounts as accounts_q
from storage import api_batch
from storage import posts as q
from storage import social_queries as social_q
from storage.models import Actor, Post, Tombstone
from storage.posts import PostTile
from storage.sqlite_driver import reads_on_thread
from tessera.errors import Gone, InvalidInput, NotFound
from web.context import current_user, inline_page_reads, render, require_user, services, web
from web.ids import parse_id
from web.views import PostView, actor_view, build_post_views, build_tile_views

PAGE_SIZE = 30


def _cursor(request: Request) -> int | None:
    raw = request.query_params.get("max_id")
    if raw is None or raw == "":
        return None
    max_id = parse_id(raw)
    if max_id is None:
        raise InvalidInput("max_id must be a post id.", status=400)
    return max_id


def _next_link(request: Request, views: list[PostView], more: bool) -> str | None:
    if not more or not views:
        return None
    return f"{request.url.path}?max_id={views[-1].post.id}"


async def _viewer_id(request: Request) -> int | None:
    found = await current_user(request)
    return found[0].id if found else None


async def _grid_page(
    request: Request,
    views_for: Callable[[AsyncSession, int | None, int], Awaitable[tuple[list[PostView], bool]]],
    *,
    title: str,
    heading: str | None,
) -> Response:
    """A cursor page of posts rendered as the gallery grid (home, timeline, hashtag).

    ``views_for`` reads one page (and says whether there are more) from the cursor.
    """
    svc = services(request)
    max_id = _cursor(request)
    async with svc.db.session() as session:
        views, more = await views_for(session, max_id, PAGE_SIZE)
    return await render(
        request,
        "gallery.html",
        {
            "posts": views,
            "next_url": _next_link(request, views, more),
            "title": title,
            "heading": heading,
        },
    )


async def _tile_views(
    request: Request, session: AsyncSession, tiles: Sequence[PostTile]
) -> list[PostView]:
    """A grid's views, each with its tile's HTML from the entity cache or rendered now
    by the grid's own ``tile`` macro (``build_tile_views``)."""
    svc = services(request)
    macros = web(request).templates.env.get_template("macros.html").module
    return await build_tile_views(
        session,
        tiles,
        svc.urls,
        svc.config.instance.domain,
        cache=svc.entity_cache,
        render_tile=macros.tile,  # type: ignore[attr-defined]
    )


def _tile_pages(
    request: Request, query: Callable[[AsyncSession, int | None, int], Awaitable[list[PostTile]]]
) -> Callable[[AsyncSession, int | None, int], Awaitable[tuple[list[PostView], bool]]]:
    """Grid views read as tile rows (public pages)."""

    async def views_for(
        session: AsyncSession, max_id: int | None, limit: int
    ) -> tuple[list[PostView], bool]:
        tiles = await query(session, max_id, limit + 1)
        return await _tile_views(request, session, tiles[:limit]), len(tiles) > limit

    return views_for


@inline_page_reads
async def home(request: Request) -> Response:
    return await _grid_page(
        request,
        _tile_pages(
            request,
            lambda session, max_id, limit: q.local_gallery(session, max_id=max_id, limit=limit),
        ),
        title=services(request).config.instance.name,
        heading=None,
    )


@inline_page_reads
async def home_timeline(request: Request) -> Response:
    actor, _ = await require_user(request)

    async def views_for(
        session: AsyncSession, max_id: int | None, limit: int
    ) -> tuple[list[PostView], bool]:
        tiles = await q.home(session, actor.id, max_id=max_id, limit=limit + 1)
        return await _tile_views(request, session, tiles[:limit]), len(tiles) > limit

    return await _grid_page(request, views_for, title="Home", heading="Home")


def _handle(request: Request) -> tuple[str, str | None]:
    """(username, domain or None for ours) from ``@name`` or ``@name@domain``."""
    username, _, domain = request.path_params["name"].partition("@")
    if domain == services(request).config.instance.domain:
        domain = ""
    return username, domain or None


def _shown(actor: Actor | None) -> Actor:
    if actor is None or actor.suspended:
        raise NotFound("No such account.")
    return actor


async def _actor_from_path(request: Request) -> Actor:
    """The account the path names, or 404 (suspended, disabled or unapproved: 404 too)."""
    async with services(request).db.session() as session:
        return _shown(await q.page_account(session, *_handle(request)))


async def _relationship(session: AsyncSession, viewer: int | None, target: int) -> str | None:
    """How the viewer stands towards the profile: following, requested, blocking or None."""
    if viewer is None or viewer == target:
        return None
    if await social_q.block_between(session, viewer, target) is not None:
        return "blocking"
    follow = await accounts_q.follow_between(session, viewer, target)
    if follow is None:
        return None
    return "following" if follow.state == "accepted" else "requested"


@inline_page_reads
async def profile(request: Request) -> Response:
    svc = services(request)
    max_id = _cursor(request)
    viewer = await _viewer_id(request)
    async with svc.db.session() as session:
        with reads_on_thread():  # its follower counts read an index entry per follower
            found = await q.profile_account(session, *_handle(request))
        actor, followers, following = found if found else (None, 0, 0)
        actor = _shown(actor)
        tiles = await q.by_actor_tiles(
            session, actor.id, viewer_id=viewer, max_id=max_id, limit=PAGE_SIZE + 1
        )
        views = await _tile_views(request, session, tiles[:PAGE_SIZE])
        relationship = await _relationship(session, viewer, actor.id)
        moved = await api_batch.moved_targets(
            session, [actor.moved_to_id] if actor.moved_to_id else []
        )
    who = actor_view(actor, svc.urls, svc.config.instance.domain)
    target = moved.get(actor.moved_to_id or 0)
    return await render(
        request,
        "profile.html",
        {
            "account": who,
            "posts": views,
            "next_url": _next_link(request, views, len(tiles) > PAGE_SIZE),
            "followers": followers,
            "following": following,
            "relationship": relationship,
            "moved_to": actor_view(target, svc.urls, svc.config.instance.domain)
            if target
            else None,
            "feed_url": f"{svc.urls.profile(actor.username)}.atom"
            if actor.domain is None
            else None,
            "header_url": svc.urls.media(actor.header_key) if actor.header_key else None,
        },
    )


async def _blocked_by_author(session: AsyncSession, author: Actor, viewer: int | None) -> bool:
    """Whether the post's author blocks the signed-in viewer: then the post page is a 404,
    the one an unknown post gives, as the client API answers (Mastodon's StatusPolicy), so
    a blocked account cannot read the post by opening its URL. A suspended author never
    gets this far (``_shown``). One lookup on the unique (actor, target) index of blocks,
    and none for anonymous readers or the author."""
    if viewer is None or viewer == author.id:
        return False
    return await social_q.block_between(session, author.id, viewer) is not None


async def post_page(request: Request) -> Response:
    """One post with its replies and the post it answers. A 404 when its author is
    suspended (``_shown``), blocks the viewer, or its audience leaves the viewer out; the
    post it answers and its replies are left out on the same grounds."""
    svc = services(request)
    post_id = request.path_params["post_id"]
    viewer = await _viewer_id(request)
    async with svc.db.session() as session:
        actor = _shown(await q.page_account(session, *_handle(request)))
        post = await session.get(Post, post_id)
        if post is None or post.actor_id != actor.id:
            if actor.domain is None:
                tomb = await session.get(Tombstone, svc.urls.post_id(actor.username, post_id))
                if tomb is not None:
                    raise Gone("This post was deleted.")
            raise NotFound("No such post.")
        if await _blocked_by_author(session, actor, viewer) or not await q.can_view(
            session, post, viewer
        ):
            raise NotFound("No such post.")
        [view] = await build_post_views(
            session, [(post, actor)], svc.urls, svc.config.instance.domain, viewer
        )
        reply_rows = await q.replies_to(
            session, post.id, viewer_id=viewer, parent_author_id=post.actor_id
        )
        view.replies = await build_post_views(
            session, reply_rows, svc.urls, svc.config.instance.domain, viewer
        )
        tags = await q.tags_of(session, post.id)
        parent_view = None
        if post.in_reply_to_id is not None:
            parent = await q.post_with_author(session, post.in_reply_to_id)
            if (
                parent is not None
                and not parent[1].suspended
                and not await _blocked_by_author(session, parent[1], viewer)
                and await q.can_view(session, parent[0], viewer)
            ):
                [parent_view] = await build_post_views(
                    session, [parent], svc.urls, svc.config.instance.domain, viewer
                )
    return await render(request, "post.html", {"view": view, "tags": tags, "parent": parent_view})


@inline_page_reads
async def tag_page(request: Request) -> Response:
    tag = request.path_params["tag"]
    if not tag or len(tag) > 100:
        raise NotFound("No such hashtag.")
    return await _grid_page(
        request,
        _tile_pages(
            request,
            lambda session, max_id, limit: q.by_tag(session, tag, max_id=max_id, limit=limit),
        ),
        title=f"#{tag}",
        heading=f"#{tag}",
    )


routes = [
    Route("/", home, methods=["GET"]),
    Route("/home", home_timeline, methods=["GET"]),
    Route("/tags/{tag}", tag_page, methods=["GET"]),
    Route("/@{name}/{post_id:id}", post_page, methods=["GET"]),
    Route("/@{name}", profile, methods=["GET"]),
]
