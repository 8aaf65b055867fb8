"""The cryptographic primitives behind HTTP signature algorithm names.

Algorithms are named with the RFC 9421 registry names throughout (``rsa-v1_5-sha256``,
``rsa-pss-sha512``, ...), whichever scheme carried the signature, so callers and logs see one
vocabulary. The two schemes differ in a few encodings, chosen by ``profile``:

* ECDSA: RFC 9421 sends raw ``r || s``; draft-cavage (``hs2019``) implementations send DER.
* RSA-PSS: RFC 9421 fixes the salt at 64 bytes; ``hs2019`` senders are not consistent, so the
  salt length is auto-detected there.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from federation.keys import PrivateKey, PublicKey

__all__ = [
    "RFC9421_ALGORITHMS",
    "Profile",
    "VerifyKey",
    "candidates_for_key",
    "cavage_algorithms",
    "cavage_label_reason",
    "key_fits",
    "rfc9421_alg_reason",
    "rfc9421_algorithms",
    "sign_with",
    "verify_with",
]

Profile = Literal["cavage", "rfc9421"]

VerifyKey = PublicKey | bytes
"""A public key object, or the raw secret for ``hmac-sha256``."""

RFC9421_ALGORITHMS = frozenset(
    {
        "rsa-v1_5-sha256",
        "rsa-pss-sha512",
        "ecdsa-p256-sha256",
        "ecdsa-p384-sha384",
        "ed25519",
        "hmac-sha256",
    }
)

_EC = {
    "ecdsa-p256-sha256": (ec.SECP256R1, hashes.SHA256, 32),
    "ecdsa-p384-sha384": (ec.SECP384R1, hashes.SHA384, 48),
}


def candidates_for_key(key: VerifyKey) -> tuple[str, ...]:
    """Algorithms to try when the signature does not name one (derive it from the key).

    RSA keys are tried with PKCS#1 v1.5 first because that is what nearly every fediverse
    server signs with; PSS is the RFC 9421 alternative.
    """
    if isinstance(key, bytes):
        return ("hmac-sha256",)
    if isinstance(key, rsa.RSAPublicKey):
        return ("rsa-v1_5-sha256", "rsa-pss-sha512")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ("ed25519",)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return tuple(name for name, (curve, _, _) in _EC.items() if isinstance(key.curve, curve))
    return ()


def key_fits(algorithm: str, key: VerifyKey) -> bool:
    """Whether ``key`` is of the type ``algorithm`` needs (an HMAC secret is never a PEM)."""
    return algorithm in candidates_for_key(key)


def verify_with(
    algorithm: str, key: VerifyKey, data: bytes, signature: bytes, profile: Profile
) -> bool:
    """True when ``signature`` over ``data`` verifies with ``key`` under ``algorithm``."""
    if not key_fits(algorithm, key):
        return False
    try:
        if algorithm == "hmac-sha256" and isinstance(key, bytes):
            expected = hmac.new(key, data, hashlib.sha256).digest()
            return hmac.compare_digest(expected, signature)
        if algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
            return True
        if algorithm == "rsa-v1_5-sha256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            return True
        if algorithm == "rsa-pss-sha512" and isinstance(key, rsa.RSAPublicKey):
            salt = 64 if profile == "rfc9421" else padding.PSS.AUTO
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=salt)
            key.verify(signature, data, pss, hashes.SHA512())
            return True
        if algorithm in _EC and isinstance(key, ec.EllipticCurvePublicKey):
            _, digest, size = _EC[algorithm]
            if profile == "rfc9421":
                if len(signature) != 2 * size:
                    return False
                r = int.from_bytes(signature[:size], "big")
                s = int.from_bytes(signature[size:], "big")
                signature = encode_dss_signature(r, s)
            key.verify(signature, data, ec.ECDSA(digest()))
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


def sign_with(
    algorithm: str, key: PrivateKey | bytes, data: bytes, profile: Profile = "rfc9421"
) -> bytes:
    """Sign ``data``; the counterpart of :func:`verify_with` (used by senders and tests)."""
    if algorithm == "hmac-sha256" and isinstance(key, bytes):
        return hmac.new(key, data, hashlib.sha256).digest()
    if algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if algorithm == "rsa-v1_5-sha256" and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if algorithm == "rsa-pss-sha512" and isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
        return key.sign(data, pss, hashes.SHA512())
    if algorithm in _EC and isinstance(key, ec.EllipticCurvePrivateKey):
        curve, digest, size = _EC[algorithm]
        if not isinstance(key.curve, curve):
            raise ValueError(f"key curve does not match {algorithm}")
        der = key.sign(data, ec.ECDSA(digest()))
        if profile == "cavage":
            return der
        r, s = decode_dss_signature(der)
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    raise ValueError(f"key type does not fit algorithm {algorithm}")


_CAVAGE_LABELS = {
    "rsa-sha256": ("rsa-v1_5-sha256",),
    "ecdsa-sha256": ("ecdsa-p256-sha256",),
    "ed25519": ("ed25519",),
}


def cavage_label_reason(label: str | None, covered: tuple[str, ...]) -> str | None:
    """Why a draft-cavage ``algorithm`` label can never verify, whatever the key; else None.

    ``rsa-sha1`` and other legacy labels are refused outright. As the draft requires (and
    Mastodon enforces), ``(created)``/``(expires)`` are not allowed with the explicit
    ``rsa-``/``ecdsa-`` labels. Needs no key, so a verifier can refuse before fetching one.
    """
    if label is None or label == "hs2019":
        return None
    if label not in _CAVAGE_LABELS:
        return f"unsupported algorithm {label}"
    for pseudo in ("(created)", "(expires)"):
        if pseudo in covered and label.startswith(("rsa-", "ecdsa-")):
            return f"{pseudo} cannot be used with {label}"
    return None


def cavage_algorithms(
    label: str | None, covered: tuple[str, ...], key: VerifyKey
) -> tuple[str, ...] | str:
    """Algorithms to try for a draft-cavage ``algorithm`` label, or a reason to refuse.

    ``hs2019`` (and an absent label) means "derive it from the key": with RSA that is
    PKCS#1 v1.5/SHA-256 in practice, PSS/SHA-512 in theory, so both are tried. Labels are
    refused as :func:`cavage_label_reason` says.
    """
    if isinstance(key, bytes):
        return "HMAC secrets are not used with draft-cavage signatures"
    reason = cavage_label_reason(label, covered)
    if reason is not None:
        return reason
    names = candidates_for_key(key) if label is None or label == "hs2019" else _CAVAGE_LABELS[label]
    fitting = tuple(name for name in names if key_fits(name, key))
    return fitting or f"key type does not match algorithm {label or 'hs2019'}"


def rfc9421_alg_reason(alg: str | None) -> str | None:
    """Why an RFC 9421 ``alg`` parameter can never verify, whatever the key; else None."""
    if alg is not None and alg not in RFC9421_ALGORITHMS:
        return f"unsupported algorithm {alg}"
    return None


def rfc9421_algorithms(alg: str | None, key: VerifyKey) -> tuple[str, ...] | str:
    """Algorithms to try for an RFC 9421 ``alg`` parameter, or a reason to refuse.

    Without ``alg`` the key decides (RSA: v1.5/SHA-256, then PSS/SHA-512). An HMAC secret is
    only ever used when the caller passed bytes, so a PEM can never be abused as a secret.
    """
    if alg is None:
        return candidates_for_key(key) or "unsupported key type"
    reason = rfc9421_alg_reason(alg)
    if reason is not None:
        return reason
    if not key_fits(alg, key):
        return f"key type does not match algorithm {alg}"
    return (alg,)
