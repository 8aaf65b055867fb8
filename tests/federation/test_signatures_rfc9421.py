"""RFC 9421 message signatures with fresh keys: components, parameters and policy."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from federation.digests import content_digest_header
from federation.keys import PrivateKey, public_pem_for
from federation.sig_algorithms import sign_with
from federation.signatures import (
    ParsedSignature,
    Rejected,
    Verified,
    check_without_key,
    parse_signature,
    verify_parsed,
    verify_with_key,
)

NOW = datetime(2025, 5, 1, 12, 0, 0, tzinfo=UTC)
CREATED = int(NOW.timestamp())
KEY_ID = "https://tessera.example/users/alice#main-key"
BODY = b'{"type": "Follow"}'
PATH = "/users/bob/inbox"
COVERAGE = '("@method" "@target-uri" "content-digest")'


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def _headers(body: bytes | None = BODY) -> dict[str, str]:
    headers = {"Host": "remote.example", "Content-Type": "application/activity+json"}
    if body is not None:
        headers["Content-Digest"] = content_digest_header(body)
    return headers


def _sign(
    headers: dict[str, str],
    signature_input: str,
    key: PrivateKey | bytes,
    alg: str,
    *,
    method: str = "POST",
    path: str = PATH,
    label: str = "sig1",
) -> dict[str, str]:
    """Sign a message with ``label=signature_input`` over the base our parser builds."""
    draft = {
        **headers,
        "Signature-Input": f"{label}={signature_input}",
        "Signature": f"{label}=:AA==:",
    }
    parsed = parse_signature(method, path, draft)
    assert isinstance(parsed, ParsedSignature), parsed
    raw = sign_with(alg, key, parsed.signature_base.encode())
    return {**draft, "Signature": f"{label}=:{base64.b64encode(raw).decode()}:"}


def _verify(
    headers: dict[str, str],
    key: object,
    *,
    method: str = "POST",
    path: str = PATH,
    body: bytes | None = BODY,
    now: datetime = NOW,
    require_headers: bool = True,
) -> Verified | Rejected:
    parsed = parse_signature(method, path, headers)
    if isinstance(parsed, Rejected):
        return parsed
    return verify_parsed(parsed, key, body=body, now=now, require_headers=require_headers)  # type: ignore[arg-type]


def _params(created: int | None = CREATED, extra: str = "") -> str:
    created_part = "" if created is None else f";created={created}"
    return f'{COVERAGE}{created_part};keyid="{KEY_ID}"{extra}'


def test_ed25519_round_trip(ed_key: ed25519.Ed25519PrivateKey) -> None:
    params = _params(extra=';alg="ed25519"')
    headers = _sign(_headers(), params, ed_key, "ed25519")
    parsed = parse_signature("POST", PATH, headers)
    assert isinstance(parsed, ParsedSignature)
    assert parsed.signature_base == (
        '"@method": POST\n'
        '"@target-uri": https://remote.example/users/bob/inbox\n'
        f'"content-digest": {content_digest_header(BODY)}\n'
        f'"@signature-params": {params}'
    )
    result = verify_parsed(parsed, public_pem_for(ed_key), body=BODY, now=NOW)
    assert result == Verified(
        key_id=KEY_ID,
        scheme="rfc9421",
        algorithm="ed25519",
        covered=("@method", "@target-uri", "content-digest"),
        created=NOW,
    )


@pytest.mark.parametrize(
    ("make", "alg"),
    [
        (lambda: rsa.generate_private_key(65537, 2048), "rsa-v1_5-sha256"),
        (lambda: rsa.generate_private_key(65537, 2048), "rsa-pss-sha512"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ecdsa-p256-sha256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ecdsa-p384-sha384"),
    ],
)
def test_every_asymmetric_algorithm_with_and_without_alg(make: object, alg: str) -> None:
    key = make()  # type: ignore[operator]
    for extra in (f';alg="{alg}"', ""):
        headers = _sign(_headers(), _params(extra=extra), key, alg)
        result = _verify(headers, public_pem_for(key))
        assert isinstance(result, Verified), (alg, extra, result)
        assert result.algorithm == alg


def test_hmac_needs_a_bytes_secret() -> None:
    secret = b"shared secret of sufficient length!"
    headers = _sign(_headers(), _params(extra=';alg="hmac-sha256"'), secret, "hmac-sha256")
    assert isinstance(_verify(headers, secret), Verified)
    assert _verify(headers, b"other secret") == Rejected("signature does not verify")
    pem = public_pem_for(ed25519.Ed25519PrivateKey.generate())
    assert _verify(headers, pem) == Rejected("key type does not match algorithm hmac-sha256")


def test_tampering_is_rejected(ed_key: ed25519.Ed25519PrivateKey) -> None:
    public = public_pem_for(ed_key)
    headers = _sign(_headers(), _params(), ed_key, "ed25519")
    assert isinstance(_verify(headers, public), Verified)
    assert _verify(headers, public, body=b"{}") == Rejected("content-digest does not match body")
    assert _verify(headers, public, path="/users/carol/inbox") == Rejected(
        "signature does not verify"
    )
    assert _verify(headers, public, method="PUT") == Rejected("signature does not verify")
    moved = {**headers, "Host": "elsewhere.example"}
    assert _verify(moved, public) == Rejected("signature does not verify")
    edited = {
        **headers,
        "Signature-Input": headers["Signature-Input"].replace(str(CREATED), str(CREATED + 1)),
    }
    assert _verify(edited, public) == Rejected("signature does not verify")


def test_time_window(ed_key: ed25519.Ed25519PrivateKey) -> None:
    public = public_pem_for(ed_key)
    stale = _sign(_headers(), _params(created=CREATED - 7200), ed_key, "ed25519")
    assert _verify(stale, public) == Rejected("created time outside the allowed window")
    future = _sign(_headers(), _params(created=CREATED + 600), ed_key, "ed25519")
    assert _verify(future, public) == Rejected("created time outside the allowed window")
    expired = _sign(_headers(), _params(extra=f";expires={CREATED - 1}"), ed_key, "ed25519")
    assert _verify(expired, public) == Rejected("signature has expired")
    undated = _sign(_headers(), _params(created=None), ed_key, "ed25519")
    assert _verify(undated, public) == Rejected("signature has no created time")
    assert isinstance(_verify(undated, public, require_headers=False), Verified)


def test_the_window_and_all_else_keyless_is_checked_without_a_key(
    ed_key: ed25519.Ed25519PrivateKey,
) -> None:
    """``check_without_key`` refuses what no key could make valid, so a verifier can refuse
    it before looking the key up or fetching it; what passes is then the key's to decide."""

    def keyless(headers: dict[str, str], body: bytes | None = BODY) -> Rejected | None:
        parsed = parse_signature("POST", PATH, headers)
        assert isinstance(parsed, ParsedSignature), parsed
        return check_without_key(parsed, body=body, now=NOW)

    refused = {
        "created time outside the allowed window": _params(created=CREATED - 7200),
        "signature has expired": _params(extra=f";expires={CREATED - 1}"),
        "signature has no created time": _params(created=None),
        "unsupported algorithm rsa-sha1": _params(extra=';alg="rsa-sha1"'),
    }
    for reason, signature_input in refused.items():
        assert keyless(_sign(_headers(), signature_input, ed_key, "ed25519")) == Rejected(reason)
    fresh = _sign(_headers(), _params(), ed_key, "ed25519")
    assert keyless(fresh, body=b"{}") == Rejected("content-digest does not match body")
    assert keyless({**fresh, "Signature": "sig1=:Y2Fi...ZA==:"}) == Rejected(
        "malformed signature value"
    )
    assert keyless(fresh) is None
    parsed = parse_signature("POST", PATH, fresh)
    assert isinstance(parsed, ParsedSignature)
    assert isinstance(verify_with_key(parsed, public_pem_for(ed_key)), Verified)
    other = public_pem_for(ed25519.Ed25519PrivateKey.generate())
    assert verify_with_key(parsed, other) == Rejected("signature does not verify")


@pytest.mark.parametrize(
    ("components", "reason"),
    [
        ('("@target-uri" "content-digest")', "signature does not cover @method"),
        ('("@method" "@path" "content-digest")', "signature does not cover @target-uri"),
        ('("@method" "@target-uri")', "signature does not cover content-digest"),
        ('("@method" "@authority" "@path" "content-digest")', None),
        ('("@method" "@authority" "@request-target" "content-digest")', None),
    ],
)
def test_coverage_policy(
    ed_key: ed25519.Ed25519PrivateKey, components: str, reason: str | None
) -> None:
    headers = _sign(_headers(), f'{components};created={CREATED};keyid="k"', ed_key, "ed25519")
    result = _verify(headers, public_pem_for(ed_key))
    if reason is None:
        assert isinstance(result, Verified)
    else:
        assert result == Rejected(reason)
        assert isinstance(_verify(headers, public_pem_for(ed_key), require_headers=False), Verified)


def test_label_selection(ed_key: ed25519.Ed25519PrivateKey) -> None:
    public = public_pem_for(ed_key)
    signed = _sign(_headers(), _params(), ed_key, "ed25519")
    headers = {
        **signed,
        "Signature-Input": f'proxy=("@method");created={CREATED};keyid="proxy", '
        + signed["Signature-Input"],
        "Signature": "proxy=:AAAA:, " + signed["Signature"],
    }
    parsed = parse_signature("POST", PATH, headers)
    assert isinstance(parsed, ParsedSignature)
    assert (parsed.label, parsed.key_id) == ("sig1", KEY_ID)
    assert isinstance(verify_parsed(parsed, public, body=BODY, now=NOW), Verified)
    proxy = parse_signature("POST", PATH, headers, label="proxy")
    assert isinstance(proxy, ParsedSignature)
    assert proxy.key_id == "proxy"
    first = _sign(_headers(), _params(), ed_key, "ed25519", label="a")
    parsed_first = parse_signature("POST", PATH, first)
    assert isinstance(parsed_first, ParsedSignature)
    assert parsed_first.label == "a"
    assert parse_signature("POST", PATH, headers, label="nope") == Rejected(
        "no signature labelled nope"
    )


@pytest.mark.parametrize(
    ("signature_input", "signature", "reason"),
    [
        ("sig1=(", "sig1=:AA==:", "malformed Signature-Input header"),
        ("sig1=x", "sig1=:AA==:", "Signature-Input sig1 is not a component list"),
        ('sig1=("@method");created=1', None, "Signature-Input without Signature header"),
        ('sig1=("@method");created=1', "other=:AA==:", "no signature for label sig1"),
        ('sig1=("@method");created=1', "sig1=:AA==:", "signature has no keyid"),
        ('sig1=("@method");keyid="k";created="x"', "sig1=:AA==:", "malformed created parameter"),
        ('sig1=("@method");keyid="k";alg=1', "sig1=:AA==:", "malformed alg parameter"),
        (
            'sig1=("@method" "@method");keyid="k"',
            "sig1=:AA==:",
            "component @method is covered twice",
        ),
        (
            'sig1=("Host");keyid="k"',
            "sig1=:AA==:",
            "component identifiers must be lower-case strings",
        ),
        ('sig1=(@method);keyid="k"', "sig1=:AA==:", "malformed Signature-Input header"),
        ('sig1=("x-absent");keyid="k"', "sig1=:AA==:", "covered component x-absent is missing"),
        (
            'sig1=("@status");keyid="k"',
            "sig1=:AA==:",
            "signature covers @status but this is not a response",
        ),
        ('sig1=("@nonsense");keyid="k"', "sig1=:AA==:", "unsupported component @nonsense"),
        ('sig1=("@method";req);keyid="k"', "sig1=:AA==:", "unsupported parameter req on @method"),
        ('sig1=("host";tr);keyid="k"', "sig1=:AA==:", "unsupported parameter tr on host"),
        (
            'sig1=("@signature-params");keyid="k"',
            "sig1=:AA==:",
            "@signature-params cannot be a covered component",
        ),
    ],
)
def test_malformed_rfc9421_input(signature_input: str, signature: str | None, reason: str) -> None:
    headers = {"Host": "remote.example", "Signature-Input": signature_input}
    if signature is not None:
        headers["Signature"] = signature
    assert parse_signature("POST", PATH, headers) == Rejected(reason)


def test_unsupported_alg_is_refused(ed_key: ed25519.Ed25519PrivateKey) -> None:
    headers = _sign(_headers(), _params(extra=';alg="rsa-sha1"'), ed_key, "ed25519")
    assert _verify(headers, public_pem_for(ed_key)) == Rejected("unsupported algorithm rsa-sha1")
    mismatch = _sign(_headers(), _params(extra=';alg="rsa-v1_5-sha256"'), ed_key, "ed25519")
    assert _verify(mismatch, public_pem_for(ed_key)) == Rejected(
        "key type does not match algorithm rsa-v1_5-sha256"
    )


def test_truncated_signature_value_is_rejected(ed_key: ed25519.Ed25519PrivateKey) -> None:
    headers = {**_sign(_headers(), _params(), ed_key, "ed25519"), "Signature": "sig1=:Y2Fi...ZA==:"}
    parsed = parse_signature("POST", PATH, headers)
    assert isinstance(parsed, ParsedSignature)
    assert parsed.signature is None
    result = verify_parsed(parsed, public_pem_for(ed_key), body=BODY, now=NOW)
    assert result == Rejected("malformed signature value")


# --- component derivation (examples from RFC 9421 section 2) -------------------------------


def _base_lines(
    method: str,
    target: str,
    headers: dict[str, str] | list[tuple[str, str]],
    components: str,
    **kwargs: object,
) -> list[str]:
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    pairs += [("Signature-Input", f'sig1=({components});keyid="k"'), ("Signature", "sig1=:AA==:")]
    parsed = parse_signature(method, target, pairs, **kwargs)  # type: ignore[arg-type]
    assert isinstance(parsed, ParsedSignature), parsed
    return parsed.signature_base.split("\n")[:-1]


def test_derived_components_rfc_examples() -> None:
    lines = _base_lines(
        "POST",
        "/path?param=value",
        {"Host": "www.example.com"},
        '"@method" "@target-uri" "@authority" "@scheme" "@request-target" "@path" "@query"',
    )
    assert lines == [
        '"@method": POST',
        '"@target-uri": https://www.example.com/path?param=value',
        '"@authority": www.example.com',
        '"@scheme": https',
        '"@request-target": /path?param=value',
        '"@path": /path',
        '"@query": ?param=value',
    ]
    bare = _base_lines("GET", "/", {"Host": "WWW.Example.com:443"}, '"@query" "@path" "@authority"')
    assert bare == ['"@query": ?', '"@path": /', '"@authority": www.example.com']
    plain = _base_lines(
        "GET", "/x", {}, '"@target-uri" "@scheme"', scheme="http", authority="example.org:8080"
    )
    assert plain == ['"@target-uri": http://example.org:8080/x', '"@scheme": http']


def test_query_param_rfc_examples() -> None:
    lines = _base_lines(
        "GET",
        "/path?param=value&foo=bar&baz=batman&qux=",
        {"Host": "www.example.com"},
        '"@query-param";name="baz" "@query-param";name="qux" "@query-param";name="param"',
    )
    assert lines == [
        '"@query-param";name="baz": batman',
        '"@query-param";name="qux": ',
        '"@query-param";name="param": value',
    ]
    encoded = _base_lines(
        "GET",
        "/parameters?var=this%20is%20a%20big%0Avalue&bar=with+plus+whitespace"
        "&fa%C3%A7ade%22%3A%20=something",
        {"Host": "www.example.com"},
        '"@query-param";name="var" "@query-param";name="bar" '
        '"@query-param";name="fa%C3%A7ade%22%3A%20"',
    )
    assert encoded == [
        '"@query-param";name="var": this%20is%20a%20big%0Avalue',
        '"@query-param";name="bar": with%20plus%20whitespace',
        '"@query-param";name="fa%C3%A7ade%22%3A%20": something',
    ]


def test_field_parameters_rfc_examples() -> None:
    headers = [
        ("Example-Dict", " a=1,    b=2;x=1;y=2,   c=(a   b   c), d"),
        ("Example-Header", "value, with, lots"),
        ("Example-Header", "of, commas"),
        ("Cache-Control", "max-age=60"),
        ("Cache-Control", "   must-revalidate"),
    ]
    lines = _base_lines(
        "GET",
        "/",
        headers,
        '"example-dict" "example-dict";sf "example-dict";key="a" "example-dict";key="d" '
        '"example-dict";key="b" "example-dict";key="c" "example-header" "example-header";bs '
        '"cache-control"',
    )
    assert lines == [
        '"example-dict": a=1,    b=2;x=1;y=2,   c=(a   b   c), d',
        '"example-dict";sf: a=1, b=2;x=1;y=2, c=(a b c), d',
        '"example-dict";key="a": 1',
        '"example-dict";key="d": ?1',
        '"example-dict";key="b": 2;x=1;y=2',
        '"example-dict";key="c": (a b c)',
        '"example-header": value, with, lots, of, commas',
        '"example-header";bs: :dmFsdWUsIHdpdGgsIGxvdHM=:, :b2YsIGNvbW1hcw==:',
        '"cache-control": max-age=60, must-revalidate',
    ]


def test_status_for_responses() -> None:
    lines = _base_lines("GET", "/", {}, '"@status"', status=503)
    assert lines == ['"@status": 503']


def test_missing_dictionary_key_is_rejected() -> None:
    headers = {
        "Example-Dict": "a=1",
        "Signature-Input": 'sig1=("example-dict";key="z");keyid="k"',
        "Signature": "sig1=:AA==:",
    }
    assert parse_signature("GET", "/", headers) == Rejected("example-dict has no member z")


def test_now_may_be_naive_utc(ed_key: ed25519.Ed25519PrivateKey) -> None:
    headers = _sign(_headers(), _params(), ed_key, "ed25519")
    naive = NOW.replace(tzinfo=None)
    assert isinstance(_verify(headers, public_pem_for(ed_key), now=naive), Verified)
    assert isinstance(
        _verify(headers, public_pem_for(ed_key), now=NOW + timedelta(minutes=59)), Verified
    )
