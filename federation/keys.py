"""Key generation and PEM loading for HTTP signatures.

Every incoming federated request is verified against the sender's public key, and the same
few actors (big instances' relays, a busy follower's server) sign most of them. Parsing a PEM
(base64, DER, ASN.1, building an OpenSSL key object) costs more than the RSA verification
itself, so parsed keys are kept in a small LRU cache keyed by the PEM text. Keys are immutable
objects, so sharing them between requests is safe.

Accepted public keys: ``-----BEGIN PUBLIC KEY-----`` (SubjectPublicKeyInfo: RSA, EC P-256 /
P-384, Ed25519) and ``-----BEGIN RSA PUBLIC KEY-----`` (PKCS#1, used by some older servers and
by the RFC 9421 test key). DSA, DH and X25519 keys cannot sign HTTP requests and are refused.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

__all__ = [
    "PrivateKey",
    "PublicKey",
    "generate_rsa_keypair",
    "load_private_key",
    "load_public_key",
    "public_pem_for",
]

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
"""Public key types that can verify an HTTP signature."""

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
"""Private key types that can produce an HTTP signature."""

_CACHE_SIZE = 256


def generate_rsa_keypair(bits: int = 2048) -> tuple[str, str]:
    """Create an actor key pair: (private PKCS#8 PEM, public SubjectPublicKeyInfo PEM).

    RSA with e=65537 is what every ActivityPub server can verify (Mastodon only accepts RSA);
    2048 bits is Mastodon's own choice and keeps signing fast.
    """
    if bits < 2048:
        raise ValueError("RSA keys shorter than 2048 bits are not generated")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return private_pem, public_pem_for(key)


def public_pem_for(key: PrivateKey) -> str:
    """The SubjectPublicKeyInfo PEM of a private key (what goes into ``publicKeyPem``)."""
    return (
        key.public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode("ascii")
    )


def _normalise(pem: str | bytes) -> bytes:
    """Tolerate CRLF line ends and surrounding whitespace seen in real actor documents."""
    text = pem.decode("ascii") if isinstance(pem, bytes) else pem
    return text.strip().replace("\r\n", "\n").encode("ascii") + b"\n"


def load_public_key(pem: str | bytes) -> PublicKey:
    """Parse a public key PEM (cached). Raises ``ValueError`` for unusable input."""
    try:
        data = _normalise(pem)
    except UnicodeError as exc:
        raise ValueError("public key PEM is not ASCII") from exc
    return _load_public_cached(data)


@lru_cache(maxsize=_CACHE_SIZE)
def _load_public_cached(data: bytes) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"could not parse public key: {exc}") from exc
    if isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(
        key.curve, ec.SECP256R1 | ec.SECP384R1
    ):
        return key
    raise ValueError(f"unsupported public key type {type(key).__name__}")


def load_private_key(pem: str | bytes) -> PrivateKey:
    """Parse an unencrypted private key PEM (PKCS#8 or traditional), cached.

    Only our own keys come here: every private key is made by :func:`generate_rsa_keypair`
    and kept in our database; no private key is ever taken from a user or a peer. So an RSA
    key is not put through OpenSSL's full validation (``RSA_check_key``, which tests that
    p and q are prime): that took ~44 ms a key here, on the event loop, every time a key
    was parsed, and a worker delivering for more authors than the cache holds parsed one
    for nearly every delivery. Primality was settled when we generated the key; what
    could have gone wrong since is the stored text, and a damaged key fails the
    consistency of its numbers (:func:`_numbers_agree`, ~40 us), which is checked instead.
    """
    try:
        data = _normalise(pem)
    except UnicodeError as exc:
        raise ValueError("private key PEM is not ASCII") from exc
    return _load_private_cached(data)


def _numbers_agree(key: rsa.RSAPrivateKey) -> bool:
    """Whether an RSA key's numbers belong together: n = pq, d inverts e modulo p - 1 and
    q - 1, and the CRT values are the ones d, p and q give (what OpenSSL signs with)."""
    numbers = key.private_numbers()
    p, q, d = numbers.p, numbers.q, numbers.d
    public = numbers.public_numbers
    return (
        p > 1
        and q > 1
        and p * q == public.n
        and public.e * d % (p - 1) == 1
        and public.e * d % (q - 1) == 1
        and numbers.dmp1 == d % (p - 1)
        and numbers.dmq1 == d % (q - 1)
        and numbers.iqmp * q % p == 1
    )


@lru_cache(maxsize=_CACHE_SIZE)
def _load_private_cached(data: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(
            data, password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError) as exc:
        raise ValueError(f"could not parse private key: {exc}") from exc
    if isinstance(key, rsa.RSAPrivateKey):
        if not _numbers_agree(key):
            raise ValueError("could not parse private key: its RSA numbers do not agree")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key
    raise ValueError(f"unsupported private key type {type(key).__name__}")
