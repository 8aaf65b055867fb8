"""A request held in flight and a clock stepped by hand: how the idle housekeeping's tests
(web.idle_gc) make "busy" and "quiet for N seconds" without measuring time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx


class HeldBody:
    """A form body whose end arrives only when the test says so."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.started.set()
        yield b"username=alice&"
        await self.release.wait()
        yield b"password=x"


async def hold_a_request(client: httpx.AsyncClient, body: HeldBody) -> asyncio.Task[httpx.Response]:
    task = asyncio.create_task(
        client.post(
            "/login",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    )
    await asyncio.wait_for(body.started.wait(), 5)
    await asyncio.sleep(0)  # let the app take the first chunk
    return task


class SteppedClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
