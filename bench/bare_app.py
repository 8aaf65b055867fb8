"""The bare ceiling: a Starlette app that does no work, on Tessera's uvicorn settings.

``POST /inbox`` reads the body and answers 202 ``{}`` (the inbox ceiling of issue 5);
started with ``--keys`` and ``--store`` it does instead the least an inbox must do before
its 202 (``VerifyAndStore``: the digest, the signature with the sender's key, the actor
owning the key, the date, and the delivery stored durably in SQLite by group commit),
which says how much of the inbox target the required work alone leaves room for;
``GET /page/{name}`` answers a page captured from Tessera, byte for byte, from memory (the
read ceiling: same response size, no query and no template); a page Tessera answered
gzipped is captured and sent gzipped, with the same ``Content-Encoding``. ``uvicorn.run`` gets the
arguments ``tessera.cli.cmd_serve`` passes, so both servers use the same loop, HTTP parser
and access logging.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import re
import sqlite3
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import uvicorn
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

GZIPPED_SUFFIX = ".gz"
"""A captured page whose file name ends so was answered gzipped."""


_PARAMETER = re.compile(r'(\w+)="([^"]*)"')


class VerifyAndStore:
    """The least an inbox does before it answers 202, written as plainly as it can be.

    The sender's public keys are known in advance (``bench.peer``'s, by the sender's name:
    a warm key cache), so no fetch; what is left is what every delivery costs: check the
    body's Digest, rebuild the signing string from the signed headers, verify the RSA
    signature, check that the activity's actor owns the key and that the Date is recent,
    and store the delivery so that it survives the process (one row per activity id; what
    arrived in one turn of the loop written and committed together at the next: a group
    commit). No ORM, no middleware, no size caps, no rate limits, no processing."""

    def __init__(self, public_pems: list[str], store: Path) -> None:
        self.keys = [serialization.load_pem_public_key(pem.encode()) for pem in public_pems]
        self.db = sqlite3.connect(store, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS delivery (activity_id TEXT PRIMARY KEY, body BLOB)"
        )
        self.waiting: list[tuple[str, bytes, asyncio.Future[None]]] = []

    def _key_for(self, key_id: str) -> rsa.RSAPublicKey:
        name = key_id.split("#", 1)[0].rsplit("/", 1)[1]
        key = self.keys[int(name[1:]) % len(self.keys)]  # as bench.peer.key_index
        assert isinstance(key, rsa.RSAPublicKey)
        return key

    def check(self, request: Request, body: bytes) -> tuple[str | None, str]:
        """(why the delivery is refused or None, the activity's id). ``"body"`` is a body
        that is not an activity (answered 400); the other reasons are answered 401."""
        headers = request.headers
        digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        if headers.get("digest") != digest:
            return "digest", ""
        parameters = dict(_PARAMETER.findall(headers.get("signature", "")))
        lines = []
        for name in parameters.get("headers", "date").split():
            if name == "(request-target)":
                lines.append(f"(request-target): post {request.url.path}")
            else:
                lines.append(f"{name}: {headers.get(name, '')}")
        key_id = parameters.get("keyId", "")
        try:
            self._key_for(key_id).verify(
                base64.b64decode(parameters.get("signature", "")),
                "\n".join(lines).encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError, IndexError):
            return "signature", ""
        try:
            sent = parsedate_to_datetime(headers.get("date", ""))
        except (TypeError, ValueError):
            return "date", ""
        if sent.tzinfo is None or abs((datetime.now(UTC) - sent).total_seconds()) > 12 * 3600:
            return "date", ""
        try:
            activity = json.loads(body)
        except ValueError:
            return "body", ""
        if not isinstance(activity, dict) or not isinstance(activity.get("id"), str):
            return "body", ""
        if activity.get("actor") != key_id.split("#", 1)[0]:
            return "key owner", ""
        return None, activity["id"]

    async def store(self, activity_id: str, body: bytes) -> None:
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((activity_id, body, done))
        if len(self.waiting) == 1:
            asyncio.get_running_loop().call_soon(self._write_batch)
        await done

    def _write_batch(self) -> None:
        """On the loop's thread, at the loop's next turn: every delivery that arrived
        meanwhile in one transaction (WAL with synchronous=NORMAL does not wait for the
        disk at a commit, so a batch costs tens of microseconds, less than a hand-off to a
        thread and back)."""
        batch, self.waiting = self.waiting, []
        try:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR IGNORE INTO delivery VALUES (?, ?)", [(a, b) for a, b, _ in batch]
            )
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:  # nothing of the batch stored: each waiter hears why
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            for _, _, done in batch:
                done.set_exception(exc)
            return
        for _, _, done in batch:
            done.set_result(None)


def build_app(pages: dict[str, bytes], least: VerifyAndStore | None = None) -> Starlette:
    async def ping(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def inbox(request: Request) -> Response:
        body = await request.body()
        if least is not None:
            why, activity_id = least.check(request, body)
            if why is not None:
                return JSONResponse({"error": why}, status_code=400 if why == "body" else 401)
            await least.store(activity_id, body)
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
    parser.add_argument("--keys", type=Path, help="bench.peer's key pairs: verify deliveries")
    parser.add_argument("--store", type=Path, help="SQLite file for verified deliveries")
    args = parser.parse_args()
    pages: dict[str, bytes] = {}
    if args.pages:
        pages = {p.name: p.read_bytes() for p in args.pages.iterdir() if p.is_file()}
    least = None
    if args.keys and args.store:
        least = VerifyAndStore([pair[0] for pair in json.loads(args.keys.read_text())], args.store)
    # The same settings as tessera.cli.cmd_serve with the benchmark's configuration
    # (``trusted_proxy = true``).
    uvicorn.run(
        build_app(pages, least),
        host="127.0.0.1",
        port=args.port,
        log_level="info",
        proxy_headers=True,
        server_header=False,
    )


if __name__ == "__main__":
    main()
