"""Body digests: Digest (RFC 3230) and Content-Digest (RFC 9530)."""

from __future__ import annotations

import pytest

from federation.digests import check_digest, content_digest_header, digest_header

BODY = b'{"hello": "world"}'
# The well-known values for this body (draft-cavage Appendix C, RFC 9530 / RFC 9421 B.1).
SHA256 = "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
SHA512 = "WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew=="


def test_header_formats() -> None:
    assert digest_header(BODY) == f"SHA-256={SHA256}"
    assert digest_header(BODY, "sha-512") == f"SHA-512={SHA512}"
    assert content_digest_header(BODY) == f"sha-256=:{SHA256}:"
    assert content_digest_header(BODY, "SHA-512") == f"sha-512=:{SHA512}:"


def test_unknown_algorithm_cannot_be_produced() -> None:
    with pytest.raises(ValueError, match="unsupported digest algorithm md5"):
        digest_header(BODY, "md5")


@pytest.mark.parametrize(
    "headers",
    [
        {"Digest": f"SHA-256={SHA256}"},
        {"digest": f"sha-256={SHA256}"},
        {"DIGEST": f"SHA-512={SHA512}"},
        {"Digest": f"SHA-256={SHA256}, SHA-512={SHA512}"},
        {"Digest": f"MD5=abc=, SHA-256={SHA256}"},
        {"Content-Digest": f"sha-256=:{SHA256}:"},
        {"Content-Digest": f"SHA-512=:{SHA512}:"},
        {"Content-Digest": f"sha-512=:{SHA512}:, sha-256=:{SHA256}:"},
        {"Content-Digest": f"sha-256=:{SHA256}:", "Digest": f"SHA-256={SHA256}"},
    ],
)
def test_matching_digests_are_accepted(headers: dict[str, str]) -> None:
    assert check_digest(headers, BODY) is None


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Digest": f"SHA-256={SHA256}"}, "digest does not match body"),
        ({"Digest": f"SHA-256={SHA256}, SHA-512={SHA256}"}, "digest does not match body"),
        ({"Content-Digest": f"sha-512=:{SHA512}:"}, "content-digest does not match body"),
        ({"Digest": "MD5=abc="}, "unsupported digest algorithm md5"),
        ({"Content-Digest": "md5=:AAAA:"}, "unsupported content-digest algorithm md5"),
        ({"Digest": "SHA-256=not base64!"}, "malformed Digest header"),
        ({"Digest": "nonsense"}, "malformed Digest header"),
        ({"Content-Digest": f"sha-256={SHA256}"}, "malformed Content-Digest header"),
        ({}, "body has no Digest or Content-Digest header"),
    ],
)
def test_wrong_or_missing_digests_give_a_reason(headers: dict[str, str], reason: str) -> None:
    assert check_digest(headers, b'{"hello": "mallory"}') == reason


def test_no_body_and_no_header_is_fine() -> None:
    assert check_digest({}, None) is None
    assert check_digest({}, b"") is None


def test_header_lines_given_as_pairs_are_combined() -> None:
    pairs = [("Digest", f"SHA-256={SHA256}"), ("Digest", f"SHA-512={SHA512}")]
    assert check_digest(pairs, BODY) is None
    assert check_digest(pairs, b"other") == "digest does not match body"
