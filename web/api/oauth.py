"""OAuth 2 as Mastodon clients use it: app registration, the authorization page, the
token and revocation endpoints, and the server metadata document.

The authorization page needs a signed-in browser session (else it sends the person to
sign in and back), shows which app asks for what, and posts Authorize/Deny with the
site's CSRF check. The redirect URI must equal a registered one exactly; until it is
verified, errors are shown on the page and never redirected (no open redirector).
"""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services import api_tokens as tokens
from services.api_tokens import OOB, OAuthError
from services.scopes import ALL_SCOPES, describe
from tessera.errors import InvalidInput
from web.api import entities as E
from web.api.auth import CORS, Ctx, endpoint, json_response
from web.context import checked_form, current_user, render, require_user, services
from web.middleware import CSP


@endpoint(auth="none")
async def create_app(ctx: Ctx) -> dict:
    p = ctx.params
    uris = [line for value in p.many("redirect_uris") for line in value.split("\n")]
    if not uris and p.has("redirect_uri"):
        uris = [p.text("redirect_uri") or ""]
    scopes = " ".join(p.many("scopes")) or None
    new = await tokens.register_app(
        ctx.svc,
        name=p.text("client_name", "", max_length=1000) or "",
        redirect_uris=uris,
        scopes=scopes,
        website=p.text("website", max_length=4000),
    )
    return E.application(new.app, client_secret=new.client_secret)


@endpoint(auth="app")
async def verify_app(ctx: Ctx) -> dict:
    assert ctx.auth.app is not None
    return E.application(ctx.auth.app)


def _with_query(uri: str, values: dict[str, str | None]) -> str:
    query = urlencode({k: v for k, v in values.items() if v is not None})
    return uri + ("&" if "?" in uri else "?") + query


def _form_action_source(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:"


async def _problem(request: Request, message: str, status: int = 400) -> Response:
    return await render(
        request, "error.html", {"message": message, "status": status}, status=status
    )


async def _checked(request: Request, values: dict[str, str]):  # type: ignore[no-untyped-def]
    """(app, redirect_uri, scopes, challenge, method), or a Response to answer with."""
    svc = services(request)
    try:
        app = await tokens.app_for_client(svc, values.get("client_id", ""))
    except OAuthError:
        return await _problem(request, "This app is not registered on this server.")
    redirect_uri = values.get("redirect_uri", "")
    registered = tokens.redirect_uri_list(app)
    if not redirect_uri and len(registered) == 1:
        redirect_uri = registered[0]
    if redirect_uri not in registered:
        return await _problem(request, "The redirect URI is not one this app registered.")
    state = values.get("state") or None
    try:
        if values.get("response_type", "code") != "code":
            raise OAuthError("unsupported_response_type", "Only response_type=code is supported.")
        scopes, challenge, method = tokens.check_authorization_request(
            app,
            redirect_uri,
            values.get("scope"),
            values.get("code_challenge") or None,
            values.get("code_challenge_method") or None,
        )
    except OAuthError as exc:
        if redirect_uri == OOB:
            return await _problem(request, exc.public)
        target = _with_query(
            redirect_uri, {"error": exc.code, "error_description": exc.public, "state": state}
        )
        return RedirectResponse(target, status_code=302)
    return app, redirect_uri, scopes, challenge, method


_FIELDS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)


async def authorize_form(request: Request) -> Response:
    values = {k: request.query_params.get(k, "") for k in _FIELDS}
    checked = await _checked(request, values)
    if isinstance(checked, Response):
        return checked
    app, redirect_uri, scopes, challenge, method = checked
    if await current_user(request) is None:
        here = request.url.path + "?" + request.url.query
        return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)
    hidden = {
        **values,
        "redirect_uri": redirect_uri,
        "scope": " ".join(scopes),
        "code_challenge": challenge or "",
        "code_challenge_method": method or "",
    }
    response = await render(
        request,
        "oauth_authorize.html",
        {
            "app": app,
            "scopes": describe(scopes),
            "hidden": hidden,
            "oob": redirect_uri == OOB,
            "redirect_host": urlsplit(redirect_uri).netloc or urlsplit(redirect_uri).scheme,
        },
    )
    if redirect_uri != OOB:
        # Browsers apply form-action to the redirect that follows the form, so the app's
        # redirect target is allowed here, and only on this page.
        source = _form_action_source(redirect_uri)
        response.headers["content-security-policy"] = CSP.replace(
            "form-action 'self'", f"form-action 'self' {source}"
        )
    return response


async def authorize_decide(request: Request) -> Response:
    me, _ = await require_user(request)
    form = await checked_form(request)
    values = {k: str(form.get(k) or "") for k in _FIELDS}
    checked = await _checked(request, values)
    if isinstance(checked, Response):
        return checked
    app, redirect_uri, scopes, challenge, method = checked
    state = values.get("state") or None
    if form.get("decision") != "authorize":
        if redirect_uri == OOB:
            return await _problem(request, "You denied the app access.", status=403)
        denied = {
            "error": "access_denied",
            "error_description": "The resource owner denied the request.",
            "state": state,
        }
        return RedirectResponse(_with_query(redirect_uri, denied), status_code=302)
    code = await tokens.issue_code(
        services(request),
        app,
        me,
        redirect_uri=redirect_uri,
        scopes=scopes,
        challenge=challenge,
        method=method,
    )
    if redirect_uri == OOB:
        return await render(request, "oauth_code.html", {"app": app, "code": code})
    return RedirectResponse(
        _with_query(redirect_uri, {"code": code, "state": state}), status_code=302
    )


def _client_credentials(ctx: Ctx) -> tuple[str, str | None]:
    """``client_id``/``client_secret`` from the body, or from HTTP Basic authentication."""
    header = ctx.request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Malformed Basic credentials.", status=401) from None
        client_id, _, secret = raw.partition(":")
        return client_id, secret
    return ctx.params.text("client_id", "") or "", ctx.params.text("client_secret")


@endpoint(auth="none")
async def token(ctx: Ctx) -> dict:
    p = ctx.params
    client_id, secret = _client_credentials(ctx)
    grant = p.text("grant_type", "") or ""
    svc = ctx.svc
    if grant == "authorization_code":
        issued = await tokens.exchange_code(
            svc,
            client_id=client_id,
            client_secret=secret,
            code=p.text("code", "") or "",
            redirect_uri=p.text("redirect_uri", "") or "",
            code_verifier=p.text("code_verifier"),
        )
    elif grant == "client_credentials":
        issued = await tokens.client_credentials(
            svc, client_id=client_id, client_secret=secret, scope=p.text("scope")
        )
    elif grant == "refresh_token":
        issued = await tokens.refresh(
            svc,
            client_id=client_id,
            client_secret=secret,
            refresh_token=p.text("refresh_token", "") or "",
        )
    else:
        raise OAuthError(
            "unsupported_grant_type",
            "Supported grant types: authorization_code, client_credentials, refresh_token.",
        )
    return E.token(
        issued.access_token, issued.row.scopes, issued.row.created_at, issued.refresh_token
    )


@endpoint(auth="none")
async def revoke(ctx: Ctx) -> dict:
    client_id, secret = _client_credentials(ctx)
    value = ctx.params.text("token")
    if not value:
        raise InvalidInput("token is required.")
    await tokens.revoke(ctx.svc, client_id=client_id, client_secret=secret, token=value)
    return {}


async def metadata(request: Request) -> Response:
    base = services(request).config.base_url
    return json_response(
        {
            "issuer": f"{base}/",
            "service_documentation": "https://docs.joinmastodon.org/",
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "app_registration_endpoint": f"{base}/api/v1/apps",
            "scopes_supported": list(ALL_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
        },
        headers=dict(CORS),
    )


routes = [
    Route("/api/v1/apps", create_app, methods=["POST"]),
    Route("/api/v1/apps/verify_credentials", verify_app, methods=["GET"]),
    Route("/oauth/authorize", authorize_form, methods=["GET"]),
    Route("/oauth/authorize", authorize_decide, methods=["POST"]),
    Route("/oauth/token", token, methods=["POST"]),
    Route("/oauth/revoke", revoke, methods=["POST"]),
    Route("/.well-known/oauth-authorization-server", metadata, methods=["GET"]),
]
