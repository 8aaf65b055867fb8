"""Timelines: home (own posts, followed accounts and their boosts), public (``local``,
``remote``, ``only_media``) and hashtag, each a cursor page with a ``Link`` header."""

from __future__ import annotations

import contextlib

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response
from starlette.routing import Route

from storage import api_queries as aq
from storage.sqlite_driver import reads_on_thread
from tessera.errors import NotFound
from web.api import render
from web.api.auth import Ctx, endpoint
from web.api.pagination import page_from, paged_response


async def _respond(ctx: Ctx, session: AsyncSession, entries: list[aq.Entry]) -> Response:
    """The page as JSON; rendered in the session that found the entries (each session
    costs a checkout and a rollback, each a hand-off to the database thread)."""
    items = await render.statuses(session, ctx.svc, entries, ctx.viewer_id, as_json=True)
    return paged_response(ctx, items, [e.cursor for e in entries])


@endpoint(auth="user", scope="read:statuses", inline_reads=True)
async def home(ctx: Ctx) -> Response:
    async with ctx.svc.db.session() as session:
        entries = await aq.home(session, ctx.me.id, page_from(ctx))
        return await _respond(ctx, session, entries)


@endpoint(auth="optional", scope="read:statuses", inline_reads=True)
async def public(ctx: Ctx) -> Response:
    return await _public_page(ctx)


@endpoint(auth="optional", scope="read:statuses")  # a hashtag's every post is listed
async def tag(ctx: Ctx) -> Response:
    name = str(ctx.request.path_params["hashtag"]).lstrip("#")
    if not name or len(name) > 100:
        raise NotFound("Record not found")
    return await _public_page(ctx, tag=name)


async def _public_page(ctx: Ctx, *, tag: str | None = None) -> Response:
    """The public timeline, or one hashtag's. Inline reads (where the endpoint asks for
    them) walk an index in page order; ``only_media`` tests every post it walks for
    media, and a walk through text posts has no bound in a page, so that one reads on
    SQLite's thread."""
    p = ctx.params
    only_media = p.flag("only_media")
    async with ctx.svc.db.session() as session:
        with reads_on_thread() if only_media else contextlib.nullcontext():
            entries = await aq.public(
                session,
                ctx.viewer_id,
                page_from(ctx),
                local=p.flag("local"),
                remote=p.flag("remote"),
                only_media=only_media,
                tag=tag,
            )
        return await _respond(ctx, session, entries)


routes = [
    Route("/api/v1/timelines/home", home, methods=["GET"]),
    Route("/api/v1/timelines/public", public, methods=["GET"]),
    Route("/api/v1/timelines/tag/{hashtag}", tag, methods=["GET"]),
]
