"""The bare ceiling: a Starlette app that does no work, on Tessera's uvicorn settings.

``POST /inbox`` reads the body and answers 202 ``{}`` (the inbox ceiling of issue 5);
``GET /page/{name}`` answers a page captured from Tessera, byte for byte, from memory (the
read ceiling: same response size, no query and no template); a page Tessera answered
gzipped is captured and sent gzipped, with the same ``Content-Encoding``. ``uvicorn.run`` gets the
arguments ``tessera.cli.cmd_serve`` passes, so both servers use the same loop, HTTP parser
and access logging.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

GZIPPED_SUFFIX = ".gz"
"""A captured page whose file name ends so was answered gzipped."""


def build_app(pages: dict[str, bytes]) -> Starlette:
    async def ping(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def inbox(request: Request) -> Response:
        await request.body()
        return JSONResponse({}, status_code=202)

    async def page(request: Request) -> Response:
        name = request.path_params["name"]
        body = pages.get(name)
        if body is not None:
            return HTMLResponse(body)
        packed = pages.get(name + GZIPPED_SUFFIX)
        if packed is not None:
            return HTMLResponse(packed, headers={"content-encoding": "gzip"})
        return PlainTextResponse("no such page", status_code=404)

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/inbox", inbox, methods=["POST"]),
            Route("/page/{name}", page, methods=["GET"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pages", type=Path, help="folder of captured pages (file name = page)")
    args = parser.parse_args()
    pages: dict[str, bytes] = {}
    if args.pages:
        pages = {p.name: p.read_bytes() for p in args.pages.iterdir() if p.is_file()}
    # The same settings as tessera.cli.cmd_serve with the benchmark's configuration
    # (``trusted_proxy = true``).
    uvicorn.run(
        build_app(pages),
        host="127.0.0.1",
        port=args.port,
        log_level="info",
        proxy_headers=True,
        server_header=False,
    )


if __name__ == "__main__":
    main()
