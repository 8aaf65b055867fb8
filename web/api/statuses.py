"""Statuses: publish (with uploaded media and ``Idempotency-Key``), read, edit, delete,
thread context, favourite, boost, bookmark, and who favourited or boosted.

Publishing, editing, deleting, liking and boosting call ``services.posts`` (through
``services.api_posts`` for posts made of earlier uploads): the same functions as the web
UI, so what a client does federates exactly like what a person does on the site.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response
from starlette.routing import Route

from services import api_posts
from services import posts as post_service
from services.posts import PostFields
from storage import api_queries as aq
from storage import posts as q
from storage import social_queries
from storage.models import Actor, Boost, Like, Post
from storage.oauth_models import Bookmark
from tessera.errors import InvalidInput, NotFound
from web.api import entities as E
from web.api import render
from web.api.auth import Ctx, endpoint
from web.api.pagination import page_from, paged_response
from web.ids import parse_id

VISIBILITY_IN = {"public": "public", "unlisted": "unlisted", "private": "followers"}


async def _may_see(
    session: AsyncSession, post: Post, author: Actor | None, viewer_id: int | None
) -> bool:
    """Mastodon's rule for showing one status: not when its author is suspended here, nor
    to someone its author blocks (a 404, as for a post that does not exist), and otherwise
    by its audience."""
    if author is None or author.suspended:
        return False
    if (
        viewer_id is not None
        and viewer_id != author.id
        and await social_queries.block_between(session, author.id, viewer_id) is not None
    ):
        return False
    return await q.can_view(session, post, viewer_id)


async def entry_for(session: AsyncSession, status_id: int, viewer_id: int | None) -> aq.Entry:
    """The status with this id (a post, or a boost of one) if the viewer may see it."""
    post = await session.get(Post, status_id)
    if post is not None:
        author = await session.get(Actor, post.actor_id)
        if author is not None and await _may_see(session, post, author, viewer_id):
            return aq.Entry(post=post, author=author, cursor=post.id)
        raise NotFound("Record not found")
    found = await aq.boost_entry(session, status_id)
    if found is not None and await _may_see(session, found.post, found.author, viewer_id):
        return found
    raise NotFound("Record not found")


async def _render(ctx: Ctx, entry: aq.Entry, **kw: Any) -> dict:
    async with ctx.svc.db.session() as session:
        return (await render.statuses(session, ctx.svc, [entry], ctx.viewer_id, **kw))[0]


async def _render_post(ctx: Ctx, post_id: int, **kw: Any) -> dict:
    async with ctx.svc.db.session() as session:
        entry = await entry_for(session, post_id, ctx.viewer_id)
    return await _render(ctx, entry, **kw)


def _ids(ctx: Ctx, name: str) -> list[int]:
    out = []
    for raw in ctx.params.many(name, max_items=40):
        found = parse_id(raw)
        if found is None:
            raise InvalidInput(f"{name} must hold ids.")
        out.append(found)
    return out


def _visibility(ctx: Ctx) -> str:
    value = ctx.params.text("visibility", "public") or "public"
    if value == "direct":
        raise InvalidInput("Direct messages are not supported on this server.")
    if value not in VISIBILITY_IN:
        raise InvalidInput("visibility must be public, unlisted or private.")
    return VISIBILITY_IN[value]


@endpoint(auth="user", scope="write:statuses")
async def create(ctx: Ctx) -> dict:
    p = ctx.params
    if p.has("poll") or p.records("poll"):
        raise InvalidInput("Polls are not supported on this server.")
    if p.text("scheduled_at"):
        raise InvalidInput("Scheduled posts are not supported on this server.")
    key = ctx.request.headers.get("idempotency-key") or None
    if key is not None and len(key) > 255:
        raise InvalidInput("Idempotency-Key is longer than 255 characters.")
    fields = PostFields(
        caption=(p.text("status", "") or "").replace("\r\n", "\n"),
        content_warning=p.text("spoiler_text", "") or "",
        sensitive=p.flag("sensitive"),
        visibility=_visibility(ctx),
    )
    parent = None
    reply_to = p.id("in_reply_to_id")
    if reply_to is not None:
        async with ctx.svc.db.session() as session:
            parent = (await entry_for(session, reply_to, ctx.me.id)).post
    post = await api_posts.create_post_from_media(
        ctx.svc,
        ctx.me,
        _ids(ctx, "media_ids"),
        fields,
        in_reply_to=parent,
        language=p.text("language", max_length=16) or None,
        idempotency_key=key,
    )
    return await _render_post(ctx, post.id)


@endpoint(auth="optional", scope="read:statuses", inline_reads=True)
async def show(ctx: Ctx) -> dict:
    async with ctx.svc.db.session() as session:
        entry = await entry_for(session, ctx.path_id(), ctx.viewer_id)
    return await _render(ctx, entry)


@endpoint(auth="user", scope="read:statuses")
async def source(ctx: Ctx) -> dict:
    async with ctx.svc.db.session() as session:
        entry = await entry_for(session, ctx.path_id(), ctx.me.id)
    if entry.post.actor_id != ctx.me.id:
        raise NotFound("Record not found")
    post = entry.post
    return {"id": str(post.id), "text": post.caption_source, "spoiler_text": post.content_warning}


@endpoint(auth="optional", scope="read:statuses")
async def history(ctx: Ctx) -> list:
    """The current version only: earlier versions are not kept."""
    status = await _render_post(ctx, ctx.path_id())
    status = status["reblog"] or status
    return [
        {
            "content": status["content"],
            "spoiler_text": status["spoiler_text"],
            "sensitive": status["sensitive"],
            "created_at": status["edited_at"] or status["created_at"],
            "account": status["account"],
            "media_attachments": status["media_attachments"],
            "emojis": [],
        }
    ]


@endpoint(auth="user", scope="write:statuses")
async def edit(ctx: Ctx) -> dict:
    p = ctx.params
    post_id = ctx.path_id()
    descriptions: dict[int, str] = {}
    for record in p.records("media_attributes", max_items=40):
        media_id, text = parse_id(str(record.get("id", ""))), record.get("description")
        if media_id is None:
            raise InvalidInput("media_attributes needs the id of each image.")
        if text is not None:
            if not isinstance(text, str):
                raise InvalidInput("media_attributes description must be text.")
            descriptions[media_id] = text
    async with ctx.svc.db.session() as session:
        current = await entry_for(session, post_id, ctx.me.id)
    await api_posts.edit_status(
        ctx.svc,
        ctx.me,
        current.post.id,
        api_posts.StatusEdit(
            caption=(p.text("status", current.post.caption_source) or "").replace("\r\n", "\n"),
            content_warning=p.text("spoiler_text", current.post.content_warning) or "",
            sensitive=p.flag("sensitive", current.post.sensitive),
            media_ids=_ids(ctx, "media_ids") if p.has("media_ids") else None,
            descriptions=descriptions,
        ),
    )
    return await _render_post(ctx, current.post.id)


@endpoint(auth="user", scope="write:statuses")
async def delete(ctx: Ctx) -> dict:
    async with ctx.svc.db.session() as session:
        entry = await entry_for(session, ctx.path_id(), ctx.me.id)
    if entry.boost is not None or entry.post.actor_id != ctx.me.id:
        raise NotFound("Record not found")
    rendered = await _render(ctx, entry, with_source=True)
    await post_service.delete_post(ctx.svc, ctx.me, entry.post.id)
    return rendered


@endpoint(auth="optional", scope="read:statuses")
async def context(ctx: Ctx) -> dict:
    """The thread around a status, without posts the viewer may not see and without those
    of accounts the viewer blocks or that block the viewer (Mastodon leaves both out; this
    server has no mutes)."""
    viewer = ctx.viewer_id
    async with ctx.svc.db.session() as session:
        entry = await entry_for(session, ctx.path_id(), viewer)
        above = await aq.shown_in_thread(session, await aq.ancestors(session, entry.post), viewer)
        below = await aq.shown_in_thread(session, await aq.descendants(session, entry.post), viewer)
        rendered = await render.statuses(
            session, ctx.svc, await render.entries_for_posts(session, above + below), viewer
        )
    return E.context(rendered[: len(above)], rendered[len(above) :])


async def _own_mark(session: AsyncSession, kind: str, ctx: Ctx) -> int | None:
    """The post the path's status names (a post, or a boost of one), if the viewer has
    liked, boosted or bookmarked it (``kind``); else None."""
    status_id = ctx.path_id()
    boost = None if await session.get(Post, status_id) else await session.get(Boost, status_id)
    post_id = boost.post_id if boost is not None else status_id
    model: Any = {"like": Like, "boost": Boost, "mark": Bookmark}[kind]
    found = await session.exec(
        select(model.id).where(model.actor_id == ctx.me.id, model.post_id == post_id)
    )
    return post_id if found.first() is not None else None


def _reaction(kind: str, on: bool):  # type: ignore[no-untyped-def]
    scope = {"like": "write:favourites", "boost": "write:statuses", "mark": "write:bookmarks"}[kind]

    @endpoint(auth="user", scope=scope)
    async def handler(ctx: Ctx) -> dict:
        own: int | None = None
        async with ctx.svc.db.session() as session:
            try:
                post_id = (await entry_for(session, ctx.path_id(), ctx.me.id)).post.id
            except NotFound:
                # Undoing one's own like, boost or bookmark stays possible after the author
                # blocks one or is suspended (as on Mastodon): the record is one's own.
                if on or (own := await _own_mark(session, kind, ctx)) is None:
                    raise
                post_id = own
        if kind == "like":
            await post_service.set_like(ctx.svc, ctx.me, post_id, on)
        elif kind == "boost":
            await post_service.set_boost(ctx.svc, ctx.me, post_id, on)
            if on:
                async with ctx.svc.db.session() as session:
                    boost = await aq.boost_by(session, ctx.me.id, post_id)
                if boost is not None:
                    return await _render(ctx, boost)
        else:
            await api_posts.set_bookmark(ctx.svc, ctx.me, post_id, on)
        if own is not None:  # the status as it is now, though the viewer may no longer see it
            async with ctx.svc.db.session() as session:
                post = await session.get(Post, own)
                author = await session.get(Actor, post.actor_id) if post is not None else None
            if post is None or author is None:
                raise NotFound("Record not found")
            return await _render(ctx, aq.Entry(post=post, author=author, cursor=post.id))
        return await _render_post(ctx, post_id)

    return handler


def _reactors(model: type[Like] | type[Boost]):  # type: ignore[no-untyped-def]
    @endpoint(auth="optional", scope="read:accounts")
    async def handler(ctx: Ctx) -> Response:
        page = page_from(ctx, default=40, maximum=80)
        async with ctx.svc.db.session() as session:
            post_id = (await entry_for(session, ctx.path_id(), ctx.viewer_id)).post.id
            rows = await aq.reactors(session, model, post_id, page)
            items = await render.account_list(session, ctx.svc, [a for _, a in rows])
        return paged_response(ctx, items, [i for i, _ in rows])

    return handler


routes = [
    Route("/api/v1/statuses", create, methods=["POST"]),
    Route("/api/v1/statuses/{id}", show, methods=["GET"]),
    Route("/api/v1/statuses/{id}", edit, methods=["PUT"]),
    Route("/api/v1/statuses/{id}", delete, methods=["DELETE"]),
    Route("/api/v1/statuses/{id}/source", source, methods=["GET"]),
    Route("/api/v1/statuses/{id}/history", history, methods=["GET"]),
    Route("/api/v1/statuses/{id}/context", context, methods=["GET"]),
    Route("/api/v1/statuses/{id}/favourite", _reaction("like", True), methods=["POST"]),
    Route("/api/v1/statuses/{id}/unfavourite", _reaction("like", False), methods=["POST"]),
    Route("/api/v1/statuses/{id}/reblog", _reaction("boost", True), methods=["POST"]),
    Route("/api/v1/statuses/{id}/unreblog", _reaction("boost", False), methods=["POST"]),
    Route("/api/v1/statuses/{id}/bookmark", _reaction("mark", True), methods=["POST"]),
    Route("/api/v1/statuses/{id}/unbookmark", _reaction("mark", False), methods=["POST"]),
    Route("/api/v1/statuses/{id}/favourited_by", _reactors(Like), methods=["GET"]),
    Route("/api/v1/statuses/{id}/reblogged_by", _reactors(Boost), methods=["GET"]),
]
