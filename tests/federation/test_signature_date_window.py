"""An RFC 9421 signature without ``created`` expires with the Date it covers, in any form.

RFC 9421 lets a component carry parameters (``"date";sf``, ``"date";bs``); each still
binds the signature to the request's Date header. If only the bare ``"date"`` were checked
against the time window, a signature covering ``"date";sf`` and no ``created`` would
verify forever, and a captured request could be replayed at will.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from federation.keys import generate_rsa_keypair, load_private_key
from federation.sig_algorithms import sign_with
from federation.signatures import Rejected, Verified, parse_signature, verify_parsed

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
PATH = "/users/alice"
KEY_ID = "https://remote.example/users/bob#main-key"


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return generate_rsa_keypair()


def signed_get(private_pem: str, component: str, date: str) -> dict[str, str]:
    """A GET signed over ``@method``, ``@target-uri`` and the Date as ``component``, with
    no ``created`` parameter; the base is written out from the RFC's rules."""
    params = f'("@method" "@target-uri" {component});keyid="{KEY_ID}";alg="rsa-v1_5-sha256"'
    value = {'"date"': date, '"date";sf': date, '"date";bs': f":{_b64(date.encode())}:"}
    base = "\n".join(
        [
            '"@method": GET',
            f'"@target-uri": https://gallery.test{PATH}',
            f"{component}: {value[component]}",
            f'"@signature-params": {params}',
        ]
    )
    signature = sign_with("rsa-v1_5-sha256", load_private_key(private_pem), base.encode())
    return {
        "Host": "gallery.test",
        "Date": date,
        "Signature-Input": f"sig1={params}",
        "Signature": f"sig1=:{_b64(signature)}:",
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def verify(headers: dict[str, str], public_pem: str) -> Verified | Rejected:
    parsed = parse_signature("GET", PATH, headers, scheme="https", authority="gallery.test")
    assert not isinstance(parsed, Rejected), parsed
    return verify_parsed(parsed, public_pem, body=None, now=NOW)


def test_a_structured_field_date_that_is_no_date_is_refused(keys: tuple[str, str]) -> None:
    private_pem, public_pem = keys
    # "old" parses as a structured-field token, and was signed: only the window can refuse it
    verdict = verify(signed_get(private_pem, '"date";sf', "old"), public_pem)
    assert verdict == Rejected("date header is not a valid HTTP date")


@pytest.mark.parametrize("component", ['"date"', '"date";bs'])
def test_every_form_of_a_covered_date_meets_the_window(
    keys: tuple[str, str], component: str
) -> None:
    private_pem, public_pem = keys
    stale = format_datetime(NOW - timedelta(days=30), usegmt=True)
    fresh = format_datetime(NOW - timedelta(minutes=1), usegmt=True)
    assert verify(signed_get(private_pem, component, stale), public_pem) == Rejected(
        "date outside the allowed window"
    )
    accepted = verify(signed_get(private_pem, component, fresh), public_pem)
    assert isinstance(accepted, Verified), accepted
    assert accepted.created == NOW - timedelta(minutes=1)
