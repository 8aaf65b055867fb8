"""Media uploads: ``POST /api/v2/media`` (and the older ``/api/v1/media``), then
``GET``/``PUT``/``DELETE /api/v1/media/:id``.

Tessera takes still images and processes them while the upload request is open (in a
worker thread), so an upload answers 200 with its URLs filled in; the documented
asynchronous contract (202 with ``url: null``, then polling ``GET /api/v1/media/:id``,
206 while processing) never has anything pending here, and clients that poll get 200
at once.
"""

from __future__ import annotations

from starlette.routing import Route

from services import media as media_service
from tessera.errors import InvalidInput
from web.api import entities as E
from web.api.auth import Ctx, endpoint


def _focus(raw: str | None) -> tuple[float, float] | None:
    if not raw:
        return None
    try:
        x, y = (float(v) for v in raw.split(","))
    except ValueError:
        raise InvalidInput("focus must be two numbers from -1 to 1: x,y.") from None
    return x, y


@endpoint(auth="user", scope="write:media", max_files=2)
async def upload(ctx: Ctx) -> dict:
    p = ctx.params
    file = p.file("file")
    if file is None:
        raise InvalidInput("file is required (a multipart upload).")
    data = await file.read()
    media = await media_service.upload_media(
        ctx.svc,
        ctx.me,
        data,
        filename=file.filename or "",
        description=p.text("description", "", max_length=100_000) or "",
        focus=_focus(p.text("focus", max_length=100)),
    )
    return E.media_attachment(media, ctx.svc.urls)


@endpoint(auth="user", scope="write:media")
async def show(ctx: Ctx) -> dict:
    media = await media_service.own_media(ctx.svc, ctx.me, ctx.path_id())
    return E.media_attachment(media, ctx.svc.urls)


@endpoint(auth="user", scope="write:media", max_files=1)
async def update(ctx: Ctx) -> dict:
    p = ctx.params
    media = await media_service.update_media(
        ctx.svc,
        ctx.me,
        ctx.path_id(),
        description=p.text("description", max_length=100_000),
        focus=_focus(p.text("focus", max_length=100)),
    )
    return E.media_attachment(media, ctx.svc.urls)


@endpoint(auth="user", scope="write:media")
async def delete(ctx: Ctx) -> dict:
    await media_service.delete_media(ctx.svc, ctx.me, ctx.path_id())
    return {}


routes = [
    Route("/api/v2/media", upload, methods=["POST"]),
    Route("/api/v1/media", upload, methods=["POST"]),
    Route("/api/v1/media/{id}", show, methods=["GET"]),
    Route("/api/v1/media/{id}", update, methods=["PUT"]),
    Route("/api/v1/media/{id}", delete, methods=["DELETE"]),
]
