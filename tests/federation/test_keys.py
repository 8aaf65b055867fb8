"""Key generation and PEM loading (federation.keys)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519

from federation.keys import (
    generate_rsa_keypair,
    load_private_key,
    load_public_key,
    public_pem_for,
)


@pytest.fixture(scope="module")
def keypair() -> tuple[str, str]:
    return generate_rsa_keypair()


def test_generated_pair_is_pkcs8_and_spki_rsa_2048(keypair: tuple[str, str]) -> None:
    private_pem, public_pem = keypair
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    private = load_private_key(private_pem)
    public = load_public_key(public_pem)
    assert isinstance(private, rsa.RSAPrivateKey)
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048
    assert public.public_numbers() == private.public_key().public_numbers()
    assert public_pem_for(private) == public_pem


def test_short_rsa_keys_are_not_generated() -> None:
    with pytest.raises(ValueError, match="2048"):
        generate_rsa_keypair(1024)


def test_pkcs1_rsa_public_key_pem_loads(keypair: tuple[str, str]) -> None:
    public = load_public_key(keypair[1])
    assert isinstance(public, rsa.RSAPublicKey)
    pkcs1 = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    ).decode()
    assert pkcs1.startswith("-----BEGIN RSA PUBLIC KEY-----")
    loaded = load_public_key(pkcs1)
    assert isinstance(loaded, rsa.RSAPublicKey)
    assert loaded.public_numbers() == public.public_numbers()


def test_ed25519_and_p256_public_keys_load() -> None:
    for private in (ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1())):
        pem = public_pem_for(private)
        loaded = load_public_key(pem)
        assert type(loaded) is type(private.public_key())


def test_crlf_and_whitespace_around_pem_are_tolerated(keypair: tuple[str, str]) -> None:
    messy = "\r\n  " + keypair[1].replace("\n", "\r\n") + "  \r\n"
    assert isinstance(load_public_key(messy), rsa.RSAPublicKey)


def test_parsed_keys_are_cached(keypair: tuple[str, str]) -> None:
    assert load_public_key(keypair[1]) is load_public_key(keypair[1])
    assert load_private_key(keypair[0]) is load_private_key(keypair[0])


@pytest.mark.parametrize(
    "bad", ["", "not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"]
)
def test_garbage_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        load_public_key(bad)
    with pytest.raises(ValueError):
        load_private_key(bad)


def test_keys_that_cannot_sign_are_refused() -> None:
    pem = (
        x25519.X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(ValueError, match="unsupported public key type"):
        load_public_key(pem)


@pytest.mark.parametrize("damage", ["d", "dmp1", "dmq1", "iqmp"])
def test_a_private_key_whose_numbers_disagree_is_refused(
    keypair: tuple[str, str], damage: str
) -> None:
    """Our keys skip OpenSSL's slow primality checks (they are ours, generated here), so a
    stored key that was damaged since must still be caught before anything signs with it."""
    key = load_private_key(keypair[0])
    assert isinstance(key, rsa.RSAPrivateKey)
    n = key.private_numbers()
    values = {"p": n.p, "q": n.q, "d": n.d, "dmp1": n.dmp1, "dmq1": n.dmq1, "iqmp": n.iqmp}
    values[damage] += 2
    damaged = rsa.RSAPrivateNumbers(**values, public_numbers=n.public_numbers).private_key(
        unsafe_skip_rsa_key_validation=True
    )
    pem = damaged.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    with pytest.raises(ValueError, match="do not agree"):
        load_private_key(pem)
