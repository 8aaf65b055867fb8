"""The delivery pool keeps at most ``max_keepalive_connections`` sockets open between
requests (``federation.transport_pool.IdleCappedConnector``), counted at real peers: raw
HTTP/1.1 servers on 127.0.0.1 that keep every connection alive and count the open ones."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from federation.transport import POOL_LIMITS, Signer, Transport
from tests.transport.peers import Handler, read_request_head, serve_raw

PEERS = 40


class Open:
    """Connections the peers hold open right now."""

    def __init__(self) -> None:
        self.now = 0


def keep_alive_inbox(held: Open) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.now += 1
        try:
            while True:
                try:
                    head = await read_request_head(reader)
                except asyncio.IncompleteReadError:
                    return  # the client closed the connection
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        finally:
            held.now -= 1

    return handler


@contextlib.asynccontextmanager
async def peers(count: int, held: Open) -> AsyncIterator[list[int]]:
    async with contextlib.AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(serve_raw(keep_alive_inbox(held))) for _ in range(count)
        ]
        yield [server.port for server in servers]


async def settle(held: Open, at_most: int) -> int:
    """The open count once the peers have seen the closes the client made (a deadline, not
    a timing: the closes travel through the loop)."""
    for _ in range(200):
        if held.now <= at_most:
            break
        await asyncio.sleep(0.01)
    return held.now


async def test_a_fan_out_leaves_at_most_the_keep_alive_cap_open(
    transport: Transport, signer: Signer
) -> None:
    cap = POOL_LIMITS.max_keepalive_connections
    assert cap is not None and cap < PEERS
    held = Open()
    async with peers(PEERS, held) as ports:
        results = await asyncio.gather(
            *(
                transport.post_activity(
                    f"http://127.0.0.1:{port}/inbox", b'{"type":"Like"}', signer=signer
                )
                for port in ports
            )
        )
        assert [r.status for r in results] == [202] * PEERS
        # Every delivery had a connection of its own; only the cap stays open after.
        assert await settle(held, cap) == cap


async def test_the_connections_kept_are_reused(transport: Transport, signer: Signer) -> None:
    held = Open()
    async with serve_raw(keep_alive_inbox(held)) as peer:
        for _ in range(3):
            result = await transport.post_activity(
                f"http://127.0.0.1:{peer.port}/inbox", b"{}", signer=signer
            )
            assert result.status == 202
        assert peer.connections == 1  # three deliveries, one connection
        assert held.now == 1
