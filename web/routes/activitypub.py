"""ActivityPub documents over HTTP: actors, notes and their collections (read-only).

The queries happen here; the documents are built by ``federation`` from the rows. The
HTML profile and post pages share their URLs with the JSON (servers link people to
``/@name/123``), so those two routes sit in front of the gallery's: they answer the JSON
when the Accept header asks for it and hand the request to the gallery handler otherwise.
Every answer that depends on Accept says so with ``Vary: Accept`` so that no cache hands a
browser's page to a server or the other way round.

Authorized fetch (``[federation] authorized_fetch``, Mastodon's "secure mode"): the JSON of
posts, outboxes and follower/following collections is served only to requests carrying a
valid HTTP signature of some actor (401 otherwise), which lets a server know - and refuse,
or limit - whoever reads its users' posts. Actor documents stay readable without one, but
reduced to the key and inboxes: a remote server has to read our key before it can check our
own signed requests, so refusing it would deadlock two servers in secure mode. The instance
actor, WebFinger and NodeInfo stay public. In this mode a followers-only post is served to
a signed request of an actor who follows its author (or is mentioned in it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from federation import collections as coll
from federation import inbox_receive
from federation.documents import (
    actor_document,
    create_activity,
    featured_url,
    instance_actor_document,
    instance_actor_url,
    minimal_actor_document,
    new_instance_actor,
    note_document,
    note_object,
    tombstone_document,
    with_context,
)
from federation.keys import generate_rsa_keypair
from federation.negotiation import prefers_html, wants_activity_json
from federation.vocab import ACTIVITY_CONTENT_TYPE
from storage import accounts as accounts_q
from storage import ap_queries as apq
from storage import mention_queries as mq
from storage import posts as posts_q
from storage.models import Actor, Post, Tombstone
from tessera.errors import InvalidInput, NotFound
from web.context import services
from web.ids import parse_id
from web.routes import gallery
from web.routes.inbox import request_target

SERVED_VISIBILITIES = ("public", "unlisted")
"""Posts anyone may fetch; followers-only ones need a signed fetch by a follower."""

UNSIGNED = "This server requires signed requests: sign the GET with your actor's key."


class ActivityResponse(JSONResponse):
    media_type = ACTIVITY_CONTENT_TYPE


def add_vary(response: Response, header: str) -> Response:
    existing = response.headers.get("vary")
    if not existing:
        response.headers["vary"] = header
    elif header.lower() not in [v.strip().lower() for v in existing.split(",")]:
        response.headers["vary"] = f"{existing}, {header}"
    return response


def add_vary_accept(response: Response) -> Response:
    return add_vary(response, "Accept")


def activity(document: dict[str, Any], *, status: int = 200, vary: bool = False) -> Response:
    response = ActivityResponse(document, status_code=status)
    return add_vary_accept(response) if vary else response


def browser_redirect(url: str) -> Response:
    return add_vary_accept(RedirectResponse(url, status_code=302))


async def local_actor(request: Request, name: str | None = None) -> Actor:
    """The active local account named in the path, or 404."""
    svc = services(request)
    async with svc.db.session() as session:
        actor = await apq.federated_local_actor(session, name or request.path_params["name"])
    if actor is None:
        raise NotFound("No such account.")
    return actor


async def ensure_instance_actor(request: Request) -> Actor:
    """The instance actor, created with its key pair the first time anyone asks."""
    svc = services(request)
    urls, domain = svc.urls, svc.config.instance.domain

    async def make() -> Actor:
        keypair = await asyncio.to_thread(generate_rsa_keypair)
        return new_instance_actor(urls, domain, keypair)

    return await apq.get_or_create_instance_actor(svc.db, instance_actor_url(urls), make)


def _cursor(request: Request) -> int | None:
    raw = request.query_params.get("max_id")
    if raw is None or raw == "":
        return None
    max_id = parse_id(raw)
    if max_id is None:
        raise InvalidInput("max_id must be an id.", status=400)
    return max_id


def _wants_page(request: Request) -> bool:
    page = request.query_params.get("page")
    return (page is not None and page.lower() not in ("", "false", "0")) or (
        "max_id" in request.query_params
    )


# --- authorized fetch ------------------------------------------------------------------


def _secure(request: Request) -> bool:
    return services(request).config.federation.authorized_fetch


async def signed_by(request: Request) -> Actor | None:
    """The actor whose valid HTTP signature this GET carries, or None."""
    return await inbox_receive.verify_get(
        services(request),
        method=request.method,
        target=request_target(request),
        headers=request.headers,
    )


def _unsigned() -> Response:
    return add_vary(JSONResponse({"error": UNSIGNED}, status_code=401), "Signature")


def signed_only(handler):  # type: ignore[no-untyped-def]
    """A JSON handler that, in authorized-fetch mode, answers signed requests only."""

    async def guarded(request: Request) -> Response:
        if not _secure(request):
            return await handler(request)
        if await signed_by(request) is None:
            return _unsigned()
        return add_vary(await handler(request), "Signature")

    return guarded


async def _may_read(session: Any, post: Post, owner: Actor, reader: Actor | None) -> bool:
    """Public and unlisted posts to anyone; followers-only ones to a signed reader who
    follows the author (accepted) or whom the post mentions."""
    if post.visibility in SERVED_VISIBILITIES:
        return True
    if post.visibility != "followers" or reader is None:
        return False
    if reader.id == owner.id:
        return True
    follow = await accounts_q.follow_between(session, reader.id, owner.id)
    if follow is not None and follow.state == "accepted":
        return True
    return await mq.is_mentioned(session, post.id, reader.id)


# --- actors ----------------------------------------------------------------------------


async def _actor_json(actor: Actor, request: Request, *, vary: bool) -> Response:
    """The full Person; in authorized-fetch mode an unsigned request gets the minimal one."""
    urls = services(request).urls
    if _secure(request):
        full = await signed_by(request) is not None
        doc = actor_document(actor, urls) if full else minimal_actor_document(actor, urls)
        response = activity(with_context(doc, urls.base, security=True), vary=vary)
        return add_vary(response, "Signature")
    return activity(with_context(actor_document(actor, urls), urls.base, security=True), vary=vary)


async def actor(request: Request) -> Response:
    if prefers_html(request.headers.get("accept")):
        return browser_redirect(services(request).urls.profile(request.path_params["name"]))
    return await _actor_json(await local_actor(request), request, vary=True)


async def instance_actor(request: Request) -> Response:
    svc = services(request)
    found = await ensure_instance_actor(request)
    doc = instance_actor_document(found, svc.urls, svc.config.instance.domain)
    return activity(with_context(doc, svc.urls.base, security=True))


async def instance_outbox(request: Request) -> Response:
    urls = services(request).urls
    return activity(coll.empty_collection(f"{instance_actor_url(urls)}/outbox", urls.base))


# --- collections -----------------------------------------------------------------------


@signed_only
async def outbox(request: Request) -> Response:
    svc = services(request)
    urls = svc.urls
    owner = await local_actor(request)
    url = owner.outbox_url or urls.outbox(owner.username)
    if not _wants_page(request):
        async with svc.db.session() as session:
            total = await apq.outbox_count(session, owner.id)
        return activity(coll.collection_root(url, total, urls.base))
    max_id = _cursor(request)
    size = coll.OUTBOX_PAGE_SIZE
    async with svc.db.session() as session:
        rows = await apq.outbox_posts(session, owner.id, max_id=max_id, limit=size + 1)
        page = rows[:size]
        ids = [p.id for p in page]
        media = await posts_q.attachments_for(session, ids)
        tags = await apq.tags_for(session, ids)
        mentions = await mq.mentions_for(session, ids)
    items = [
        create_activity(
            note_object(
                p, owner, media.get(p.id, []), tags.get(p.id, []), urls, mentions.get(p.id, [])
            )
        )
        for p in page
    ]
    next_id = page[-1].id if len(rows) > size else None
    doc = coll.collection_page(url, items, base_url=urls.base, max_id=max_id, next_max_id=next_id)
    return activity(doc)


def _follows(followers: bool):  # type: ignore[no-untyped-def]
    @signed_only
    async def handler(request: Request) -> Response:
        svc = services(request)
        urls = svc.urls
        owner = await local_actor(request)
        if followers:
            url = owner.followers_url or urls.followers(owner.username)
        else:
            url = owner.following_url or urls.following(owner.username)
        async with svc.db.session() as session:
            if not _wants_page(request):
                counts = await accounts_q.follow_counts(session, owner.id)
                total = counts[0] if followers else counts[1]
                return activity(coll.collection_root(url, total, urls.base))
            max_id = _cursor(request)
            size = coll.FOLLOWS_PAGE_SIZE
            rows = await apq.follow_page(
                session, owner.id, followers=followers, max_id=max_id, limit=size + 1
            )
        page = rows[:size]
        next_id = page[-1][0] if len(rows) > size else None
        doc = coll.collection_page(
            url,
            [ap_id for _, ap_id in page],
            base_url=urls.base,
            max_id=max_id,
            next_max_id=next_id,
        )
        return activity(doc)

    return handler


@signed_only
async def featured(request: Request) -> Response:
    urls = services(request).urls
    owner = await local_actor(request)
    return activity(coll.empty_collection(featured_url(owner.ap_id), urls.base))


# --- notes -----------------------------------------------------------------------------


async def _note_json(request: Request, owner: Actor, post_id: int, *, vary: bool) -> Response:
    svc = services(request)
    urls = svc.urls
    reader = None
    if _secure(request):
        reader = await signed_by(request)
        if reader is None:
            return _unsigned()
    async with svc.db.session() as session:
        post = await session.get(Post, post_id)
        if post is None or post.actor_id != owner.id:
            tomb = await session.get(Tombstone, urls.post_id(owner.username, post_id))
            if tomb is not None:
                return activity(tombstone_document(tomb, urls), status=410, vary=vary)
            raise NotFound("No such post.")
        if not post.local or not await _may_read(session, post, owner, reader):
            raise NotFound("No such post.")
        media = (await posts_q.attachments_for(session, [post.id])).get(post.id, [])
        tags = await posts_q.tags_of(session, post.id)
        mentions = (await mq.mentions_for(session, [post.id])).get(post.id, [])
    response = activity(note_document(post, owner, media, tags, urls, mentions), vary=vary)
    return add_vary(response, "Signature") if reader is not None else response


async def status(request: Request) -> Response:
    name, post_id = request.path_params["name"], request.path_params["post_id"]
    if prefers_html(request.headers.get("accept")):
        return browser_redirect(services(request).urls.post_page(name, post_id))
    return await _note_json(request, await local_actor(request), post_id, vary=True)


# --- the HTML pages' URLs, negotiated --------------------------------------------------


def _local_name(request: Request) -> str | None:
    """The path's account name when it is one of ours (``name`` or ``name@our.domain``)."""
    username, _, domain = request.path_params["name"].partition("@")
    if domain and domain.lower() != services(request).config.instance.domain.lower():
        return None
    return username


async def profile_page(request: Request) -> Response:
    name = _local_name(request)
    if name is not None and wants_activity_json(request.headers.get("accept")):
        return await _actor_json(await local_actor(request, name), request, vary=True)
    return add_vary_accept(await gallery.profile(request))


async def post_page(request: Request) -> Response:
    name = _local_name(request)
    if name is not None and wants_activity_json(request.headers.get("accept")):
        owner = await local_actor(request, name)
        return await _note_json(request, owner, request.path_params["post_id"], vary=True)
    return add_vary_accept(await gallery.post_page(request))


class ProfileRoute(Route):
    """``/@{name}`` that leaves ``/@name.atom`` to the feed route registered after it."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and str(child["path_params"]["name"]).endswith(".atom"):
            return Match.NONE, {}
        return match, child


routes = [
    Route("/actor", instance_actor, methods=["GET"]),
    Route("/actor/outbox", instance_outbox, methods=["GET"]),
    Route("/users/{name}", actor, methods=["GET"]),
    Route("/users/{name}/outbox", outbox, methods=["GET"]),
    Route("/users/{name}/followers", _follows(True), methods=["GET"]),
    Route("/users/{name}/following", _follows(False), methods=["GET"]),
    Route("/users/{name}/collections/featured", featured, methods=["GET"]),
    Route("/users/{name}/statuses/{post_id:id}", status, methods=["GET"]),
    Route("/@{name}/{post_id:id}", post_page, methods=["GET"]),
    ProfileRoute("/@{name}", profile_page, methods=["GET"]),
]
