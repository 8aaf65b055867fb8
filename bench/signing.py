"""RSA ceilings and pre-signed inbox deliveries.

The ceilings are ``cryptography`` alone on one core: RSA-2048 PKCS#1 v1.5 SHA-256 signs and
verifies per second of a signing string the size a delivery's is. Deliveries to Tessera's
inbox are signed in advance (draft-cavage, ``rsa-sha256``, Digest and Date covered: what
Mastodon sends) in a process pool, because signing is the *sender's* cost and must not
slow the generator down while it measures the receiver.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bench.loadgen import build_request
from federation.signatures import sign_request

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
SIGNING_STRING = (
    b"(request-target): post /inbox\nhost: mastodon.example\n"
    b"date: Tue, 24 Nov 2026 02:00:00 GMT\n"
    b"digest: SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=\n"
    b"content-type: application/activity+json"
)


def new_keypairs(count: int) -> list[tuple[str, str]]:
    """(public PEM, private PEM) pairs, RSA-2048."""
    pairs = []
    for _ in range(count):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        pairs.append((public, private))
    return pairs


def rsa_rates(seconds: float = 1.0) -> dict[str, float]:
    """Signs and verifies per second on one core (this process, one thread)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    pad, algo = padding.PKCS1v15(), hashes.SHA256()
    signature = key.sign(SIGNING_STRING, pad, algo)
    out = {}
    for name, work in (
        ("sign_per_s", lambda: key.sign(SIGNING_STRING, pad, algo)),
        ("verify_per_s", lambda: public.verify(signature, SIGNING_STRING, pad, algo)),
    ):
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            for _ in range(20):
                work()
            count += 20
        out[name] = round(count / (time.perf_counter() - started), 1)
    return out


def like(actor: str, number: int, target: str) -> dict[str, Any]:
    return {
        "@context": AS_CONTEXT,
        "id": f"{actor}/likes/{number}",
        "type": "Like",
        "actor": actor,
        "object": target,
    }


def reply(actor: str, number: int, target: str, published: str) -> dict[str, Any]:
    """A comment on a local post (``inReplyTo``): Tessera keeps replies to its posts."""
    note_id = f"{actor}/statuses/{number}"
    note = {
        "id": note_id,
        "type": "Note",
        "attributedTo": actor,
        "content": f"<p>Lovely light in this one! ({number})</p>",
        "inReplyTo": target,
        "published": published,
        "url": note_id,
        "to": [PUBLIC],
        "cc": [f"{actor}/followers"],
    }
    return {
        "@context": AS_CONTEXT,
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": actor,
        "published": published,
        "to": [PUBLIC],
        "cc": [f"{actor}/followers"],
        "object": note,
    }


def _sign_one(job: tuple[str, str, str, str, str, str]) -> bytes:
    url, host, path, key_id, private_pem, body_text = job
    body = body_text.encode()
    headers = sign_request(
        "POST",
        url,
        {"Content-Type": "application/activity+json", "Accept": "application/activity+json"},
        body,
        key_id=key_id,
        private_key_pem=private_pem,
        now=datetime.now(UTC),
    )
    return build_request("POST", path, host, headers, body)


def presign(
    jobs: list[tuple[str, str, str, str, str, dict[str, Any]]], processes: int = 2
) -> list[bytes]:
    """Raw signed requests: ``(url, host, path, key_id, private_pem, activity)`` each."""
    flat = [(u, h, p, k, pem, json.dumps(a, separators=(",", ":"))) for u, h, p, k, pem, a in jobs]
    with ProcessPoolExecutor(processes) as pool:
        return list(pool.map(_sign_one, flat, chunksize=64))
