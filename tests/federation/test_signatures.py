"""HTTP signatures with fresh keys: sign, verify, and every way a request can be refused."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from federation.digests import content_digest_header, digest_header
from federation.keys import generate_rsa_keypair, load_private_key, public_pem_for
from federation.sig_algorithms import sign_with
from federation.sig_cavage import signing_string
from federation.sig_headers import header_lines
from federation.signatures import (
    ParsedSignature,
    Rejected,
    Verified,
    check_without_key,
    key_owner_matches,
    parse_http_date,
    parse_signature,
    sign_request,
    verify_parsed,
)

NOW = datetime(2025, 5, 1, 12, 0, 0, tzinfo=UTC)
ACTOR = "https://tessera.example/users/alice"
KEY_ID = f"{ACTOR}#main-key"
INBOX = "https://remote.example/users/bob/inbox"
BODY = b'{"type": "Create", "actor": "https://tessera.example/users/alice"}'
AP_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


@pytest.fixture(scope="module")
def rsa_pair() -> tuple[str, str]:
    return generate_rsa_keypair(2048)


@pytest.fixture(scope="module")
def other_pair() -> tuple[str, str]:
    return generate_rsa_keypair(2048)


def _post(pair: tuple[str, str], body: bytes | None = BODY, now: datetime = NOW) -> dict[str, str]:
    return sign_request(
        "POST",
        INBOX,
        {"Content-Type": "application/activity+json"},
        body,
        key_id=KEY_ID,
        private_key_pem=pair[0],
        now=now,
    )


def _verify(
    headers: dict[str, str] | list[tuple[str, str]],
    key: str | bytes,
    *,
    method: str = "POST",
    path: str = "/users/bob/inbox",
    body: bytes | None = BODY,
    now: datetime = NOW,
    require_headers: bool = True,
) -> Verified | Rejected:
    parsed = parse_signature(method, path, headers)
    if isinstance(parsed, Rejected):
        return parsed
    return verify_parsed(parsed, key, body=body, now=now, require_headers=require_headers)


def _cavage(
    headers: dict[str, str],
    covered: str,
    private_pem: str,
    *,
    algorithm: str | None = "rsa-sha256",
    sign_alg: str = "rsa-v1_5-sha256",
    extra: dict[str, str] | None = None,
    method: str = "POST",
    path: str = "/users/bob/inbox",
) -> dict[str, str]:
    """Sign ``headers`` covering exactly ``covered`` (to build requests sign_request never makes)."""
    params = dict(extra or {})
    text = signing_string(method, path, header_lines(headers), tuple(covered.split()), params)
    key = load_private_key(private_pem)
    signature = base64.b64encode(sign_with(sign_alg, key, text.encode(), "cavage")).decode()
    parts = [f'keyId="{KEY_ID}"']
    if algorithm is not None:
        parts.append(f'algorithm="{algorithm}"')
    parts += [f"{name}={value}" for name, value in params.items()]
    parts += [f'headers="{covered}"', f'signature="{signature}"']
    return {**headers, "Signature": ",".join(parts)}


def _base_headers(body: bytes | None = BODY, now: datetime = NOW) -> dict[str, str]:
    headers = {"Host": "remote.example", "Date": format_datetime(now, usegmt=True)}
    if body is not None:
        headers["Digest"] = digest_header(body)
        headers["Content-Type"] = "application/activity+json"
    return headers


# --- sign_request / verify round trips --------------------------------------------------------


def test_signed_post_has_mastodon_shape(rsa_pair: tuple[str, str]) -> None:
    headers = _post(rsa_pair)
    assert headers["Host"] == "remote.example"
    assert headers["Date"] == "Thu, 01 May 2025 12:00:00 GMT"
    assert headers["Digest"] == digest_header(BODY)
    assert headers["Content-Type"] == "application/activity+json"
    assert re.fullmatch(
        r'keyId="https://tessera\.example/users/alice#main-key",algorithm="rsa-sha256",'
        r'headers="\(request-target\) host date digest content-type",signature="[A-Za-z0-9+/=]+"',
        headers["Signature"],
    )


def test_signed_post_round_trip(rsa_pair: tuple[str, str]) -> None:
    result = _verify(_post(rsa_pair), rsa_pair[1])
    assert result == Verified(
        key_id=KEY_ID,
        scheme="cavage",
        algorithm="rsa-v1_5-sha256",
        covered=("(request-target)", "host", "date", "digest", "content-type"),
        created=NOW,
    )


def test_signed_get_with_accept_round_trip(rsa_pair: tuple[str, str]) -> None:
    headers = sign_request(
        "GET",
        "https://remote.example/users/bob/outbox?page=true",
        {"Accept": AP_JSON},
        None,
        key_id=KEY_ID,
        private_key_pem=rsa_pair[0],
        now=NOW,
    )
    assert "Digest" not in headers
    assert 'headers="(request-target) host date accept"' in headers["Signature"]
    parsed = parse_signature("GET", "/users/bob/outbox?page=true", headers)
    assert isinstance(parsed, ParsedSignature)
    assert parsed.signing_string == (
        "(request-target): get /users/bob/outbox?page=true\n"
        "host: remote.example\n"
        "date: Thu, 01 May 2025 12:00:00 GMT\n"
        f"accept: {AP_JSON}"
    )
    result = verify_parsed(parsed, rsa_pair[1], body=None, now=NOW)
    assert isinstance(result, Verified)
    assert result.covered[-1] == "accept"
    tampered = {**headers, "Accept": "text/html"}
    assert _verify(
        tampered, rsa_pair[1], method="GET", path="/users/bob/outbox?page=true", body=None
    ) == Rejected("signature does not verify")


def test_get_without_accept_covers_request_target_host_date(rsa_pair: tuple[str, str]) -> None:
    headers = sign_request(
        "GET",
        "https://remote.example:8443/a",
        {},
        None,
        key_id=KEY_ID,
        private_key_pem=rsa_pair[0],
        now=NOW,
    )
    assert headers["Host"] == "remote.example:8443"
    assert 'headers="(request-target) host date"' in headers["Signature"]
    assert isinstance(_verify(headers, rsa_pair[1], method="GET", path="/a", body=None), Verified)


def test_sign_request_replaces_callers_date_and_signature(rsa_pair: tuple[str, str]) -> None:
    headers = sign_request(
        "POST",
        INBOX,
        {"date": "yesterday", "signature": "x"},
        BODY,
        key_id=KEY_ID,
        private_key_pem=rsa_pair[0],
        now=NOW,
    )
    assert sorted(k.lower() for k in headers) == ["date", "digest", "host", "signature"]
    assert isinstance(_verify(headers, rsa_pair[1]), Verified)


def test_sign_request_refuses_non_http_urls(rsa_pair: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="cannot sign"):
        sign_request(
            "GET", "mailto:bob@example", {}, None, key_id=KEY_ID, private_key_pem=rsa_pair[0]
        )


# --- tampering and policy ------------------------------------------------------------------------


def test_tampered_body_is_rejected(rsa_pair: tuple[str, str]) -> None:
    result = _verify(_post(rsa_pair), rsa_pair[1], body=BODY.replace(b"alice", b"mallory"))
    assert result == Rejected("digest does not match body")


def test_tampered_path_is_rejected(rsa_pair: tuple[str, str]) -> None:
    result = _verify(_post(rsa_pair), rsa_pair[1], path="/users/carol/inbox")
    assert result == Rejected("signature does not verify")


def test_tampered_date_is_rejected(rsa_pair: tuple[str, str]) -> None:
    headers = {**_post(rsa_pair), "Date": format_datetime(NOW + timedelta(seconds=30), usegmt=True)}
    assert _verify(headers, rsa_pair[1]) == Rejected("signature does not verify")


def test_tampered_covered_header_is_rejected(rsa_pair: tuple[str, str]) -> None:
    headers = {**_post(rsa_pair), "Content-Type": "text/plain"}
    assert _verify(headers, rsa_pair[1]) == Rejected("signature does not verify")


def test_uncovered_header_may_change(rsa_pair: tuple[str, str]) -> None:
    headers = {**_post(rsa_pair), "User-Agent": "anything"}
    assert isinstance(_verify(headers, rsa_pair[1]), Verified)


def test_removed_digest_header_is_rejected(rsa_pair: tuple[str, str]) -> None:
    headers = {k: v for k, v in _post(rsa_pair).items() if k != "Digest"}
    assert _verify(headers, rsa_pair[1]) == Rejected("covered header digest is missing")


def test_wrong_key_is_rejected(rsa_pair: tuple[str, str], other_pair: tuple[str, str]) -> None:
    assert _verify(_post(rsa_pair), other_pair[1]) == Rejected("signature does not verify")


@pytest.mark.parametrize("offset", [timedelta(hours=-2), timedelta(minutes=10)])
def test_stale_or_future_date_is_rejected(rsa_pair: tuple[str, str], offset: timedelta) -> None:
    headers = _post(rsa_pair, now=NOW + offset)
    assert _verify(headers, rsa_pair[1]) == Rejected("date outside the allowed window")


def test_window_edges_are_configurable(rsa_pair: tuple[str, str]) -> None:
    parsed = parse_signature(
        "POST", "/users/bob/inbox", _post(rsa_pair, now=NOW - timedelta(hours=2))
    )
    assert isinstance(parsed, ParsedSignature)
    wide = verify_parsed(parsed, rsa_pair[1], body=BODY, now=NOW, max_skew=timedelta(hours=3))
    assert isinstance(wide, Verified)
    at_edge = verify_parsed(parsed, rsa_pair[1], body=BODY, now=NOW - timedelta(hours=1))
    assert isinstance(at_edge, Verified)


def test_unparseable_date_is_rejected(rsa_pair: tuple[str, str]) -> None:
    headers = _cavage(
        {**_base_headers(), "Date": "yesterday"}, "(request-target) host date digest", rsa_pair[0]
    )
    assert _verify(headers, rsa_pair[1]) == Rejected("date header is not a valid HTTP date")


def test_post_without_digest_is_rejected(rsa_pair: tuple[str, str]) -> None:
    headers = _post(rsa_pair, body=None)  # signs a POST as if it had no body
    assert _verify(headers, rsa_pair[1]) == Rejected("signature does not cover digest")


def test_signature_not_covering_host_is_rejected(rsa_pair: tuple[str, str]) -> None:
    headers = _cavage(_base_headers(), "(request-target) date digest", rsa_pair[0])
    assert _verify(headers, rsa_pair[1]) == Rejected("signature does not cover host")
    lenient = _verify(headers, rsa_pair[1], require_headers=False)
    assert isinstance(lenient, Verified)


@pytest.mark.parametrize(
    ("covered", "reason"),
    [
        ("host date digest", "signature does not cover (request-target)"),
        ("(request-target) host digest", "signature does not cover date"),
    ],
)
def test_missing_coverage_is_named(rsa_pair: tuple[str, str], covered: str, reason: str) -> None:
    headers = _cavage(_base_headers(), covered, rsa_pair[0])
    assert _verify(headers, rsa_pair[1]) == Rejected(reason)


def test_authorization_header_form_verifies(rsa_pair: tuple[str, str]) -> None:
    headers = _post(rsa_pair)
    headers["Authorization"] = "Signature " + headers.pop("Signature")
    assert isinstance(_verify(headers, rsa_pair[1]), Verified)


def test_no_signature_header() -> None:
    assert parse_signature("GET", "/", {"Host": "a.example"}) == Rejected("no signature header")
    assert parse_signature("GET", "/", {"Authorization": "Bearer x"}) == Rejected(
        "no signature header"
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('algorithm="rsa-sha256",signature="AAAA"', "signature has no keyId"),
        ('keyId="k",algorithm="rsa-sha256"', "signature has no signature parameter"),
        ('keyId="k" signature="AAAA"', "malformed Signature header"),
        ('keyId="k",keyId="j",signature="AAAA"', "duplicate keyid parameter in Signature header"),
        ('keyId="k",headers="",signature="AAAA"', "signature covers no headers"),
        ('keyId="k",headers="(nonsense)",signature="AAAA"', "unknown pseudo-header (nonsense)"),
        ('keyId="k",headers="x-missing",signature="AAAA"', "covered header x-missing is missing"),
    ],
)
def test_malformed_cavage_headers_are_rejected(value: str, reason: str) -> None:
    assert parse_signature("POST", "/", {"Signature": value, "Date": "x"}) == Rejected(reason)


# --- algorithms ------------------------------------------------------------------------------------


def _with_algorithm(headers: dict[str, str], label: str | None) -> dict[str, str]:
    replacement = "" if label is None else f'algorithm="{label}",'
    return {
        **headers,
        "Signature": headers["Signature"].replace('algorithm="rsa-sha256",', replacement),
    }


@pytest.mark.parametrize("label", ["hs2019", "HS2019", None])
def test_hs2019_and_absent_algorithm_derive_from_rsa_key(
    rsa_pair: tuple[str, str], label: str | None
) -> None:
    result = _verify(_with_algorithm(_post(rsa_pair), label), rsa_pair[1])
    assert isinstance(result, Verified)
    assert result.algorithm == "rsa-v1_5-sha256"


def test_hs2019_with_rsa_pss_sha512(rsa_pair: tuple[str, str]) -> None:
    headers = _cavage(
        _base_headers(),
        "(request-target) host date digest",
        rsa_pair[0],
        algorithm="hs2019",
        sign_alg="rsa-pss-sha512",
    )
    result = _verify(headers, rsa_pair[1])
    assert isinstance(result, Verified)
    assert result.algorithm == "rsa-pss-sha512"


@pytest.mark.parametrize("label", ["rsa-sha1", "hmac-sha256", "rsa-sha512", "nonsense"])
def test_unsupported_algorithms_are_refused(rsa_pair: tuple[str, str], label: str) -> None:
    result = _verify(_with_algorithm(_post(rsa_pair), label), rsa_pair[1])
    assert result == Rejected(f"unsupported algorithm {label}")


def test_rsa_label_with_ed25519_key_is_refused(rsa_pair: tuple[str, str]) -> None:
    ed_public = public_pem_for(ed25519.Ed25519PrivateKey.generate())
    result = _verify(_post(rsa_pair), ed_public)
    assert result == Rejected("key type does not match algorithm rsa-sha256")


def test_unparseable_key_is_refused(rsa_pair: tuple[str, str]) -> None:
    assert _verify(_post(rsa_pair), "not a pem") == Rejected("public key could not be parsed")


def test_hmac_secret_is_not_used_for_cavage(rsa_pair: tuple[str, str]) -> None:
    result = _verify(_post(rsa_pair), b"secret")
    assert result == Rejected("HMAC secrets are not used with draft-cavage signatures")


def test_ed25519_hs2019_with_created_and_expires() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives import serialization

    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = public_pem_for(private)
    created = int(NOW.timestamp())
    headers = {"Host": "remote.example", "Digest": digest_header(BODY)}
    covered = "(request-target) host (created) (expires) digest"

    def signed(created_at: int, expires_at: int) -> dict[str, str]:
        extra = {"created": str(created_at), "expires": str(expires_at)}
        return _cavage(
            headers, covered, private_pem, algorithm="hs2019", sign_alg="ed25519", extra=extra
        )

    result = _verify(signed(created, created + 300), public_pem)
    assert isinstance(result, Verified)
    assert (result.algorithm, result.created) == ("ed25519", NOW)
    assert _verify(signed(created - 7200, created + 300), public_pem) == Rejected(
        "created time outside the allowed window"
    )
    assert _verify(signed(created - 600, created - 60), public_pem) == Rejected(
        "signature has expired"
    )


def test_created_pseudo_header_is_refused_with_rsa_sha256(rsa_pair: tuple[str, str]) -> None:
    headers = _cavage(
        _base_headers(),
        "(request-target) host (created) digest",
        rsa_pair[0],
        extra={"created": str(int(NOW.timestamp()))},
    )
    assert _verify(headers, rsa_pair[1]) == Rejected("(created) cannot be used with rsa-sha256")


def test_date_window_and_labels_are_checked_without_a_key(rsa_pair: tuple[str, str]) -> None:
    """A stale or future Date, an unsupported label and ``(created)`` with ``rsa-sha256``
    are refused by ``check_without_key``: no key has to be looked up or fetched for them."""

    def keyless(headers: dict[str, str]) -> Rejected | None:
        parsed = parse_signature("POST", "/users/bob/inbox", headers)
        assert isinstance(parsed, ParsedSignature), parsed
        return check_without_key(parsed, body=BODY, now=NOW)

    window = Rejected("date outside the allowed window")
    assert keyless(_post(rsa_pair, now=NOW - timedelta(hours=2))) == window
    assert keyless(_post(rsa_pair, now=NOW + timedelta(minutes=10))) == window
    assert keyless(_with_algorithm(_post(rsa_pair), "rsa-sha1")) == Rejected(
        "unsupported algorithm rsa-sha1"
    )
    created = _cavage(
        _base_headers(),
        "(request-target) host (created) digest",
        rsa_pair[0],
        extra={"created": str(int(NOW.timestamp()))},
    )
    assert keyless(created) == Rejected("(created) cannot be used with rsa-sha256")
    assert keyless(_post(rsa_pair)) is None


def test_created_without_parameter_is_rejected(rsa_pair: tuple[str, str]) -> None:
    value = 'keyId="k",algorithm="hs2019",headers="(created)",signature="AAAA"'
    assert parse_signature("GET", "/", {"Signature": value}) == Rejected(
        "signature covers (created) but has no created parameter"
    )


def test_truncated_signature_is_rejected_not_raised(rsa_pair: tuple[str, str]) -> None:
    headers = _post(rsa_pair)
    headers["Signature"] = re.sub(
        r'signature="[^"]+"', 'signature="Y2FiYW...IxNGRiZDk4ZA=="', headers["Signature"]
    )
    assert _verify(headers, rsa_pair[1]) == Rejected("malformed signature value")


# --- helpers -------------------------------------------------------------------------------------


def test_parse_http_date_forms() -> None:
    assert parse_http_date("Thu, 01 May 2025 12:00:00 GMT") == NOW
    assert parse_http_date("01 May 2025 12:00:00 GMT") == NOW
    assert parse_http_date("Thursday, 01-May-25 12:00:00 GMT") == NOW
    assert parse_http_date("Thu May  1 12:00:00 2025") == NOW
    assert parse_http_date("not a date") is None
    assert parse_http_date(None) is None


def test_key_owner_matches_uses_the_fetched_owner() -> None:
    assert key_owner_matches(KEY_ID, ACTOR, ACTOR)
    assert key_owner_matches(f"{ACTOR}/main-key", ACTOR, ACTOR)
    assert key_owner_matches("HTTPS://Tessera.Example:443/users/alice#k", ACTOR, ACTOR)
    assert not key_owner_matches(KEY_ID, ACTOR, "https://tessera.example/users/mallory")
    # a prefix is not ownership
    assert not key_owner_matches(f"{ACTOR}-evil#main-key", ACTOR, None)
    assert not key_owner_matches(f"{ACTOR}-evil/main-key", ACTOR, f"{ACTOR}-evil")


def test_key_owner_matches_without_owner_only_trusts_keys_inside_the_actor() -> None:
    assert key_owner_matches(KEY_ID, ACTOR, None)
    assert key_owner_matches(ACTOR, ACTOR, None)
    assert not key_owner_matches(f"{ACTOR}/main-key", ACTOR, None)
    assert not key_owner_matches("https://other.example/keys/1", ACTOR, None)


def test_key_on_another_server_cannot_claim_an_actor() -> None:
    assert not key_owner_matches("https://evil.example/key#main-key", ACTOR, ACTOR)
    assert not key_owner_matches("http://tessera.example/users/alice#main-key", ACTOR, ACTOR)
    assert not key_owner_matches("not a url", ACTOR, ACTOR)
    assert not key_owner_matches(KEY_ID, ACTOR, "")


def test_content_digest_alone_binds_a_cavage_body(rsa_pair: tuple[str, str]) -> None:
    headers = {**_base_headers(), "Content-Digest": content_digest_header(BODY)}
    del headers["Digest"]
    signed = _cavage(headers, "(request-target) host date content-digest", rsa_pair[0])
    assert isinstance(_verify(signed, rsa_pair[1]), Verified)
    assert _verify(signed, rsa_pair[1], body=b"{}") == Rejected(
        "content-digest does not match body"
    )
