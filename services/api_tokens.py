"""OAuth 2 for the client API: registering apps, authorization codes (with PKCE), access
and refresh tokens, revocation, and tokens for scripts made on the command line.

Every secret is a 256-bit random string shown once and stored as its SHA-256; comparisons
of client secrets use the constant-time ``hmac.compare_digest``. Codes live ten minutes
and are deleted when exchanged, so a code works once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from services.context import Services
from services.scopes import parse_scopes, within
from storage import oauth_queries as oq
from storage.accounts import local_user_with_actor
from storage.ids import new_id
from storage.models import Actor, LocalUser
from storage.oauth_models import OAuthApp, OAuthCode, OAuthToken
from tessera.errors import InvalidInput, NotFound, TesseraError

OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = timedelta(minutes=10)
MAX_REDIRECT_URIS = 10
_VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


class OAuthError(TesseraError):
    """An RFC 6749 error: ``code`` is the machine name (``invalid_grant``...)."""

    def __init__(self, code: str, description: str, *, status: int = 400) -> None:
        super().__init__(description, status=status)
        self.code = code


def secret_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class NewApp:
    app: OAuthApp
    client_secret: str


@dataclass(frozen=True)
class IssuedToken:
    row: OAuthToken
    access_token: str
    refresh_token: str | None


def redirect_uri_list(app: OAuthApp) -> list[str]:
    return [u for u in app.redirect_uris.split("\n") if u]


def _check_redirect_uri(uri: str) -> str:
    uri = uri.strip()
    if uri == OOB:
        return uri
    parts = urlsplit(uri)
    if not parts.scheme or len(uri) > 2000 or parts.fragment or any(c.isspace() for c in uri):
        raise InvalidInput(
            f"Validation failed: Redirect URI must be an absolute URI: {uri[:100]!r}."
        )
    if parts.scheme in ("http", "https") and not parts.netloc:
        raise InvalidInput(
            f"Validation failed: Redirect URI must be an absolute URI: {uri[:100]!r}."
        )
    return uri


async def register_app(
    services: Services,
    *,
    name: str,
    redirect_uris: list[str],
    scopes: str | None,
    website: str | None,
) -> NewApp:
    """``POST /api/v1/apps``: a confidential client; the secret is returned only here."""
    name = name.strip()
    if not name or len(name) > 255:
        raise InvalidInput("Validation failed: Application name must be 1 to 255 characters.")
    uris = [_check_redirect_uri(u) for u in redirect_uris if u.strip()]
    if not uris:
        raise InvalidInput("Validation failed: Redirect URI can't be blank.")
    if len(uris) > MAX_REDIRECT_URIS:
        raise InvalidInput(f"Validation failed: at most {MAX_REDIRECT_URIS} redirect URIs.")
    website = (website or "").strip() or None
    if website is not None and (
        len(website) > 2000 or urlsplit(website).scheme not in ("http", "https")
    ):
        raise InvalidInput("Validation failed: Website must be an http or https URL.")
    granted = parse_scopes(scopes)
    secret = _new_secret()
    app = OAuthApp(
        id=new_id(),
        name=name,
        website=website,
        redirect_uris="\n".join(dict.fromkeys(uris)),
        scopes=" ".join(granted),
        client_id=_new_secret(),
        client_secret_hash=secret_hash(secret),
        created_at=services.clock(),
    )
    async with services.db.transaction() as session:
        session.add(app)
    return NewApp(app, secret)


async def app_for_client(services: Services, client_id: str) -> OAuthApp:
    async with services.db.session() as session:
        app = await oq.app_by_client_id(session, client_id) if client_id else None
    if app is None:
        raise OAuthError(
            "invalid_client", "Client authentication failed: unknown client.", status=401
        )
    return app


async def authenticate_client(
    services: Services, client_id: str, client_secret: str | None, *, secret_optional: bool = False
) -> OAuthApp:
    """The app for these credentials (401 ``invalid_client`` otherwise)."""
    app = await app_for_client(services, client_id)
    if client_secret is None and secret_optional:
        return app
    given = secret_hash(client_secret or "")
    if not hmac.compare_digest(given, app.client_secret_hash):
        raise OAuthError(
            "invalid_client", "Client authentication failed: wrong secret.", status=401
        )
    return app


def check_authorization_request(
    app: OAuthApp, redirect_uri: str, scope: str | None, challenge: str | None, method: str | None
) -> tuple[tuple[str, ...], str | None, str | None]:
    """Validate what ``/oauth/authorize`` was asked for; returns (scopes, challenge, method).

    The redirect URI must equal a registered one exactly (no prefix or pattern match).
    """
    if redirect_uri not in redirect_uri_list(app):
        raise OAuthError("invalid_redirect_uri", "The redirect URI is not one this app registered.")
    try:
        scopes = parse_scopes(scope)
    except InvalidInput as exc:
        raise OAuthError("invalid_scope", exc.public) from None
    if not within(scopes, app.scopes.split()):
        raise OAuthError("invalid_scope", "The requested scope is not one this app registered.")
    if challenge:
        method = method or "plain"
        if method != "S256":
            raise OAuthError("invalid_request", "Only the S256 code challenge method is supported.")
        if not re.fullmatch(r"[A-Za-z0-9\-_]{43,128}", challenge):
            raise OAuthError("invalid_request", "The code challenge is malformed.")
        return scopes, challenge, method
    return scopes, None, None


async def issue_code(
    services: Services,
    app: OAuthApp,
    actor: Actor,
    *,
    redirect_uri: str,
    scopes: tuple[str, ...],
    challenge: str | None,
    method: str | None,
) -> str:
    code = _new_secret()
    now = services.clock()
    async with services.db.transaction() as session:
        session.add(
            OAuthCode(
                code_hash=secret_hash(code),
                app_id=app.id,
                actor_id=actor.id,
                redirect_uri=redirect_uri,
                scopes=" ".join(scopes),
                code_challenge=challenge,
                code_challenge_method=method,
                expires_at=now + CODE_LIFETIME,
                created_at=now,
            )
        )
    return code


def _pkce_ok(verifier: str | None, challenge: str) -> bool:
    if not verifier or not _VERIFIER_RE.fullmatch(verifier):
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(expected, challenge)


def _new_token(
    app_id: int, actor_id: int | None, scopes: str, now: datetime, refresh: bool
) -> IssuedToken:
    access = _new_secret()
    refresh_token = _new_secret() if refresh else None
    row = OAuthToken(
        id=new_id(),
        token_hash=secret_hash(access),
        refresh_hash=secret_hash(refresh_token) if refresh_token else None,
        app_id=app_id,
        actor_id=actor_id,
        scopes=scopes,
        created_at=now,
    )
    return IssuedToken(row, access, refresh_token)


_BAD_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the "
    "redirection URI used in the authorization request, or was issued to another client."
)


async def exchange_code(
    services: Services,
    *,
    client_id: str,
    client_secret: str | None,
    code: str,
    redirect_uri: str,
    code_verifier: str | None,
) -> IssuedToken:
    """``grant_type=authorization_code``. With PKCE the secret may be left out (a public
    client proves itself with the verifier); without PKCE the secret is required."""
    app = await authenticate_client(services, client_id, client_secret, secret_optional=True)
    now = services.clock()
    async with services.db.transaction() as session:
        row = await oq.code_by_hash(session, secret_hash(code or ""))
        if row is None or row.app_id != app.id or row.expires_at <= now:
            raise OAuthError("invalid_grant", _BAD_GRANT)
        if row.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant", _BAD_GRANT)
        if row.code_challenge:
            if not _pkce_ok(code_verifier, row.code_challenge):
                raise OAuthError("invalid_grant", "The PKCE code verifier does not match.")
        elif client_secret is None:
            raise OAuthError("invalid_client", "Client authentication failed.", status=401)
        user = await session.get(LocalUser, row.actor_id)
        if user is None or user.disabled or not user.approved:
            raise OAuthError("invalid_grant", _BAD_GRANT)
        issued = _new_token(app.id, row.actor_id, row.scopes, now, refresh=True)
        await session.delete(row)
        session.add(issued.row)
    return issued


async def client_credentials(
    services: Services, *, client_id: str, client_secret: str | None, scope: str | None
) -> IssuedToken:
    app = await authenticate_client(services, client_id, client_secret)
    try:
        scopes = parse_scopes(scope)
    except InvalidInput as exc:
        raise OAuthError("invalid_scope", exc.public) from None
    if not within(scopes, app.scopes.split()):
        raise OAuthError("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
    issued = _new_token(app.id, None, " ".join(scopes), services.clock(), refresh=False)
    async with services.db.transaction() as session:
        session.add(issued.row)
    return issued


async def refresh(
    services: Services, *, client_id: str, client_secret: str | None, refresh_token: str
) -> IssuedToken:
    """``grant_type=refresh_token``: a new pair; the old access token stops working."""
    app = await authenticate_client(services, client_id, client_secret)
    now = services.clock()
    async with services.db.transaction() as session:
        old = await oq.token_by_refresh_hash(session, secret_hash(refresh_token or ""))
        if old is None or old.app_id != app.id or old.revoked_at is not None:
            raise OAuthError("invalid_grant", _BAD_GRANT)
        old.revoked_at = now
        old.refresh_hash = None
        session.add(old)
        await session.flush()
        issued = _new_token(app.id, old.actor_id, old.scopes, now, refresh=True)
        session.add(issued.row)
    return issued


async def revoke(
    services: Services, *, client_id: str, client_secret: str | None, token: str
) -> None:
    """``POST /oauth/revoke``: idempotent; a token of another app is refused."""
    app = await authenticate_client(services, client_id, client_secret)
    async with services.db.transaction() as session:
        row = await oq.token_by_hash(session, secret_hash(token or ""))
        if row is None:
            row = await oq.token_by_refresh_hash(session, secret_hash(token or ""))
        if row is None:
            return
        if row.app_id != app.id:
            raise OAuthError(
                "unauthorized_client", "You are not authorized to revoke this token", status=403
            )
        if row.revoked_at is None:
            row.revoked_at = services.clock()
            session.add(row)


async def authorized_apps(services: Services, actor_id: int) -> list[tuple[OAuthApp, OAuthToken]]:
    async with services.db.session() as session:
        return await oq.authorized_apps(session, actor_id)


async def revoke_app(services: Services, actor_id: int, app_id: int) -> None:
    """Sign an app out of one account (every token it holds for that account)."""
    async with services.db.transaction() as session:
        count = await oq.revoke_tokens(
            session, actor_id=actor_id, app_id=app_id, now=services.clock()
        )
    if count == 0:
        raise NotFound("That app has no access to your account.")


async def create_script_token(
    services: Services, username: str, *, scopes: str, app_name: str = "tessera CLI"
) -> str:
    """A bearer token for a local account, made by an operator (``tessera token create``).

    It belongs to an app of its own (listed, and revocable, under Settings → Apps).
    """
    granted = parse_scopes(scopes)
    async with services.db.session() as session:
        found = await local_user_with_actor(session, username)
    if found is None:
        raise NotFound(f"No local user named {username!r}.")
    actor, user = found
    if user.disabled or not user.approved:
        raise InvalidInput(f"The account {username!r} cannot sign in (disabled or pending).")
    new = await register_app(
        services, name=app_name, redirect_uris=[OOB], scopes=" ".join(granted), website=None
    )
    issued = _new_token(new.app.id, actor.id, " ".join(granted), services.clock(), refresh=False)
    async with services.db.transaction() as session:
        session.add(issued.row)
    return issued.access_token
