"""HTTP Signatures for ActivityPub: signing, parsing and verifying (no I/O).

Two schemes are in use: draft-cavage-http-signatures-12 (``Signature:`` header; what Mastodon
and almost everyone else sends today) and RFC 9421 (``Signature-Input`` + ``Signature``).

Verification is split up on purpose. :func:`parse_signature` reads the headers, builds the
exact signing string / signature base and exposes ``key_id``; :func:`check_without_key` checks
what needs no key (which parts of the request are covered, the time window, the body digest);
the caller then looks the key up or fetches the actor asynchronously (this module does no
network or database work) and :func:`verify_with_key` checks the cryptography.
:func:`verify_parsed` is both checks in one. Verification returns data (:class:`Verified` or
:class:`Rejected` with a short human reason) instead of raising, so the inbox can log the reason
and the policy layer decides what a rejection means (401, retry after a key refresh, ...).

Outgoing requests are signed the way Mastodon expects: ``rsa-sha256`` covering
``(request-target) host date digest content-type`` for a POST, and
``(request-target) host date accept`` for a GET.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Literal
from urllib.parse import urlsplit

from federation.digests import check_digest_lines, digest_header
from federation.keys import PublicKey, load_private_key, load_public_key
from federation.sig_algorithms import (
    VerifyKey,
    cavage_algorithms,
    cavage_label_reason,
    rfc9421_alg_reason,
    rfc9421_algorithms,
    sign_with,
    verify_with,
)
from federation.sig_cavage import covered_headers, parse_params, signing_string
from federation.sig_headers import (
    HeaderInput,
    HeaderLines,
    SignatureFormatError,
    combined,
    header_lines,
)
from federation.sig_owner import key_owner_matches
from federation.sig_rfc9421 import MessageContext, select_label, signature_base
from federation.sig_structured import InnerList, Item, StructuredFieldError, parse_dictionary

__all__ = [
    "ParsedSignature",
    "Rejected",
    "Scheme",
    "Verified",
    "check_without_key",
    "key_owner_matches",
    "parse_http_date",
    "parse_signature",
    "sign_request",
    "verify_parsed",
    "verify_with_key",
]

Scheme = Literal["cavage", "rfc9421"]


@dataclass(frozen=True)
class Verified:
    """A signature that checked out. ``algorithm`` uses RFC 9421 registry names."""

    key_id: str
    scheme: Scheme
    algorithm: str
    covered: tuple[str, ...]
    created: datetime | None


@dataclass(frozen=True)
class Rejected:
    """Why a request's signature was not accepted (short, meant for logs and 401 bodies)."""

    reason: str


@dataclass(frozen=True)
class ParsedSignature:
    """A signature read from a request, ready to verify once the key for ``key_id`` is known.

    ``signing_string`` is the exact text that was signed (for RFC 9421, the signature base).
    ``signature`` is None when the transmitted value was not valid base64; verifying then
    fails with a reason instead of the parser refusing, so the signed text stays inspectable.
    """

    scheme: Scheme
    key_id: str
    algorithm: str | None
    covered: tuple[str, ...]
    signing_string: str
    signature: bytes | None
    created: datetime | None = None
    expires: datetime | None = None
    label: str | None = None
    nonce: str | None = None
    tag: str | None = None
    header_lines: HeaderLines = field(default_factory=dict, repr=False, compare=False)

    @property
    def signature_base(self) -> str:
        """RFC 9421's name for :attr:`signing_string`."""
        return self.signing_string


def parse_http_date(value: str | None) -> datetime | None:
    """Parse an HTTP date leniently (IMF-fixdate, RFC 850, asctime, no weekday); None if bad."""
    if not value:
        return None
    return _parse_http_date(value)


@functools.lru_cache(maxsize=256)
def _parse_http_date(value: str) -> datetime | None:
    """Cached: deliveries signed in the same second carry the same Date, and each is read
    twice (the time window, then the verified time); ``email.utils`` takes ~10 µs."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _epoch(value: str | int | None, name: str) -> datetime | None:
    """A ``created``/``expires`` parameter as a datetime (integer seconds; decimals tolerated)."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise SignatureFormatError(f"malformed {name} parameter") from exc


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _to_bytes(text: str) -> bytes:
    """Header text back to wire bytes: ASGI servers decode headers as latin-1."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def parse_signature(
    method: str,
    path_with_query: str,
    headers: HeaderInput,
    *,
    scheme: str = "https",
    authority: str | None = None,
    status: int | None = None,
    label: str | None = None,
) -> ParsedSignature | Rejected:
    """Find the request's signature and rebuild what was signed.

    ``path_with_query`` must be the request target exactly as received (no re-encoding).
    ``scheme``/``authority`` describe how this server was reached (RFC 9421 ``@target-uri``,
    ``@authority``; the Host header is used when ``authority`` is None). ``status`` is only
    for verifying signed responses (``@status``). With several RFC 9421 signatures, ``label``
    chooses one; by default ``sig1`` if present, else the first.
    """
    lines = header_lines(headers)
    try:
        if "signature-input" in lines:
            return _parse_rfc9421(method, path_with_query, lines, scheme, authority, status, label)
        value = combined(lines, "signature")
        if value is None:
            auth = combined(lines, "authorization")
            if auth is not None and auth[:10].lower() == "signature ":
                value = auth[10:]
        if value is None:
            return Rejected("no signature header")
        return _parse_cavage(method, path_with_query, lines, value, authority)
    except SignatureFormatError as exc:
        return Rejected(str(exc))


def _parse_cavage(
    method: str, path: str, lines: HeaderLines, value: str, authority: str | None
) -> ParsedSignature:
    params = parse_params(value)
    key_id = params.get("keyid")
    if not key_id:
        raise SignatureFormatError("signature has no keyId")
    encoded = params.get("signature")
    if encoded is None:
        raise SignatureFormatError("signature has no signature parameter")
    covered = covered_headers(params)
    algorithm = params.get("algorithm")
    return ParsedSignature(
        scheme="cavage",
        key_id=key_id,
        algorithm=algorithm.lower() if algorithm else None,
        covered=covered,
        signing_string=signing_string(method, path, lines, covered, params, authority),
        signature=_b64(encoded),
        created=_epoch(params.get("created"), "created"),
        expires=_epoch(params.get("expires"), "expires"),
        header_lines=lines,
    )


def _parse_rfc9421(
    method: str,
    path: str,
    lines: HeaderLines,
    scheme: str,
    authority: str | None,
    status: int | None,
    label: str | None,
) -> ParsedSignature:
    try:
        inputs = parse_dictionary(combined(lines, "signature-input") or "")
    except StructuredFieldError as exc:
        raise SignatureFormatError("malformed Signature-Input header") from exc
    chosen = select_label(inputs, label)
    inner = inputs[chosen]
    if not isinstance(inner, InnerList):
        raise SignatureFormatError(f"Signature-Input {chosen} is not a component list")
    raw_signature = combined(lines, "signature")
    if raw_signature is None:
        raise SignatureFormatError("Signature-Input without Signature header")
    signature: bytes | None = None
    try:
        member = parse_dictionary(raw_signature).get(chosen)
        if member is None:
            raise SignatureFormatError(f"no signature for label {chosen}")
        if isinstance(member, Item) and isinstance(member.value, bytes):
            signature = member.value
    except StructuredFieldError:
        signature = None  # e.g. a truncated value; verification reports it
    ctx = MessageContext(method, path, scheme, authority, status, lines)
    base, covered = signature_base(ctx, inner)
    params = inner.params
    key_id = params.get("keyid")
    if not isinstance(key_id, str) or not key_id:
        raise SignatureFormatError("signature has no keyid")
    alg, nonce, tag = params.get("alg"), params.get("nonce"), params.get("tag")
    for name, text in (("alg", alg), ("nonce", nonce), ("tag", tag)):
        if text is not None and not isinstance(text, str):
            raise SignatureFormatError(f"malformed {name} parameter")
    times: dict[str, datetime | None] = {"created": None, "expires": None}
    for name in times:
        seconds = params.get(name)
        if seconds is None:
            continue
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise SignatureFormatError(f"malformed {name} parameter")
        times[name] = _epoch(seconds, name)
    return ParsedSignature(
        scheme="rfc9421",
        key_id=key_id,
        algorithm=str(alg) if alg is not None else None,
        covered=covered,
        signing_string=base,
        signature=signature,
        created=times["created"],
        expires=times["expires"],
        label=chosen,
        nonce=str(nonce) if nonce is not None else None,
        tag=str(tag) if tag is not None else None,
        header_lines=lines,
    )


def _coerce_key(key: str | bytes | PublicKey) -> VerifyKey:
    """A PEM string is parsed (cached); bytes are an HMAC secret; key objects pass through."""
    if isinstance(key, str):
        return load_public_key(key)
    return key


def _covers_date(parsed: ParsedSignature) -> bool:
    """Date covered in any form (``date``, ``"date";sf`` ...): each must meet the time
    window, or a signature without ``created`` would never expire."""
    return any(c.split(";", 1)[0] == "date" for c in parsed.covered)


def _coverage_reason(parsed: ParsedSignature, body: bytes | None) -> str | None:
    """What a signature must cover before it can authenticate an ActivityPub request."""
    if parsed.scheme == "cavage":
        covered = set(parsed.covered)
        for needed in ("(request-target)", "host"):
            if needed not in covered:
                return f"signature does not cover {needed}"
        if "date" not in covered and "(created)" not in covered:
            return "signature does not cover date"
        if body and not covered & {"digest", "content-digest"}:
            return "signature does not cover digest"
        return None
    bare = {c.removesuffix(";sf") for c in parsed.covered}
    if "@method" not in bare:
        return "signature does not cover @method"
    has_path = "@path" in bare or "@request-target" in bare
    if "@target-uri" not in bare and not ("@authority" in bare and has_path):
        return "signature does not cover @target-uri"
    if body and "content-digest" not in bare:
        return "signature does not cover content-digest"
    if parsed.created is None and not _covers_date(parsed):
        return "signature has no created time"
    return None


def _timing_reason(
    parsed: ParsedSignature, now: datetime, max_skew: timedelta, max_future: timedelta
) -> str | None:
    """Replay protection: the covered Date and the created/expires parameters."""
    earliest, latest = now - max_skew, now + max_future
    if _covers_date(parsed):
        date = parse_http_date(combined(parsed.header_lines, "date"))
        if date is None:
            return "date header is not a valid HTTP date"
        if not earliest <= date <= latest:
            return "date outside the allowed window"
    if parsed.created is not None and not earliest <= parsed.created <= latest:
        return "created time outside the allowed window"
    if parsed.expires is not None and parsed.expires < now:
        return "signature has expired"
    return None


def check_without_key(
    parsed: ParsedSignature,
    *,
    body: bytes | None,
    now: datetime,
    max_skew: timedelta = timedelta(hours=1),
    max_future: timedelta = timedelta(minutes=5),
    require_headers: bool = True,
) -> Rejected | None:
    """Everything about a parsed signature that needs no key; None when it all passes.

    An algorithm no key could verify, the coverage an inbox needs, the time window (covered
    Date, ``created``, ``expires``), the body digest and a decodable signature value. A
    verifier runs this before it looks the signer's key up or fetches it, so a stale,
    expired or tampered request is refused without a database read or an outbound request:
    replaying a captured request, or sending one that names any key id, must not make this
    server fetch from the claimed signer's server. Parameters are as :func:`verify_parsed`.
    """
    now = _aware(now)
    if parsed.scheme == "cavage":
        reason = cavage_label_reason(parsed.algorithm, parsed.covered)
    else:
        reason = rfc9421_alg_reason(parsed.algorithm)
    reason = (
        reason
        or (_coverage_reason(parsed, body) if require_headers else None)
        or _timing_reason(parsed, now, max_skew, max_future)
    )
    has_digest = "digest" in parsed.header_lines or "content-digest" in parsed.header_lines
    if reason is None and (has_digest or (require_headers and body)):
        reason = check_digest_lines(parsed.header_lines, body)
    if reason is None and parsed.signature is None:
        reason = "malformed signature value"
    return Rejected(reason) if reason is not None else None


def verify_with_key(
    parsed: ParsedSignature, public_key_pem_or_obj: str | bytes | PublicKey
) -> Verified | Rejected:
    """The key's part of :func:`verify_parsed`: for a signature :func:`check_without_key`
    passed. Every reason it gives such a signature depends on the key (a newer key could
    cure it)."""
    try:
        key = _coerce_key(public_key_pem_or_obj)
    except ValueError:
        return Rejected("public key could not be parsed")
    if parsed.scheme == "cavage":
        algorithms = cavage_algorithms(parsed.algorithm, parsed.covered, key)
    else:
        algorithms = rfc9421_algorithms(parsed.algorithm, key)
    if isinstance(algorithms, str):
        return Rejected(algorithms)
    if parsed.signature is None:
        return Rejected("malformed signature value")
    data = _to_bytes(parsed.signing_string)
    for algorithm in algorithms:
        if verify_with(algorithm, key, data, parsed.signature, parsed.scheme):
            created = parsed.created
            if created is None and _covers_date(parsed):
                created = parse_http_date(combined(parsed.header_lines, "date"))
            return Verified(parsed.key_id, parsed.scheme, algorithm, parsed.covered, created)
    return Rejected("signature does not verify")


def verify_parsed(
    parsed: ParsedSignature,
    public_key_pem_or_obj: str | bytes | PublicKey,
    *,
    body: bytes | None,
    now: datetime,
    max_skew: timedelta = timedelta(hours=1),
    max_future: timedelta = timedelta(minutes=5),
    require_headers: bool = True,
) -> Verified | Rejected:
    """Check a parsed signature against the sender's key and the request body.

    ``public_key_pem_or_obj`` is a PEM string, a key object from :mod:`federation.keys`, or
    (RFC 9421 ``hmac-sha256`` only) a bytes secret. ``require_headers`` enforces the
    coverage an inbox needs (method/target, host, date or created, and the body digest when
    there is a body); turn it off only to check specification examples. Covered dates and
    ``created`` must lie within ``max_skew`` in the past / ``max_future`` ahead of ``now``.
    What needs no key is checked first (:func:`check_without_key`), then the key's part
    (:func:`verify_with_key`); the signature itself is verified last.
    """
    refused = check_without_key(
        parsed,
        body=body,
        now=now,
        max_skew=max_skew,
        max_future=max_future,
        require_headers=require_headers,
    )
    return refused or verify_with_key(parsed, public_key_pem_or_obj)


def _host_for(url: str) -> tuple[str, str]:
    """(Host header, path?query) for an outgoing URL; default ports are left out of Host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"cannot sign a request to {url!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if parts.port is not None and parts.port != {"https": 443, "http": 80}[parts.scheme]:
        host = f"{host}:{parts.port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return host, path


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    key_id: str,
    private_key_pem: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """Sign an outgoing request; return all headers to send (``headers`` plus ours).

    Adds Host, Date (RFC 7231 IMF-fixdate), Digest when there is a body, and the draft-cavage
    ``Signature`` with ``rsa-sha256`` - the form every fediverse server verifies. A caller's
    own Host/Date/Digest/Signature entries are replaced so what is sent is what was signed.
    """
    host, path = _host_for(url)
    moment = _aware(now or datetime.now(UTC)).astimezone(UTC)
    replaced = {"date", "digest", "signature", "host"}
    given_host = next((v for k, v in headers.items() if k.lower() == "host"), None)
    out = {k: v for k, v in headers.items() if k.lower() not in replaced}
    out["Host"] = given_host or host
    out["Date"] = format_datetime(moment, usegmt=True)
    present = {k.lower() for k in out}
    covered = ["(request-target)", "host", "date"]
    if body is not None:
        out["Digest"] = digest_header(body)
        covered.append("digest")
        if "content-type" in present:
            covered.append("content-type")
    elif "accept" in present:
        covered.append("accept")
    key = load_private_key(private_key_pem)
    text = signing_string(method, path, header_lines(out), tuple(covered), {})
    signature = base64.b64encode(sign_with("rsa-v1_5-sha256", key, _to_bytes(text))).decode()
    quoted_key_id = key_id.replace("\\", "\\\\").replace('"', '\\"')
    out["Signature"] = (
        f'keyId="{quoted_key_id}",algorithm="rsa-sha256",'
        f'headers="{" ".join(covered)}",signature="{signature}"'
    )
    return out
