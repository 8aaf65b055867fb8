"""Notifications: the list (with ``types[]``, ``exclude_types[]`` and ``account_id``), one
notification, dismissing one and clearing all.

Tessera records replies as ``reply``; the API shows them as Mastodon does, as ``mention``.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from storage import api_batch as b
from storage import api_queries as aq
from tessera.errors import NotFound
from web.api import render
from web.api.auth import Ctx, endpoint
from web.api.pagination import page_from, paged_response

KINDS_OF_TYPE = {
    "mention": {"mention", "reply"},
    "reblog": {"reblog"},
    "favourite": {"favourite"},
    "follow": {"follow"},
    "follow_request": {"follow_request"},
}


def _kinds(types: list[str]) -> set[str]:
    """Our notification kinds for Mastodon types (types we never produce match nothing)."""
    return {kind for t in types for kind in KINDS_OF_TYPE.get(t, {f"unsupported:{t}"})}


@endpoint(auth="user", scope="read:notifications")
async def index(ctx: Ctx) -> Response:
    p = ctx.params
    types = p.many("types", max_items=20)
    excluded = p.many("exclude_types", max_items=20)
    page = page_from(ctx, default=40, maximum=80)
    async with ctx.svc.db.session() as session:
        rows = await aq.notifications(
            session,
            ctx.me.id,
            page,
            kinds=_kinds(types) if types else None,
            exclude=_kinds(excluded) if excluded else None,
            from_account_id=p.id("account_id"),
        )
        items = await render.notifications(session, ctx.svc, rows, ctx.me.id)
    return paged_response(ctx, items, [n.id for n, _, _ in rows])


@endpoint(auth="user", scope="read:notifications")
async def show(ctx: Ctx) -> dict:
    async with ctx.svc.db.session() as session:
        row = await b.notification_row(session, ctx.me.id, ctx.path_id())
        if row is None:
            raise NotFound("Record not found")
        return (await render.notifications(session, ctx.svc, [row], ctx.me.id))[0]


@endpoint(auth="user", scope="write:notifications")
async def dismiss(ctx: Ctx) -> dict:
    async with ctx.svc.db.transaction() as session:
        if not await b.delete_notifications(session, ctx.me.id, ctx.path_id()):
            raise NotFound("Record not found")
    return {}


@endpoint(auth="user", scope="write:notifications")
async def clear(ctx: Ctx) -> dict:
    async with ctx.svc.db.transaction() as session:
        await b.delete_notifications(session, ctx.me.id, None)
    return {}


routes = [
    Route("/api/v1/notifications", index, methods=["GET"]),
    Route("/api/v1/notifications/clear", clear, methods=["POST"]),
    Route("/api/v1/notifications/{id}", show, methods=["GET"]),
    Route("/api/v1/notifications/{id}/dismiss", dismiss, methods=["POST"]),
]
