"""``/api/v2/search``: accounts (``@name@domain`` and profile URLs resolved through
WebFinger when ``resolve=true`` and signed in), hashtags by prefix, and statuses by their
URL when we hold them."""

from __future__ import annotations

from starlette.routing import Route

from storage import api_batch as b
from storage import posts as q
from tessera.errors import InvalidInput
from web.api import entities as E
from web.api import render
from web.api.accounts import search_accounts
from web.api.auth import Ctx, endpoint
from web.api.statuses import entry_for

TYPES = ("accounts", "hashtags", "statuses")


@endpoint(auth="optional", scope="read:search")
async def search(ctx: Ctx) -> dict:
    p = ctx.params
    query = (p.text("q", "", max_length=600) or "").strip()
    kind = p.text("type")
    if kind is not None and kind not in TYPES:
        raise InvalidInput("type must be accounts, hashtags or statuses.")
    limit = max(1, min(p.number("limit", 20, lo=0, hi=2**31) or 20, 40))
    resolve = p.flag("resolve")
    out: dict[str, list] = {"accounts": [], "statuses": [], "hashtags": []}
    if not query:
        return out
    svc = ctx.svc
    if kind in (None, "accounts"):
        found = await search_accounts(ctx, query, resolve=resolve, limit=limit)
        async with svc.db.session() as session:
            out["accounts"] = await render.account_list(session, svc, found[:limit])
    if kind in (None, "hashtags") and not query.startswith(("http://", "https://", "@")):
        async with svc.db.session() as session:
            tags = await b.hashtags_starting(session, query.lstrip("#"), limit=limit)
        out["hashtags"] = [E.tag(t, svc.urls, history=True) for t in tags]
    if kind in (None, "statuses") and query.startswith(("http://", "https://")):
        async with svc.db.session() as session:
            post = await b.post_by_url(session, query)
            if post is not None and await q.can_view(session, post, ctx.viewer_id):
                entry = await entry_for(session, post.id, ctx.viewer_id)
                out["statuses"] = await render.statuses(session, svc, [entry], ctx.viewer_id)
    return out


routes = [Route("/api/v2/search", search, methods=["GET"])]
