"""Discovery endpoints: WebFinger, host-meta and NodeInfo.

These are read by other servers and by web clients on other origins (a Mastodon web app
resolving ``@name@our.domain``), so they allow any origin, and their errors are small JSON
bodies whatever the Accept header says: there is no page to show.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from federation.discovery import (
    BadResource,
    host_meta_json,
    host_meta_xml,
    local_username_from_resource,
    webfinger_jrd,
)
from federation.nodeinfo import (
    Usage,
    content_type,
    nodeinfo_document,
    nodeinfo_index,
    software_info,
)
from federation.vocab import JRD_CONTENT_TYPE
from storage import ap_queries as apq
from web.context import services
from web.routes.activitypub import ensure_instance_actor

CORS = {"access-control-allow-origin": "*"}


def _json(body: Any, *, status: int = 200, media_type: str = "application/json") -> Response:
    return JSONResponse(body, status_code=status, media_type=media_type, headers=CORS)


def _error(message: str, status: int) -> Response:
    return _json({"error": message}, status=status)


async def webfinger(request: Request) -> Response:
    svc = services(request)
    urls, domain = svc.urls, svc.config.instance.domain
    try:
        name = local_username_from_resource(
            request.query_params.get("resource", ""), domain=domain, urls=urls
        )
    except BadResource as exc:
        return _error(str(exc), 400)
    if name is None:
        return _error("That account is not on this server.", 404)
    if name.lower() == domain.lower():
        found = await ensure_instance_actor(request)
        jrd = webfinger_jrd(
            username=domain,
            domain=domain,
            actor_url=found.ap_id,
            profile_url=found.url or f"{urls.base}/",
            urls=urls,
        )
        return _json(jrd, media_type=JRD_CONTENT_TYPE)
    async with svc.db.session() as session:
        actor = await apq.federated_local_actor(session, name)
    if actor is None:
        return _error("No such account.", 404)
    jrd = webfinger_jrd(
        username=actor.username,
        domain=domain,
        actor_url=actor.ap_id,
        profile_url=actor.url or urls.profile(actor.username),
        urls=urls,
    )
    return _json(jrd, media_type=JRD_CONTENT_TYPE)


async def host_meta(request: Request) -> Response:
    body = host_meta_xml(services(request).urls)
    return Response(body, media_type="application/xrd+xml; charset=utf-8", headers=CORS)


async def host_meta_json_route(request: Request) -> Response:
    return _json(host_meta_json(services(request).urls))


async def nodeinfo_links(request: Request) -> Response:
    return _json(nodeinfo_index(services(request).urls))


async def _usage(request: Request) -> Usage:
    svc = services(request)
    now = svc.clock()
    async with svc.db.session() as session:
        return Usage(
            total_users=await apq.count_active_users(session),
            active_month=await apq.count_users_active_since(session, now - timedelta(days=30)),
            active_halfyear=await apq.count_users_active_since(session, now - timedelta(days=180)),
            local_posts=await apq.count_local_posts(session),
        )


def _nodeinfo(version: str):  # type: ignore[no-untyped-def]
    async def handler(request: Request) -> Response:
        instance = services(request).config.instance
        doc = nodeinfo_document(
            version,
            software=software_info(),
            usage=await _usage(request),
            registrations=instance.registrations,
            node_name=instance.name,
            node_description=instance.description,
        )
        return _json(doc, media_type=content_type(version))

    return handler


routes = [
    Route("/.well-known/webfinger", webfinger, methods=["GET"]),
    Route("/.well-known/host-meta", host_meta, methods=["GET"]),
    Route("/.well-known/host-meta.json", host_meta_json_route, methods=["GET"]),
    Route("/.well-known/nodeinfo", nodeinfo_links, methods=["GET"]),
    Route("/nodeinfo/2.0", _nodeinfo("2.0"), methods=["GET"]),
    Route("/nodeinfo/2.1", _nodeinfo("2.1"), methods=["GET"]),
]
