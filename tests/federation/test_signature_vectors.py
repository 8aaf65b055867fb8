"""Every signature vector of the shared conformance corpus (../shared/conformance/signatures).

Each file has its own shape, so each has a handler here; a file added to the folder without a
handler fails ``test_every_signature_file_is_handled``. Vectors are parametrised individually
when the corpus is present; without it a single placeholder per file skips (or fails under
``TESSERA_REQUIRE_CONFORMANCE=1``) through ``conformance_dir()``.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from federation.digests import check_digest, content_digest_header
from federation.keys import generate_rsa_keypair, load_private_key, load_public_key
from federation.sig_algorithms import sign_with, verify_with
from federation.signatures import (
    ParsedSignature,
    Rejected,
    Verified,
    key_owner_matches,
    parse_http_date,
    parse_signature,
    verify_parsed,
)
from tests.conformance import conformance_dir, list_files, load_json

CAVAGE = "signatures/draft-cavage-12-appendix-c.json"
MASTODON = "signatures/mastodon-spec-signed-requests-valid.json"
RFC9421 = "signatures/rfc9421-appendix-b.json"
MASTODON_DOCS = "signatures/mastodon-docs-http-signature-examples.txt"
HANDLED = {path.split("/", 1)[1] for path in (CAVAGE, MASTODON, RFC9421, MASTODON_DOCS)}

# What a strict inbox (require_headers=True) says about each spec example. A new case in a
# file has no entry here and fails, so it gets looked at.
CAVAGE_STRICT = {
    "C.1": "signature does not cover (request-target)",
    "C.2": "signature does not cover digest",
    "C.3": None,
}
RFC9421_STRICT = {
    "sig-b21": "signature does not cover @method",
    "sig-b22": "signature does not cover @method",
    "sig-b23": None,
    "sig-b24": "signature does not cover @method",
    "sig-b25": "signature does not cover @method",
    "sig-b26": "signature does not cover content-digest",
}
# The response in the RFC 9421 file (as carried by pyauth) has a Content-Digest that is not
# the digest of its body; its signature verifies over the signature base, but the message as
# a whole is correctly refused. Asserted explicitly below.
RFC9421_BODY_MISMATCH = {"sig-b24": "content-digest does not match body"}


def _cases(relative: str, key: str, id_key: str) -> list[Any]:
    """Vectors of one file for parametrising; a placeholder when the corpus is absent."""
    folder, name = relative.split("/", 1)
    if name not in list_files(folder, ""):
        return [pytest.param(None, id="corpus-absent")]
    return [pytest.param(case, id=str(case[id_key])) for case in load_json(relative)[key]]


def _parse_raw(raw: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """Split a raw HTTP message into (start line, header pairs, body)."""
    head, _, body = raw.replace("\r\n", "\n").partition("\n\n")
    start, *lines = head.split("\n")
    pairs = [(name, value.strip()) for name, _, value in (line.partition(":") for line in lines)]
    return start, pairs, body.encode()


def test_every_signature_file_is_handled() -> None:
    folder = conformance_dir() / "signatures"
    present = {p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert present - HANDLED == set(), f"unhandled signature vector files: {present - HANDLED}"
    assert HANDLED - present == set(), f"handled files missing from corpus: {HANDLED - present}"


# --- draft-cavage-12 Appendix C ------------------------------------------------------------


@pytest.mark.parametrize("carrier", ["Signature", "Authorization"])
@pytest.mark.parametrize("case", _cases(CAVAGE, "cases", "name"))
def test_cavage_appendix_c(case: dict[str, Any] | None, carrier: str) -> None:
    data = load_json(CAVAGE)
    assert case is not None
    request = data["request"]
    header = case["signature_header"] if carrier == "Signature" else case["authorization_header"]
    headers = [tuple(pair) for pair in request["headers"]] + [(carrier, header)]
    body = request["body"].encode()
    parsed = parse_signature(request["method"], request["path"], headers)
    assert isinstance(parsed, ParsedSignature)
    assert parsed.signing_string == case["signing_string"]
    expected_covered = tuple((case["headers_param"] or "date").split())
    assert (parsed.key_id, parsed.algorithm, parsed.covered) == (
        data["key_id"],
        data["algorithm"],
        expected_covered,
    )
    assert parsed.signature == base64.b64decode(case["signature"])
    # PKCS#1 v1.5 is deterministic: signing our signing string reproduces the vector.
    private = load_private_key(data["private_key_pem"])
    resigned = sign_with("rsa-v1_5-sha256", private, parsed.signing_string.encode())
    assert resigned == parsed.signature

    date = parse_http_date(dict(headers)["Date"])
    assert date is not None
    key = data["public_key_pem"]
    result = verify_parsed(parsed, key, body=body, now=date, require_headers=False)
    if case["expect"] == "valid":
        assert result == Verified(
            data["key_id"], "cavage", "rsa-v1_5-sha256", expected_covered, date
        )
    else:
        assert isinstance(result, Rejected)
    strict = verify_parsed(parsed, key, body=body, now=date)
    reason = CAVAGE_STRICT[case["name"]]
    assert strict == (Rejected(reason) if reason else result)
    late = verify_parsed(
        parsed, key, body=body, now=date + timedelta(hours=2), require_headers=False
    )
    assert late == Rejected("date outside the allowed window")


# --- Mastodon's signature_verification_spec ------------------------------------------------


@pytest.mark.parametrize("case", _cases(MASTODON, "cases", "name"))
def test_mastodon_spec_requests(case: dict[str, Any] | None) -> None:
    data = load_json(MASTODON)
    assert case is not None
    now = datetime.fromisoformat(data["verifier_clock"].replace("Z", "+00:00"))
    body = case["body"].encode() if "body" in case else None
    parsed = parse_signature(case["method"], case["path"], case["headers"])
    assert isinstance(parsed, ParsedSignature)
    assert parsed.signing_string == case["signing_string"]
    assert parsed.key_id == data["key_id"]
    private = load_private_key(data["private_key_pem"])
    resigned = sign_with("rsa-v1_5-sha256", private, parsed.signing_string.encode())
    assert resigned == parsed.signature
    result = verify_parsed(parsed, data["public_key_pem"], body=body, now=now)
    assert case["expect"] == "valid", case["mastodon_result"]
    assert isinstance(result, Verified), result
    assert (result.key_id, result.scheme, result.created) == (data["key_id"], "cavage", now)
    assert key_owner_matches(result.key_id, data["actor"], data["actor"])
    assert key_owner_matches(result.key_id, data["actor"], None)  # key lives in the actor doc
    if body is not None:
        assert verify_parsed(parsed, data["public_key_pem"], body=body + b"!", now=now) == (
            Rejected("digest does not match body")
        )
    assert verify_parsed(
        parsed, data["public_key_pem"], body=body, now=now + timedelta(hours=1, seconds=1)
    ) == Rejected("date outside the allowed window")


# --- RFC 9421 Appendix B ---------------------------------------------------------------------


def _rfc9421_message(data: dict[str, Any], vector: dict[str, Any]) -> dict[str, Any]:
    if vector["message"] == "request":
        start, headers, body = _parse_raw(data["request_raw"])
        method, target, _ = start.split(" ")
        status = None
    else:
        start, headers, body = _parse_raw(data["response_raw_as_in_pyauth"])
        method, target, status = "GET", "/", int(start.split(" ")[1])
    headers += [("Signature-Input", vector["signature_input"]), ("Signature", vector["signature"])]
    return {"method": method, "target": target, "headers": headers, "body": body, "status": status}


def _rfc9421_key(data: dict[str, Any], keyid: str) -> tuple[object, object]:
    """(verification key, signing key) for a vector's keyid."""
    if keyid == data["shared_secret"]["keyid"]:
        secret = base64.b64decode(data["shared_secret"]["base64"])
        return secret, secret
    pems = data["keys"][keyid]
    return pems["public_key_pem"], load_private_key(pems["private_key_pem"])


@pytest.mark.parametrize("vector", _cases(RFC9421, "vectors", "label"))
def test_rfc9421_appendix_b(vector: dict[str, Any] | None) -> None:
    data = load_json(RFC9421)
    assert vector is not None
    message = _rfc9421_message(data, vector)
    parsed = parse_signature(
        message["method"], message["target"], message["headers"], status=message["status"]
    )
    assert isinstance(parsed, ParsedSignature), parsed
    assert parsed.signature_base == vector["signature_base"]
    assert parsed.covered == tuple(vector["covered_components"])
    assert (parsed.label, parsed.key_id) == (vector["label"], vector["keyid"])
    assert parsed.created is not None
    now = parsed.created
    public, private = _rfc9421_key(data, vector["keyid"])
    assert vector["verifies"] is True
    label = vector["label"]
    body = message["body"]
    lenient = verify_parsed(parsed, public, body=body, now=now, require_headers=False)  # type: ignore[arg-type]
    base = parsed.signature_base.encode()
    assert parsed.signature is not None
    assert verify_with(
        vector["alg"],
        load_public_key(public) if isinstance(public, str) else public,  # type: ignore[arg-type]
        base,
        parsed.signature,
        "rfc9421",
    )
    if label in RFC9421_BODY_MISMATCH:
        assert lenient == Rejected(RFC9421_BODY_MISMATCH[label])
        assert check_digest(message["headers"], body) == RFC9421_BODY_MISMATCH[label]
    else:
        assert lenient == Verified(vector["keyid"], "rfc9421", vector["alg"], parsed.covered, now)
    strict = verify_parsed(parsed, public, body=body, now=now)  # type: ignore[arg-type]
    reason = RFC9421_STRICT[label]
    assert strict == (Rejected(reason) if reason else lenient)

    # Our signer, fed the same base, produces a signature the verifier accepts (and for the
    # deterministic algorithms, the very same bytes).
    fresh = sign_with(vector["alg"], private, base)  # type: ignore[arg-type]
    if vector["alg"] in ("ed25519", "hmac-sha256"):
        assert fresh == parsed.signature
    headers = [(n, v) for n, v in message["headers"] if n != "Signature"]
    headers.append(("Signature", f"{label}=:{base64.b64encode(fresh).decode()}:"))
    reparsed = parse_signature(
        message["method"], message["target"], headers, status=message["status"]
    )
    assert isinstance(reparsed, ParsedSignature)
    again = verify_parsed(reparsed, public, body=body, now=now, require_headers=False)  # type: ignore[arg-type]
    assert again == lenient
    late = verify_parsed(
        parsed,
        public,
        body=body,
        now=now + timedelta(hours=2),  # type: ignore[arg-type]
        require_headers=False,
    )
    window = "date" if "date" in parsed.covered else "created time"
    assert late == Rejected(f"{window} outside the allowed window")


# --- Mastodon documentation examples (truncated signatures) -------------------------------

_REQUEST_LINE = re.compile(r"^(GET|POST|PUT|DELETE) (\S+) HTTP/1\.1$")


def _docs_blocks() -> list[dict[str, Any]]:
    """Classify every blank-line separated block of the docs file; unknown shapes fail."""
    text = (conformance_dir() / MASTODON_DOCS).read_text(encoding="utf-8")
    blocks: list[dict[str, Any]] = []
    for chunk in text.replace("\r\n", "\n").strip("\n").split("\n\n"):
        lines = chunk.split("\n")
        match = _REQUEST_LINE.match(lines[0])
        if match:
            headers = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines[1:])]
            blocks.append(
                {
                    "kind": "request",
                    "method": match[1],
                    "path": match[2],
                    "headers": headers,
                    "body": None,
                }
            )
        elif chunk.startswith("{") and blocks and blocks[-1]["kind"] == "request":
            blocks[-1]["body"] = chunk.encode()
        elif lines[0].startswith("(request-target): "):
            blocks.append({"kind": "signing-string", "text": chunk})
        elif all(re.match(r"^[A-Za-z-]+: ", line) for line in lines):
            headers = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines)]
            blocks.append({"kind": "headers", "headers": headers})
        else:
            pytest.fail(f"unrecognised block in {MASTODON_DOCS}: {chunk[:60]!r}")
    return blocks


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for n, v in headers if n.lower() == name.lower()), None)


def test_mastodon_docs_examples() -> None:
    blocks = _docs_blocks()
    kinds = [b["kind"] for b in blocks]
    assert kinds == ["request", "signing-string", "request", "request", "headers"], kinds
    unsigned, signing, signed_get, signed_post, rfc9421 = blocks
    random_key = generate_rsa_keypair()[1]

    # 1. The documented signing string is what we build for the documented GET, using the
    #    header shape of the documented signed GET.
    sig_header = _header(signed_get["headers"], "Signature")
    assert sig_header is not None
    parsed = parse_signature(
        unsigned["method"], unsigned["path"], [*unsigned["headers"], ("Signature", sig_header)]
    )
    assert isinstance(parsed, ParsedSignature)
    assert parsed.signing_string == signing["text"]
    date = parse_http_date(_header(unsigned["headers"], "Date"))
    assert date == datetime(2019, 12, 18, 10, 8, 46, tzinfo=UTC)

    # 2. Signed GET (no algorithm parameter; truncated signature): parsed, then rejected.
    get = parse_signature(signed_get["method"], signed_get["path"], signed_get["headers"])
    assert isinstance(get, ParsedSignature)
    assert (get.key_id, get.algorithm, get.covered) == (
        "https://my.example.com/actor#main-key",
        None,
        ("(request-target)", "host", "date"),
    )
    assert get.signature is None
    for strict in (True, False):
        result = verify_parsed(get, random_key, body=None, now=date, require_headers=strict)
        assert result == Rejected("malformed signature value")

    # 3. Signed POST: upper-case HOST header, lower-case sha-256 Digest.
    post = parse_signature(signed_post["method"], signed_post["path"], signed_post["headers"])
    assert isinstance(post, ParsedSignature)
    digest = _header(signed_post["headers"], "Digest")
    assert post.signing_string == (
        "(request-target): post /users/username/inbox\nhost: mastodon.example\n"
        f"date: 18 Dec 2019 10:08:46 GMT\ndigest: {digest}"
    )
    body = signed_post["body"]
    assert body is not None
    # The docs' Digest is illustrative and is not the digest of the docs' body.
    assert verify_parsed(post, random_key, body=body, now=date) == Rejected(
        "digest does not match body"
    )
    fixed = [(n, v) for n, v in signed_post["headers"] if n.lower() != "digest"]
    fixed.append(("Digest", "sha-256=" + content_digest_header(body).split(":")[1]))
    post_fixed = parse_signature(signed_post["method"], signed_post["path"], fixed)
    assert isinstance(post_fixed, ParsedSignature)
    assert verify_parsed(post_fixed, random_key, body=body, now=date) == Rejected(
        "malformed signature value"
    )

    # 4. RFC 9421 headers, applied to the documented POST with a Content-Digest added.
    signature_input = _header(rfc9421["headers"], "Signature-Input")
    assert signature_input is not None
    label, _, params = signature_input.partition("=")
    base_headers = [
        (n, v) for n, v in signed_post["headers"] if n.lower() not in ("signature", "digest")
    ]
    base_headers += rfc9421["headers"]
    missing = parse_signature("POST", signed_post["path"], base_headers)
    assert missing == Rejected("covered component content-digest is missing")
    base_headers.append(("Content-Digest", content_digest_header(body)))
    modern = parse_signature("POST", signed_post["path"], base_headers)
    assert isinstance(modern, ParsedSignature)
    assert (modern.label, modern.key_id) == (label, "https://my.example.com/actor#main-key")
    assert modern.signature_base == (
        '"@method": POST\n'
        '"@target-uri": https://mastodon.example/users/username/inbox\n'
        f'"content-digest": {content_digest_header(body)}\n'
        f'"@signature-params": {params}'
    )
    assert modern.signature is None
    assert modern.created is not None
    ed_key = ed25519.Ed25519PrivateKey.generate().public_key()
    assert verify_parsed(modern, ed_key, body=body, now=modern.created) == Rejected(
        "malformed signature value"
    )


# --- GoToSocial key ids without a fragment ------------------------------------------------


def test_gotosocial_key_id_without_fragment() -> None:
    actor = load_json("actors/gotosocial-docs-actor-keyid-without-fragment.json")
    key = actor["publicKey"]
    assert "#" not in key["id"]
    assert key["id"].startswith(actor["id"] + "/")
    assert key_owner_matches(key["id"], actor["id"], key["owner"])
    # Without the fetched owner nothing is assumed about a path-style key id.
    assert not key_owner_matches(key["id"], actor["id"], None)
    # The fetched owner decides; a lookalike actor on the same server is not the owner.
    assert not key_owner_matches(key["id"], actor["id"] + "_evil", key["owner"])
    assert not key_owner_matches(key["id"], actor["id"][:-1], key["owner"])
    assert load_public_key(key["publicKeyPem"]) is not None


@pytest.mark.parametrize("name", list_files("actors") or [pytest.param(None, id="corpus-absent")])
def test_corpus_actor_keys_load_and_match_their_owner(name: str | None) -> None:
    folder = conformance_dir() / "actors"
    assert name is not None
    actor = load_json(f"actors/{name}")
    key = actor.get("publicKey")
    if not isinstance(key, dict):
        pytest.skip(f"{folder.name}/{name} has no publicKey object")
    assert key_owner_matches(key["id"], actor["id"], key["owner"])
    assert load_public_key(key["publicKeyPem"]) is not None
