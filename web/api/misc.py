"""Bookmarks, favourites and read markers, plus the empty-but-valid answers Mastodon
clients ask for on start-up (filters, lists, trends, announcements, mutes...) for
features Tessera does not have yet. An empty list is a true answer: there are none."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from storage import api_batch as b
from storage import api_queries as aq
from storage.oauth_models import Marker
from tessera.errors import InvalidInput, NotFound
from web.api import render
from web.api.auth import Ctx, endpoint
from web.api.entities import iso
from web.api.pagination import page_from, paged_response
from web.ids import parse_id

TIMELINES = ("home", "notifications")


def _marked(kind: str):  # type: ignore[no-untyped-def]
    scope = "read:bookmarks" if kind == "bookmarks" else "read:favourites"
    query = aq.bookmarks if kind == "bookmarks" else aq.favourites

    @endpoint(auth="user", scope=scope)
    async def handler(ctx: Ctx) -> Response:
        async with ctx.svc.db.session() as session:
            entries = await query(session, ctx.me.id, page_from(ctx))
            items = await render.statuses(session, ctx.svc, entries, ctx.me.id, as_json=True)
        return paged_response(ctx, items, [e.cursor for e in entries])

    return handler


def _marker_json(rows: list[Marker]) -> dict:
    return {
        m.timeline: {
            "last_read_id": m.last_read_id,
            "version": m.version,
            "updated_at": iso(m.updated_at),
        }
        for m in rows
    }


@endpoint(auth="user", scope="read:statuses")
async def markers(ctx: Ctx) -> dict:
    wanted = [t for t in ctx.params.many("timeline", max_items=5) if t in TIMELINES]
    async with ctx.svc.db.session() as session:
        return _marker_json(await b.markers(session, ctx.me.id, wanted or list(TIMELINES)))


@endpoint(auth="user", scope="write:statuses")
async def save_markers(ctx: Ctx) -> dict:
    updates: dict[str, int] = {}
    for timeline in TIMELINES:
        raw = ctx.params.nested_value(timeline, "last_read_id")
        if raw is None:
            continue
        last_read = parse_id(str(raw))
        if last_read is None:
            raise InvalidInput(f"{timeline}[last_read_id] must be an id.")
        updates[timeline] = last_read
    if not updates:
        raise InvalidInput("Send home[last_read_id] or notifications[last_read_id].")
    now = ctx.svc.clock()
    async with ctx.svc.db.transaction() as session:
        for timeline, last_id in updates.items():
            row = await session.get(Marker, (ctx.me.id, timeline))
            if row is None:
                row = Marker(actor_id=ctx.me.id, timeline=timeline, last_read_id="0", version=0)
            row.last_read_id = str(last_id)
            row.version += 1
            row.updated_at = now
            session.add(row)
            if timeline == "notifications":
                await b.mark_read_up_to(session, ctx.me.id, last_id)
    async with ctx.svc.db.session() as session:
        return _marker_json(await b.markers(session, ctx.me.id, list(updates)))


def _empty(scope: str | None, auth: str = "user"):  # type: ignore[no-untyped-def]
    @endpoint(auth=auth, scope=scope)
    async def handler(ctx: Ctx) -> list:
        return []

    return handler


@endpoint(auth="user", scope="read:lists")
async def no_list(ctx: Ctx) -> dict:
    raise NotFound("Record not found")


routes = [
    Route("/api/v1/bookmarks", _marked("bookmarks"), methods=["GET"]),
    Route("/api/v1/favourites", _marked("favourites"), methods=["GET"]),
    Route("/api/v1/markers", markers, methods=["GET"]),
    Route("/api/v1/markers", save_markers, methods=["POST"]),
    Route("/api/v1/filters", _empty("read:filters"), methods=["GET"]),
    Route("/api/v2/filters", _empty("read:filters"), methods=["GET"]),
    Route("/api/v1/lists", _empty("read:lists"), methods=["GET"]),
    Route("/api/v1/lists/{id}", no_list, methods=["GET"]),
    Route("/api/v1/timelines/list/{id}", no_list, methods=["GET"]),
    Route("/api/v1/accounts/{id}/lists", _empty("read:lists"), methods=["GET"]),
    Route("/api/v1/accounts/{id}/featured_tags", _empty(None, "optional"), methods=["GET"]),
    Route("/api/v1/accounts/familiar_followers", _empty("read:follows"), methods=["GET"]),
    Route("/api/v1/trends", _empty(None, "none"), methods=["GET"]),
    Route("/api/v1/trends/tags", _empty(None, "none"), methods=["GET"]),
    Route("/api/v1/trends/statuses", _empty(None, "none"), methods=["GET"]),
    Route("/api/v1/trends/links", _empty(None, "none"), methods=["GET"]),
    Route("/api/v1/announcements", _empty(None), methods=["GET"]),
    Route("/api/v1/mutes", _empty("read:mutes"), methods=["GET"]),
    Route("/api/v1/domain_blocks", _empty("read:blocks"), methods=["GET"]),
    Route("/api/v1/conversations", _empty("read:statuses"), methods=["GET"]),
    Route("/api/v1/followed_tags", _empty("read:follows"), methods=["GET"]),
    Route("/api/v1/featured_tags", _empty("read:accounts"), methods=["GET"]),
    Route("/api/v1/endorsements", _empty("read:accounts"), methods=["GET"]),
    Route("/api/v1/scheduled_statuses", _empty("read:statuses"), methods=["GET"]),
    Route("/api/v2/suggestions", _empty("read"), methods=["GET"]),
]
