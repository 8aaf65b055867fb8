"""The benchmark's bare ceilings that do real work must do it: a ceiling that skipped the
verify or sent unsigned requests would flatter every ratio measured against it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench import signing
from bench.bare_app import VerifyAndStore, build_app
from bench.bare_deliveries import deliver_all, signed_headers
from bench.peer import actor_url, key_id
from federation.signatures import (
    ParsedSignature,
    Verified,
    parse_signature,
    sign_request,
    verify_parsed,
)
from tests.api.live import free_port

PEER = "http://peer.test"
INBOX = "http://bench.test/inbox"


@pytest.fixture(scope="module")
def keys() -> list[tuple[str, str]]:
    return signing.new_keypairs(2)


def _signed(body: bytes, name: str, private_pem: str) -> dict[str, str]:
    return sign_request(
        "POST",
        INBOX,
        {"Content-Type": "application/activity+json"},
        body,
        key_id=key_id(PEER, name),
        private_key_pem=private_pem,
    )


def _signed_without_date(body: bytes, name: str, private_pem: str) -> dict[str, str]:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    text = f"(request-target): post /inbox\nhost: bench.test\ndigest: {digest}"
    signature = base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256()))
    return {
        "Host": "bench.test",
        "Digest": digest,
        "Content-Type": "application/activity+json",
        "Signature": (
            f'keyId="{key_id(PEER, name)}",algorithm="rsa-sha256",'
            f'headers="(request-target) host digest",signature="{signature.decode()}"'
        ),
    }


def _like(name: str, number: int) -> bytes:
    activity = signing.like(actor_url(PEER, name), number, "http://bench.test/users/a/1")
    return json.dumps(activity).encode()


async def test_least_inbox_stores_signed_deliveries_and_refuses_the_rest(
    tmp_path: Path, keys: list[tuple[str, str]]
) -> None:
    store = tmp_path / "least.db"
    # Sender s0 signs with key 0 and s1 with key 1 (bench.peer.key_index).
    app = build_app({}, VerifyAndStore([public for public, _ in keys], store))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as client:

        async def post(body: bytes, headers: dict[str, str]) -> httpx.Response:
            return await client.post("/inbox", content=body, headers=headers)

        good = _like("s0", 1)
        headers = _signed(good, "s0", keys[0][1])
        assert (await post(good, headers)).status_code == 202
        assert (await post(good, headers)).status_code == 202  # a redelivery: one row

        tampered = good.replace(b"/1", b"/2")
        answer = await post(tampered, headers)
        assert (answer.status_code, answer.json()) == (401, {"error": "digest"})

        other_key = _signed(good, "s0", keys[1][1])  # s0's name, s1's key
        answer = await post(good, other_key)
        assert (answer.status_code, answer.json()) == (401, {"error": "signature"})

        not_the_owner = _like("s1", 3)  # signed by s0 for an activity of s1
        answer = await post(not_the_owner, _signed(not_the_owner, "s0", keys[0][1]))
        assert (answer.status_code, answer.json()) == (401, {"error": "key owner"})

        not_json = b"not an activity"
        answer = await post(not_json, _signed(not_json, "s0", keys[0][1]))
        assert (answer.status_code, answer.json()) == (400, {"error": "body"})

        # A valid signature that does not cover a Date, sent without one.
        answer = await post(good, _signed_without_date(good, "s0", keys[0][1]))
        assert (answer.status_code, answer.json()) == (401, {"error": "date"})

        second = _like("s1", 4)
        assert (await post(second, _signed(second, "s1", keys[1][1]))).status_code == 202
    with sqlite3.connect(store) as conn:
        ids = [row[0] for row in conn.execute("SELECT activity_id FROM delivery ORDER BY 1")]
    assert ids == [f"{actor_url(PEER, 's0')}/likes/1", f"{actor_url(PEER, 's1')}/likes/4"]


def test_bare_delivery_signature_verifies_as_a_delivery_does() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = b'{"type":"Create"}'
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    host = "127.0.1.7:8123"
    headers = signed_headers(key, host, digest, "http://bench.invalid/users/bare#main-key")
    parsed = parse_signature("POST", "/inbox", headers, scheme="http", authority=host)
    assert isinstance(parsed, ParsedSignature)
    assert parsed.covered == ("(request-target)", "host", "date", "digest", "content-type")
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    now = datetime.now(UTC)
    assert isinstance(verify_parsed(parsed, public_pem, body=body, now=now), Verified)
    assert not isinstance(verify_parsed(parsed, public_pem, body=body + b" ", now=now), Verified)


@pytest.mark.parametrize("client", ["aiohttp", "raw"])
async def test_bare_deliveries_reach_every_host(tmp_path: Path, client: str) -> None:
    """Both clients POST once to each sink address and see its 202 (loopback 127.0.x.y)."""
    key_file = tmp_path / "public.pem"
    key_file.write_text(signing.new_keypairs(1)[0][0])
    port = free_port()
    sink = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.sink",
        "--port",
        str(port),
        "--hosts",
        "5",
        "--public-key",
        str(key_file),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert sink.stdout is not None
        assert b"ready" in await asyncio.wait_for(sink.stdout.readline(), 30)
        result = await deliver_all(port, 5, 2, b"x" * 300, True, client)
        async with httpx.AsyncClient() as http:
            stats = (await http.get(f"http://127.0.1.1:{port}/_stats")).json()
    finally:
        sink.terminate()
        await sink.wait()
    assert (stats["count"], stats["hosts"]) == (5, 5)
    assert result["per_s"] > 0 and result["cpu_us_per_delivery"] > 0
