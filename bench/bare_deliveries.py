"""The least a fan-out delivery can be: one RSA signature and one POST, nothing else.

The fan-out target is a ratio to RSA-2048 signs per second on the cores used. A delivery
is a signature *plus* an HTTP request to a server we have no connection to yet, so the
question the figure leaves open is how much of the gap is the request itself and how much
is Tessera. This loop answers it in the same run: in a process of its own on uvloop (as
Tessera's worker runs under uvicorn), ``CONCURRENCY`` inboxes in flight, it signs each
request the way a delivery is signed (draft-cavage ``rsa-sha256`` over
``(request-target) host date digest content-type``, the Digest of the body computed once,
as the worker does for one activity) with ``cryptography`` directly and POSTs it with
aiohttp to the same 1,000 sink addresses. No queue, no database, no address checks, no
retries, no bookkeeping. Without ``--sign`` it only POSTs. ``--client raw`` sends the
same bytes over a bare asyncio protocol (connect, write, read the answer's head, close)
instead of aiohttp: the floor of any HTTP client written in Python on this machine.

    python -m bench.bare_deliveries --port P --hosts 1000 --concurrency 64 \
        --body-bytes N [--sign] [--client aiohttp|raw]

Prints one JSON object: deliveries per second and the process's CPU time per delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import sys
import time
from email.utils import formatdate

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench.sink import host_address


def signed_headers(key: rsa.RSAPrivateKey, host: str, digest: str, key_id: str) -> dict[str, str]:
    """The headers of one delivery to ``host``'s shared inbox, signed now."""
    date = formatdate(usegmt=True)
    text = (
        f"(request-target): post /inbox\nhost: {host}\ndate: {date}\n"
        f"digest: {digest}\ncontent-type: application/activity+json"
    )
    signature = base64.b64encode(
        key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    ).decode()
    return {
        "Host": host,
        "Date": date,
        "Digest": digest,
        "Content-Type": "application/activity+json",
        "Signature": (
            f'keyId="{key_id}",algorithm="rsa-sha256",'
            f'headers="(request-target) host date digest content-type",signature="{signature}"'
        ),
    }


class _RawPost(asyncio.Protocol):
    """One request on a new connection; done when the answer's head and body are in."""

    def __init__(self, request: bytes, done: asyncio.Future[int]) -> None:
        self.request = request
        self.done = done
        self.received = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.received += data
        head, found, rest = self.received.partition(b"\r\n\r\n")
        if not found:
            return
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if len(rest) >= length and not self.done.done():
            self.done.set_result(int(head.split(b" ", 2)[1]))
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed before the answer"))


async def raw_post(host: str, port: int, headers: dict[str, str], body: bytes) -> int:
    """POST over a bare asyncio protocol; the answer's status."""
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k != "Host")
    request = (
        f"POST /inbox HTTP/1.1\r\nHost: {host}:{port}\r\n{lines}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    await loop.create_connection(lambda: _RawPost(request, done), host, port)
    return await done


async def deliver_all(
    port: int, hosts: int, concurrency: int, body: bytes, sign: bool, client: str = "aiohttp"
) -> dict[str, float]:
    """POST ``body`` once to each host's ``/inbox``; the rate and CPU per delivery."""
    import aiohttp

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if sign else None
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    key_id = "http://bench.invalid/users/bare#main-key"
    pending = [host_address(i) for i in range(hosts)]
    pending.reverse()
    plain = {"Content-Type": "application/activity+json"}
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while pending:
                address = pending.pop()
                host = f"{address}:{port}"
                headers = signed_headers(key, host, digest, key_id) if key else plain
                if client == "raw":
                    status = await raw_post(address, port, headers, body)
                else:
                    async with session.post(
                        f"http://{host}/inbox", data=body, headers=headers
                    ) as r:
                        await r.read()
                        status = r.status
                if status != 202:
                    raise RuntimeError(f"the sink answered {status}")

        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "per_s": round(hosts / wall, 1),
        "cpu_us_per_delivery": round(1e6 * cpu / hosts, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--body-bytes", type=int, required=True)
    parser.add_argument("--sign", action="store_true")
    parser.add_argument("--client", choices=("aiohttp", "raw"), default="aiohttp")
    args = parser.parse_args(argv)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        runner = asyncio.run
    body = b"x" * args.body_bytes
    result = runner(
        deliver_all(args.port, args.hosts, args.concurrency, body, args.sign, args.client)
    )
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
