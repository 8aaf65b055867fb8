"""The inboxes: ``POST /inbox`` (shared), ``/users/{name}/inbox`` and ``/actor/inbox``.

The decision lives in :mod:`federation.inbox_receive`; this module only reads the request
(the body is capped at 1 MB by ``web.middleware.BodySizeLimit``, which answers 413) and maps
the outcome to a response: 202 ``{}`` when the activity is stored or knowingly ignored,
400/401 with ``{"error": reason}`` otherwise. Answers are JSON whatever the Accept header
says: servers, not people, read them.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from federation import inbox_receive
from storage import ap_queries as apq
from web.context import services

log = logging.getLogger("tessera.inbox")


def request_target(request: Request) -> str:
    """The path and query exactly as received (what signatures cover), not re-encoded."""
    raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    target = raw.decode("latin-1")
    query = request.scope.get("query_string", b"")
    return f"{target}?{query.decode('latin-1')}" if query else target


async def _receive(request: Request) -> Response:
    svc = services(request)
    body = await request.body()
    outcome = await inbox_receive.receive(
        svc,
        method=request.method,
        target=request_target(request),
        headers=request.headers,
        body=body,
    )
    if outcome.error is not None:
        log.info("inbox refused (%s): %s", outcome.status, outcome.error)
        return JSONResponse({"error": outcome.error}, status_code=outcome.status)
    if outcome.note:
        log.debug("inbox accepted without storing: %s", outcome.note)
    return JSONResponse({}, status_code=outcome.status)


async def shared_inbox(request: Request) -> Response:
    return await _receive(request)


async def user_inbox(request: Request) -> Response:
    svc = services(request)
    async with svc.db.session() as session:
        owner = await apq.federated_local_actor(session, request.path_params["name"])
    if owner is None:
        return JSONResponse({"error": "No such account."}, status_code=404)
    return await _receive(request)


routes = [
    Route("/inbox", shared_inbox, methods=["POST"]),
    Route("/actor/inbox", shared_inbox, methods=["POST"]),
    Route("/users/{name}/inbox", user_inbox, methods=["POST"]),
]
