"""The ASGI application: routes, middleware and the error → HTTP mapping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from federation.delivery import run_workers as _run_workers
from services.context import Services
from storage.change_signal import ChangeSignal
from tessera.config import Config
from tessera.errors import TesseraError
from web import api
from web.compression import Compression
from web.context import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    TEMPLATES_DIR,
    SignInRequired,
    WebState,
    redirect,
    render,
)
from web.idle_gc import CountRequests, IdleCollector
from web.middleware import BodySizeLimit, SecurityHeaders
from web.page_cache import PageCache
from web.routes import (
    account,
    activitypub,
    admin,
    compose,
    feeds,
    gallery,
    inbox,
    media_files,
    social,
    wellknown,
)
from web.routing import IndexedRouter
from web.security import SlidingWindowLimiter, load_or_create_secret

log = logging.getLogger("tessera.web")
STATIC_DIR = Path(__file__).resolve().parent / "static"


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.url.path.startswith("/api/") or ("json" in accept and "text/html" not in accept)


async def _tessera_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TesseraError)
    if isinstance(exc, SignInRequired) and not _wants_json(request):
        return redirect(f"/login?next={request.url.path}")
    if _wants_json(request):
        return JSONResponse({"error": exc.public}, status_code=exc.status)
    return await render(
        request, "error.html", {"message": exc.public, "status": exc.status}, status=exc.status
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "Page not found.", 405: "Method not allowed."}.get(
        exc.status_code, str(exc.detail)
    )
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=exc.status_code)
    return await render(
        request,
        "error.html",
        {"message": message, "status": exc.status_code},
        status=exc.status_code,
    )


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    # Templates ship with the code and change only with a restart: no stat() of every
    # template (and those it extends or imports) on each render.
    env.auto_reload = False
    env.globals["static_version"] = "2"
    env.filters["datetime"] = lambda d: d.strftime("%Y-%m-%d %H:%M UTC") if d else ""
    env.filters["isodate"] = lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ") if d else ""
    return templates


def _share(limit: int, processes: int) -> int:
    """One web process's share of an attempt limit: the limiters live in each process's
    memory, so N processes with the whole limit each would allow N times the guesses.
    Rounded down (together they allow no more than the limit), but at least one."""
    return max(1, limit // processes)


def create_app(
    config: Config,
    *,
    services: Services | None = None,
    run_workers: bool = True,
    change_signal: ChangeSignal | None = None,
) -> Starlette:
    """Build the app. Nothing touches the network; the database is opened lazily.

    With ``run_workers`` the lifespan runs the background workers (deliveries, inbox
    processing) beside the server; tests turn it off and step them with ``run_once()``.
    ``change_signal`` joins the caches of several web processes (``tessera serve`` with
    ``[server] processes`` above 1): a write answered here empties theirs.
    """
    svc = services or Services.from_config(config)
    state = WebState(
        services=svc,
        secret=load_or_create_secret(config.server.secret_key_file),
        templates=_templates(),
        login_limiter=SlidingWindowLimiter(
            _share(config.server.login_attempts_per_window, config.server.processes),
            config.server.login_window_seconds,
        ),
        signup_limiter=SlidingWindowLimiter(
            _share(config.server.signup_attempts_per_window, config.server.processes),
            config.server.signup_window_seconds,
        ),
    )
    upload_cap = config.media.max_upload_bytes * config.media.max_attachments + 1024 * 1024

    def limit_for(path: str) -> int:
        if (
            path in ("/compose", "/settings/profile")
            or path.startswith("/api/v1/media")
            or path.startswith("/api/v2/media")
            or path == "/api/v1/accounts/update_credentials"
        ):
            return upload_cap
        return 1024 * 1024

    collector = IdleCollector()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        workers = asyncio.create_task(_run_workers(svc, stop)) if run_workers else None
        try:
            async with collector.running():
                yield
        finally:
            stop.set()
            if workers is not None:
                await workers
            await svc.close()

    routes = [
        *inbox.routes,
        *wellknown.routes,
        *api.routes,
        *activitypub.routes,
        *feeds.routes,
        *gallery.routes,
        *account.routes,
        *compose.routes,
        *social.routes,
        *admin.routes,
        *media_files.routes,
        Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(CountRequests, collector=collector),
            Middleware(
                SecurityHeaders,
                csrf_cookie=CSRF_COOKIE,
                secure=config.instance.scheme == "https",
            ),
            Middleware(Compression, session_cookie=SESSION_COOKIE),
            Middleware(
                PageCache,
                ttl_seconds=config.server.page_cache_seconds,
                session_cookie=SESSION_COOKIE,
                on_write=svc.forget_cached,
                signal=change_signal,
                idle=collector,
            ),
            Middleware(BodySizeLimit, limit_for=limit_for),
        ],
        exception_handlers={TesseraError: _tessera_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    # The same routes, found by path first where the path is fixed (web.routing).
    app.router = IndexedRouter(routes, lifespan=lifespan)
    app.state.web = state
    app.state.idle_collector = collector
    return app
