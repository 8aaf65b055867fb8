"""Fake remote peers for the transport tests: real servers on 127.0.0.1, random ports.

Starlette apps run under uvicorn for ordinary peers; raw asyncio servers are used where a
test needs byte-level control (trickling, lying about Content-Length) or must count TCP
connections rather than HTTP requests. Nothing here listens on anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from federation.signatures import Rejected, parse_signature, verify_parsed


class _QuietServer(uvicorn.Server):
    """uvicorn without signal handlers: pytest keeps its own Ctrl-C handling."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serve_app(app: ASGIApp) -> AsyncIterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 and yield its base URL (no trailing slash)."""
    sock = _bound_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # surface a start-up failure
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class RawServer:
    """A raw TCP peer; ``connections`` counts every accepted connection."""

    port: int = 0
    connections: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


@contextlib.asynccontextmanager
async def serve_raw(handler: Handler) -> AsyncIterator[RawServer]:
    """Run an asyncio TCP server on 127.0.0.1 whose connections ``handler`` answers."""
    state = RawServer()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        task = asyncio.current_task()
        assert task is not None
        state.tasks.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            state.tasks.discard(task)
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for task in list(state.tasks):
            task.cancel()
        await asyncio.gather(*state.tasks, return_exceptions=True)
        await server.wait_closed()


async def read_request_head(reader: asyncio.StreamReader) -> bytes:
    """Read one request's head (up to the blank line)."""
    return await reader.readuntil(b"\r\n\r\n")


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    sock = _bound_socket()
    port = sock.getsockname()[1]
    sock.close()
    return port


@dataclass
class Seen:
    """One request as a fake peer received it, with its own signature verdict."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    verdict: object


def verifying_app(
    public_pem: str, seen: list[Seen], handler: Callable[[Request], Response]
) -> Starlette:
    """A peer that verifies every request's signature like a real server would (the
    verdict is recorded, not enforced) and answers with ``handler``."""

    async def endpoint(request: Request) -> Response:
        body = await request.body()
        target = request.scope["raw_path"].decode("latin-1")
        if request.scope["query_string"]:
            target += "?" + request.scope["query_string"].decode("latin-1")
        parsed = parse_signature(request.method, target, request.headers)
        verdict: object = parsed
        if not isinstance(parsed, Rejected):
            verdict = verify_parsed(parsed, public_pem, body=body or None, now=datetime.now(UTC))
        seen.append(Seen(request.method, target, dict(request.headers), body, verdict))
        return handler(request)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])
