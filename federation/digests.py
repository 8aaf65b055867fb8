"""Body digests: the legacy ``Digest`` header (RFC 3230) and ``Content-Digest`` (RFC 9530).

An HTTP signature covers headers, not the body. The body is bound to the signature only
through a digest header that the signature covers, so a receiver that verifies the signature
but forgets to recompute the digest accepts any body an attacker likes. Mastodon and most of
the fediverse send ``Digest: SHA-256=<base64>`` with draft-cavage signatures; RFC 9421 senders
use ``Content-Digest: sha-256=:<base64>:``. We accept both, in SHA-256 and SHA-512, with
algorithm names in any case (Mastodon's docs show ``sha-256=``, its code sends ``SHA-256=``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from federation.sig_headers import HeaderInput, HeaderLines, combined, header_lines
from federation.sig_structured import Item, StructuredFieldError, parse_dictionary

__all__ = ["check_digest", "check_digest_lines", "content_digest_header", "digest_header"]

_HASHES: dict[str, str] = {"sha-256": "sha256", "sha-512": "sha512"}
"""Digest algorithm names (as in the headers, lower-cased) -> hashlib names."""


_KEY = re.compile(r"((?:^|,)\s*)([A-Za-z*][A-Za-z0-9_.*-]*)(?==)")


def _hash(algorithm: str, body: bytes) -> bytes:
    try:
        return hashlib.new(_HASHES[algorithm.lower()], body).digest()
    except KeyError:
        raise ValueError(f"unsupported digest algorithm {algorithm}") from None


def digest_header(body: bytes, algorithm: str = "sha-256") -> str:
    """The ``Digest`` value Mastodon expects, e.g. ``SHA-256=X48E9q...=``."""
    encoded = base64.b64encode(_hash(algorithm, body)).decode("ascii")
    return f"{algorithm.upper()}={encoded}"


def content_digest_header(body: bytes, algorithm: str = "sha-256") -> str:
    """The RFC 9530 ``Content-Digest`` value, e.g. ``sha-256=:X48E9q...=:``."""
    encoded = base64.b64encode(_hash(algorithm, body)).decode("ascii")
    return f"{algorithm.lower()}=:{encoded}:"


def _parse_legacy(value: str) -> list[tuple[str, bytes]] | str:
    """Parse ``Digest`` (comma-separated ``alg=base64``) or return a reason string."""
    entries: list[tuple[str, bytes]] = []
    for part in value.split(","):
        name, sep, encoded = part.strip().partition("=")
        if not sep or not name:
            return "malformed Digest header"
        try:
            entries.append((name.strip().lower(), base64.b64decode(encoded.strip(), validate=True)))
        except (binascii.Error, ValueError):
            if name.strip().lower() in _HASHES:
                return "malformed Digest header"
            entries.append((name.strip().lower(), b""))
    return entries


def _parse_structured(value: str) -> list[tuple[str, bytes]] | str:
    """Parse ``Content-Digest`` (a structured dictionary of byte sequences).

    Structured-field keys must be lower-case, but senders copying the legacy ``SHA-256=``
    spelling exist; keys are lower-cased before parsing (base64 never contains a comma, so a
    key is always at the start or after one).
    """
    value = _KEY.sub(lambda m: m.group(1) + m.group(2).lower(), value)
    try:
        members = parse_dictionary(value)
    except StructuredFieldError:
        return "malformed Content-Digest header"
    entries: list[tuple[str, bytes]] = []
    for name, member in members.items():
        if not isinstance(member, Item) or not isinstance(member.value, bytes):
            return "malformed Content-Digest header"
        entries.append((name.lower(), member.value))
    return entries


def _check_one(
    label: str, entries: list[tuple[str, bytes]] | str, body: bytes, mismatch: str
) -> str | None:
    if isinstance(entries, str):
        return entries
    known = [(name, digest) for name, digest in entries if name in _HASHES]
    if not known:
        names = ", ".join(name for name, _ in entries) or "none"
        return f"unsupported {label} algorithm {names}"
    for name, digest in known:
        if not hmac.compare_digest(_hash(name, body), digest):
            return mismatch
    return None


def check_digest(headers: HeaderInput, body: bytes | None) -> str | None:
    """Return why the body digest is unacceptable, or None when it is fine.

    Every supported algorithm present must match (a sender listing SHA-256 and SHA-512 must
    get both right); unknown algorithms next to a known one are ignored, but a header with
    only unknown algorithms is refused since it binds nothing we can check. A non-empty body
    with no digest header at all is refused too: the caller decides whether that matters by
    calling this only when a body is expected to be bound. ``body=None`` means no body.
    """
    return check_digest_lines(header_lines(headers), body)


def check_digest_lines(lines: HeaderLines, body: bytes | None) -> str | None:
    """:func:`check_digest` for headers already normalised by ``sig_headers.header_lines``."""
    data = body or b""
    legacy = combined(lines, "digest")
    structured = combined(lines, "content-digest")
    if legacy is None and structured is None:
        return "body has no Digest or Content-Digest header" if data else None
    if legacy is not None:
        reason = _check_one("digest", _parse_legacy(legacy), data, "digest does not match body")
        if reason:
            return reason
    if structured is not None:
        reason = _check_one(
            "content-digest",
            _parse_structured(structured),
            data,
            "content-digest does not match body",
        )
        if reason:
            return reason
    return None
