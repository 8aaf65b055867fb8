"""Accounts: who am I, profile edits, profiles, their statuses and follows, relationships,
lookup and search, and follow requests.

Following, unfollowing, blocking and answering follow requests call ``services.social``:
the very functions behind the web buttons, so an API follow federates like a web one.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.responses import Response
from starlette.routing import Route

from services import social
from services.api_accounts import ProfileChanges, update_credentials
from services.context import Services
from storage import accounts as accounts_q
from storage import api_batch as b
from storage import api_queries as aq
from storage import social_queries as sq
from storage.models import Actor
from tessera.errors import InvalidInput, NotFound, TesseraError
from web.api import entities as E
from web.api import render
from web.api.auth import Ctx, endpoint
from web.api.pagination import page_from, paged_response
from web.ids import parse_id


async def visible(session: AsyncSession, actor_id: int) -> Actor:
    actor = await b.visible_account(session, actor_id)
    if actor is None:
        raise NotFound("Record not found")
    return actor


async def credential(svc: Services, actor_id: int) -> dict[str, Any]:
    async with svc.db.session() as session:
        actor = await visible(session, actor_id)
        base = await render.account(session, svc, actor)
        fields = (await b.profile_fields(session, [actor.id])).get(actor.id, [])
        pending = await sq.pending_follow_requests(session, actor.id)
        user = await accounts_q.local_user(session, actor.id)
    return E.credential_account(
        base, actor, fields, follow_requests=len(pending), is_admin=bool(user and user.is_admin)
    )


@endpoint(auth="user", scope=("read:accounts", "profile"))
async def verify_credentials(ctx: Ctx) -> dict:
    return await credential(ctx.svc, ctx.me.id)


async def _image(ctx: Ctx, name: str) -> bytes | None:
    upload = ctx.params.file(name)
    if upload is None:
        return None
    data = await upload.read()
    return data or None


@endpoint(auth="user", scope="write:accounts", max_files=2)
async def update(ctx: Ctx) -> dict:
    p = ctx.params
    fields = None
    records = p.records("fields_attributes", max_items=10)
    if records or p.has("fields_attributes"):
        fields = []
        for record in records:
            name, value = record.get("name", ""), record.get("value", "")
            if not isinstance(name, str) or not isinstance(value, str):
                raise InvalidInput("fields_attributes must hold text names and values.")
            fields.append((name, value))
    privacy = p.nested_value("source", "privacy")
    if privacy is not None and privacy not in ("public", "unlisted", "private", "direct"):
        raise InvalidInput("source[privacy] must be public, unlisted, private or direct.")
    changes = ProfileChanges(
        display_name=p.text("display_name", max_length=1000),
        note=p.text("note", max_length=10_000),
        locked=p.flag("locked") if p.has("locked") else None,
        bot=p.flag("bot") if p.has("bot") else None,
        discoverable=p.flag("discoverable") if p.has("discoverable") else None,
        avatar=await _image(ctx, "avatar"),
        header=await _image(ctx, "header"),
        fields=fields,
    )
    await update_credentials(ctx.svc, ctx.me, changes)
    return await credential(ctx.svc, ctx.me.id)


@endpoint(auth="optional", scope="read:accounts")
async def show(ctx: Ctx) -> dict:
    async with ctx.svc.db.session() as session:
        actor = await visible(session, ctx.path_id())
        return await render.account(session, ctx.svc, actor)


@endpoint(auth="optional", scope="read:statuses")
async def statuses(ctx: Ctx) -> Response:
    p = ctx.params
    page = page_from(ctx)
    async with ctx.svc.db.session() as session:
        actor = await visible(session, ctx.path_id())
        if p.flag("pinned"):
            entries: list[aq.Entry] = []
        else:
            entries = await aq.by_account(
                session,
                actor.id,
                ctx.viewer_id,
                page,
                only_media=p.flag("only_media"),
                exclude_replies=p.flag("exclude_replies"),
                exclude_reblogs=p.flag("exclude_reblogs"),
            )
        items = await render.statuses(session, ctx.svc, entries, ctx.viewer_id, as_json=True)
    return paged_response(ctx, items, [e.cursor for e in entries])


def _follow_list(followers: bool):  # type: ignore[no-untyped-def]
    @endpoint(auth="optional", scope="read:accounts")
    async def handler(ctx: Ctx) -> Response:
        page = page_from(ctx, default=40, maximum=80)
        async with ctx.svc.db.session() as session:
            actor = await visible(session, ctx.path_id())
            rows = await aq.follows(session, actor.id, page, followers=followers)
            items = await render.account_list(session, ctx.svc, [a for _, a in rows])
        return paged_response(ctx, items, [i for i, _ in rows])

    return handler


async def relationship_of(svc: Services, me: Actor, target_id: int) -> dict:
    async with svc.db.session() as session:
        ties = await b.relationships(session, me.id, [target_id])
    return E.relationship(target_id, ties[target_id])


def _act(action: str, scope: str):  # type: ignore[no-untyped-def]
    @endpoint(auth="user", scope=scope)
    async def handler(ctx: Ctx) -> dict:
        async with ctx.svc.db.session() as session:
            target = await visible(session, ctx.path_id())
        if target.id == ctx.me.id:
            raise InvalidInput("You cannot do that to yourself.")
        await getattr(social, action)(ctx.svc, ctx.me, target)
        return await relationship_of(ctx.svc, ctx.me, target.id)

    return handler


@endpoint(auth="user", scope="read:follows")
async def relationships(ctx: Ctx) -> list:
    ids = []
    for raw in ctx.params.many("id", max_items=100):
        found = parse_id(raw)
        if found is not None:
            ids.append(found)
    async with ctx.svc.db.session() as session:
        ties = await b.relationships(session, ctx.me.id, ids)
    return [E.relationship(i, ties[i]) for i in dict.fromkeys(ids)]


def _split_acct(svc: Services, acct: str) -> tuple[str, str | None]:
    name, _, domain = acct.strip().removeprefix("@").partition("@")
    if not name:
        raise InvalidInput("acct must be a username or username@domain.")
    if domain.lower() == svc.config.instance.domain.lower():
        domain = ""
    return name, domain or None


@endpoint(auth="optional", scope="read:accounts")
async def lookup(ctx: Ctx) -> dict:
    name, domain = _split_acct(ctx.svc, ctx.params.text("acct", "", max_length=600) or "")
    async with ctx.svc.db.session() as session:
        found = await accounts_q.actor_by_handle(session, name, domain)
        actor = await visible(session, found.id) if found else None
        if actor is None:
            raise NotFound("Record not found")
        return await render.account(session, ctx.svc, actor)


async def search_accounts(ctx: Ctx, query: str, *, resolve: bool, limit: int) -> list[Actor]:
    """Accounts for a search box: ``@name@domain`` (resolved by WebFinger when asked and
    signed in), else local names starting with the query."""
    from federation.fetch import resolve_handle

    query = query.strip()
    text = query.removeprefix("@")
    if "@" in text or query.startswith(("http://", "https://")):
        if not query.startswith(("http://", "https://")):
            name, domain = _split_acct(ctx.svc, text)
            async with ctx.svc.db.session() as session:
                known = await accounts_q.actor_by_handle(session, name, domain)
                if known is not None and await b.visible_account(session, known.id):
                    return [known]
        if not resolve or ctx.auth.actor is None:
            return []
        try:
            found = await resolve_handle(ctx.svc, query)
        except TesseraError:  # not found, or the remote server failed us: no result
            return []
        return [found]
    async with ctx.svc.db.session() as session:
        return await sq.search_local_actors(session, text, limit=limit)


@endpoint(auth="user", scope="read:accounts")
async def search(ctx: Ctx) -> list:
    p = ctx.params
    limit = max(1, min(p.number("limit", 40, lo=0, hi=2**31) or 40, 80))
    found = await search_accounts(
        ctx, p.text("q", "", max_length=600) or "", resolve=p.flag("resolve"), limit=limit
    )
    async with ctx.svc.db.session() as session:
        return await render.account_list(session, ctx.svc, found[:limit])


@endpoint(auth="user", scope="read:follows")
async def follow_requests(ctx: Ctx) -> Response:
    page = page_from(ctx, default=40, maximum=80)
    async with ctx.svc.db.session() as session:
        rows = await aq.follows(session, ctx.me.id, page, followers=True, state="pending")
        items = await render.account_list(session, ctx.svc, [a for _, a in rows])
    return paged_response(ctx, items, [i for i, _ in rows])


def _decide(approve: bool):  # type: ignore[no-untyped-def]
    @endpoint(auth="user", scope="write:follows")
    async def handler(ctx: Ctx) -> dict:
        requester = ctx.path_id()
        async with ctx.svc.db.session() as session:
            row = await accounts_q.follow_between(session, requester, ctx.me.id)
        if row is None or row.state != "pending":
            raise NotFound("Record not found")
        if approve:
            await social.approve_follow(ctx.svc, ctx.me, row.id)
        else:
            await social.reject_follow(ctx.svc, ctx.me, row.id)
        return await relationship_of(ctx.svc, ctx.me, requester)

    return handler


@endpoint(auth="user", scope="read:blocks")
async def blocks(ctx: Ctx) -> Response:
    page = page_from(ctx, default=40, maximum=80)
    async with ctx.svc.db.session() as session:
        rows = await aq.blocked(session, ctx.me.id, page)
        items = await render.account_list(session, ctx.svc, [a for _, a in rows])
    return paged_response(ctx, items, [i for i, _ in rows])


routes = [
    Route("/api/v1/accounts/verify_credentials", verify_credentials, methods=["GET"]),
    Route("/api/v1/accounts/update_credentials", update, methods=["PATCH", "PUT"]),
    Route("/api/v1/accounts/relationships", relationships, methods=["GET"]),
    Route("/api/v1/accounts/lookup", lookup, methods=["GET"]),
    Route("/api/v1/accounts/search", search, methods=["GET"]),
    Route("/api/v1/accounts/{id}", show, methods=["GET"]),
    Route("/api/v1/accounts/{id}/statuses", statuses, methods=["GET"]),
    Route("/api/v1/accounts/{id}/followers", _follow_list(True), methods=["GET"]),
    Route("/api/v1/accounts/{id}/following", _follow_list(False), methods=["GET"]),
    Route("/api/v1/accounts/{id}/follow", _act("follow", "write:follows"), methods=["POST"]),
    Route("/api/v1/accounts/{id}/unfollow", _act("unfollow", "write:follows"), methods=["POST"]),
    Route("/api/v1/accounts/{id}/block", _act("block", "write:blocks"), methods=["POST"]),
    Route("/api/v1/accounts/{id}/unblock", _act("unblock", "write:blocks"), methods=["POST"]),
    Route("/api/v1/follow_requests", follow_requests, methods=["GET"]),
    Route("/api/v1/follow_requests/{id}/authorize", _decide(True), methods=["POST"]),
    Route("/api/v1/follow_requests/{id}/reject", _decide(False), methods=["POST"]),
    Route("/api/v1/blocks", blocks, methods=["GET"]),
]
