"""Password hashing with argon2id (the OWASP recommendation; what GoToSocial uses)."""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """A random password people can type: 20 url-safe characters (~120 bits)."""
    return secrets.token_urlsafe(15)


# Verifying against this when the user does not exist keeps the timing of a failed login
# the same whether or not the name is taken.
@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Made on first use, not at import: argon2 costs ~0.4 s, which start-up should not pay."""
    return _hasher.hash(secrets.token_hex(16))
