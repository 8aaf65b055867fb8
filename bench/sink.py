"""A fast delivery sink: 1,000 remote servers' shared inboxes on loopback addresses.

It listens on one port of ``hosts`` addresses (127.0.1.1, 127.0.1.2, ...; all of 127/8 is
loopback on Linux), so each inbox is on its own host, as 1,000 real servers would be, and
per-host connection pools and host health in Tessera's delivery path are exercised.

Every POST is answered ``202`` at once with the C parser uvicorn uses; its arrival time is
recorded. Every ``verify_every``-th request is kept whole and verified at the end with the
author's public key through ``federation.signatures`` (digest, date, signature), so the
figures are of real, valid signatures. ``GET /_stats`` on any address returns the record.

    python -m bench.sink --port P --hosts 1000 --public-key FILE [--verify-every 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httptools

ANSWER = b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def host_address(index: int) -> str:
    """The loopback address of remote host ``index`` (0-based)."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


class State:
    def __init__(self, public_pem: str, verify_every: int) -> None:
        self.public_pem = public_pem
        self.verify_every = verify_every
        self.arrivals: list[float] = []
        self.hosts: set[str] = set()
        self.kept: list[tuple[str, list[tuple[str, str]], bytes]] = []

    def stats(self) -> dict[str, Any]:
        from datetime import UTC, datetime

        from federation.signatures import Rejected, Verified, parse_signature, verify_parsed

        verified, failed, reasons = 0, 0, []
        for target, headers, body in self.kept:
            host = next(v for k, v in headers if k.lower() == "host")
            parsed = parse_signature("POST", target, headers, scheme="http", authority=host)
            verdict = (
                parsed
                if isinstance(parsed, Rejected)
                else verify_parsed(parsed, self.public_pem, body=body, now=datetime.now(UTC))
            )
            if isinstance(verdict, Verified):
                verified += 1
            else:
                failed += 1
                reasons.append(str(getattr(verdict, "reason", verdict)))
        return {
            "count": len(self.arrivals),
            "first": min(self.arrivals, default=0.0),
            "last": max(self.arrivals, default=0.0),
            "arrivals": sorted(self.arrivals),
            "hosts": len(self.hosts),
            "verified": verified,
            "failed": failed,
            "reasons": reasons[:5],
        }


class Inbox(asyncio.Protocol):
    def __init__(self, state: State) -> None:
        self.state = state
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self._reset()

    def _reset(self) -> None:
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.body = bytearray()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        state, target = self.state, self.url.decode("latin-1")
        if self.parser.get_method() == b"GET" and target == "/_stats":
            payload = json.dumps(state.stats()).encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
            self.transport.write(head.encode() + payload)
        else:
            state.arrivals.append(time.time())
            host = next((v for k, v in self.headers if k.lower() == "host"), "")
            state.hosts.add(host)
            if len(state.arrivals) % state.verify_every == 1:
                state.kept.append((target, self.headers, bytes(self.body)))
            self.transport.write(ANSWER)
        if not self.parser.should_keep_alive():
            self.transport.close()
        self._reset()


async def serve(port: int, hosts: int, state: State) -> None:
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(lambda: Inbox(state), host_address(i), port, backlog=256)
        for i in range(hosts)
    ]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--public-key", type=Path, required=True)
    parser.add_argument("--verify-every", type=int, default=10)
    args = parser.parse_args()
    state = State(args.public_key.read_text(), args.verify_every)
    import uvloop

    uvloop.run(serve(args.port, args.hosts, state))


if __name__ == "__main__":
    main()
