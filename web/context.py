"""Per-app web state and the helpers every route uses: who is signed in, forms with CSRF
checks, and rendering templates with the common context."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, Signer
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from services.context import Services
from storage import accounts as accounts_q
from storage.models import Actor, LocalUser, WebSession
from storage.sqlite_driver import reads_inline, reads_on_thread
from tessera.errors import Forbidden, TesseraError
from web.compression import NEW_CSRF, PRINTED_CSRF
from web.security import SlidingWindowLimiter, csrf_token_for, csrf_valid, hash_token

SESSION_COOKIE = "tessera_session"
CSRF_COOKIE = "tessera_csrf"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@dataclass
class WebState:
    services: Services
    secret: bytes
    templates: Jinja2Templates
    login_limiter: SlidingWindowLimiter
    signup_limiter: SlidingWindowLimiter

    @property
    def secure_cookies(self) -> bool:
        return self.services.config.instance.scheme == "https"


def web(request: Request) -> WebState:
    return request.app.state.web  # type: ignore[no-any-return]


def services(request: Request) -> Services:
    return web(request).services


def client_ip(request: Request) -> str:
    """The address rate limits count against.

    Never read from ``X-Forwarded-For`` here: its leftmost entry is whatever the client
    wrote, so every request could claim a new address. Behind a reverse proxy
    (``[server] trusted_proxy``) uvicorn's proxy-headers middleware has already replaced
    ``request.client`` with the address the trusted proxy saw.
    """
    return request.client.host if request.client else "unknown"


# --- sessions -------------------------------------------------------------------------


async def current_user(request: Request) -> tuple[Actor, LocalUser] | None:
    """The signed-in local user, looked up once per request.

    The session, its account and its user are one indexed read on the event loop's
    thread, and a session that resolved is kept in ``services.token_cache`` beside the
    client API's tokens (``web:`` keys), for the page cache's seconds: signing out, ending
    a session or disabling an account through this process is a write, which empties it.
    The expiry and the account's state are checked on every request, cached or not."""
    if "user" in request.state._state:
        return request.state.user  # type: ignore[no-any-return]
    request.state.user = None
    token = _unsign_session(request, request.cookies.get(SESSION_COOKIE))
    if token:
        svc = services(request)
        key = "web:" + hash_token(token)
        found = svc.token_cache.get(key)
        if found is None:
            generation = svc.token_cache.generation
            with reads_inline():
                async with svc.db.session() as session:
                    found = await accounts_q.web_session_context(session, key[4:])
            if found is not None:
                svc.token_cache.keep(key, found, generation=generation)
        if found is not None:
            row, actor, user = found
            if row.expires_at > svc.clock() and not user.disabled and user.approved:
                request.state.user = (actor, user)
    return request.state.user  # type: ignore[no-any-return]


def _session_signer(request: Request) -> Signer:
    return Signer(web(request).secret, salt="tessera.session")


def _unsign_session(request: Request, cookie: str | None) -> str | None:
    """The session token inside a signed cookie; forged or garbled cookies never reach
    the database."""
    if not cookie:
        return None
    try:
        return _session_signer(request).unsign(cookie).decode()
    except BadSignature:
        return None


def current_session_hash(request: Request) -> str | None:
    """The stored hash of this browser's session token (None when not signed in)."""
    token = _unsign_session(request, request.cookies.get(SESSION_COOKIE))
    return hash_token(token) if token else None


async def require_user(request: Request) -> tuple[Actor, LocalUser]:
    found = await current_user(request)
    if found is None:
        raise SignInRequired("Please sign in first.", status=401)
    return found


async def require_admin(request: Request) -> tuple[Actor, LocalUser]:
    actor, user = await require_user(request)
    if not user.is_admin:
        raise Forbidden("Only administrators can do that.")
    return actor, user


class SignInRequired(TesseraError):
    status = 401


async def start_session(request: Request, actor: Actor, response: RedirectResponse) -> None:
    svc = services(request)
    token = secrets.token_urlsafe(32)
    async with svc.db.transaction() as session:
        session.add(
            WebSession(
                token_hash=hash_token(token),
                actor_id=actor.id,
                expires_at=svc.clock() + timedelta(days=svc.config.server.session_days),
                user_agent=request.headers.get("user-agent", "")[:255],
            )
        )
    response.set_cookie(
        SESSION_COOKIE,
        _session_signer(request).sign(token).decode(),
        max_age=svc.config.server.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=web(request).secure_cookies,
        path="/",
    )


async def end_session(request: Request, response: RedirectResponse) -> None:
    token = _unsign_session(request, request.cookies.get(SESSION_COOKIE))
    if token:
        async with services(request).db.transaction() as session:
            row = await session.get(WebSession, hash_token(token))
            if row is not None:
                await session.delete(row)
    response.delete_cookie(SESSION_COOKIE, path="/")


# --- CSRF ------------------------------------------------------------------------------


def _csrf_cookie_value(request: Request) -> str:
    value = request.cookies.get(CSRF_COOKIE) or request.scope.get(NEW_CSRF)
    if not value:
        value = secrets.token_urlsafe(24)
        request.scope[NEW_CSRF] = value  # the headers middleware sets the cookie
    return value


def csrf_token(request: Request) -> str:
    request.scope[PRINTED_CSRF] = True  # a secret of the reader's: never compressed
    return csrf_token_for(web(request).secret, _csrf_cookie_value(request))


def csrf_input(request: Request) -> Markup:
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(csrf_token(request))


class _LazyCsrfInput:
    """``{{ csrf_input }}`` made only when a template prints it.

    Making it issues a CSRF cookie to a browser that has none; pages without a form (the
    anonymous gallery, profiles, posts) then set no cookie, so they are the same bytes for
    every reader and may be cached (``web.page_cache``).
    """

    __slots__ = ("request",)

    def __init__(self, request: Request) -> None:
        self.request = request

    def __html__(self) -> str:
        return str(csrf_input(self.request))

    def __str__(self) -> str:
        return self.__html__()


async def checked_form(request: Request, *, max_files: int = 0) -> FormData:
    """The submitted form, after checking its CSRF token (403 when it is missing or wrong)."""
    form = await request.form(max_files=max_files, max_fields=200, max_part_size=1024 * 1024)
    submitted = form.get("csrf_token")
    if not csrf_valid(
        web(request).secret,
        request.cookies.get(CSRF_COOKIE),
        submitted if isinstance(submitted, str) else None,
    ):
        raise Forbidden(
            "This form has expired or did not come from this site. Reload the page and try again."
        )
    return form


def form_str(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def form_text(form: FormData, name: str) -> str:
    """A multi-line text field, with line ends normalised but inner spacing kept."""
    value = form.get(name)
    return value.replace("\r\n", "\n").strip() if isinstance(value, str) else ""


# --- rendering -------------------------------------------------------------------------


async def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    state = web(request)
    found = await current_user(request)
    unread = 0
    if found is not None:
        from storage.social_queries import unread_count

        # A count over the reader's unread notifications: on SQLite's thread even when
        # the page reads inline (``inline_page_reads``).
        with reads_on_thread():
            async with state.services.db.session() as session:
                unread = await unread_count(session, found[0].id)
    ctx: dict[str, Any] = {
        "unread_notifications": unread,
        "instance": state.services.config.instance,
        "base_url": state.services.config.base_url,
        "me": found[0] if found else None,
        "me_user": found[1] if found else None,
        "csrf_input": _LazyCsrfInput(request),
    }
    ctx.update(context or {})
    return state.templates.TemplateResponse(request, template, ctx, status_code=status)


def inline_page_reads(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """A page route whose reads are bounded index lookups (a grid page: one walk of an
    index that stops after a page, its media, its authors) reads on the event loop's
    thread when it answers a GET (``storage.sqlite_driver.reads_inline``): the hand-offs
    to SQLite's thread cost more than such reads. Not for pages that read without bounds."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        if request.method != "GET":
            return await handler(request)
        with reads_inline():
            return await handler(request)

    return wrapped


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
