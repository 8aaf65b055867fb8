"""Serving stored blobs. Keys are content hashes, so responses are cacheable forever."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from federation.vocab import MIME_BY_EXT
from storage.blobs import is_valid_key
from tessera.errors import NotFound
from web.context import services


async def media_file(request: Request) -> Response:
    key = request.path_params["key"]
    if not is_valid_key(key):
        raise NotFound("No such file.")
    path = services(request).blobs.path_for(key)
    if not path.is_file():
        raise NotFound("No such file.")
    ext = key.rsplit(".", 1)[-1]
    return FileResponse(
        path,
        media_type=MIME_BY_EXT.get(ext, "application/octet-stream"),
        headers={
            "cache-control": "public, max-age=31536000, immutable",
            "content-disposition": "inline",
        },
    )


routes = [Route("/media/{key:path}", media_file, methods=["GET", "HEAD"])]
