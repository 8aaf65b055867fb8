"""Signing up, in and out, and the settings pages."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services import accounts
from services.context import Services
from services.posts import BlobBatch, Upload, collect_blobs, process_upload
from tessera.errors import InvalidInput, RateLimited, TesseraError
from web.context import (
    checked_form,
    client_ip,
    current_session_hash,
    end_session,
    form_str,
    form_text,
    redirect,
    render,
    require_user,
    services,
    start_session,
    web,
)


def _safe_next(value: str) -> str:
    """Only local paths: never bounce a signed-in user to another site."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def login_form(request: Request) -> Response:
    return await render(
        request, "login.html", {"next": _safe_next(request.query_params.get("next", "/"))}
    )


async def login(request: Request) -> Response:
    form = await checked_form(request)
    username = form_str(form, "username")
    password = form.get("password")
    next_url = _safe_next(form_str(form, "next", "/"))
    limiter = web(request).login_limiter
    keys = [f"ip:{client_ip(request)}", f"user:{username.lower()}"]
    ctx = {"next": next_url, "username": username}
    if not all(limiter.allowed(k) for k in keys):
        wait = max(limiter.retry_after(k) for k in keys)
        exc = RateLimited(f"Too many sign-in attempts. Try again in {wait} seconds.")
        response = await render(request, "login.html", {**ctx, "error": exc.public}, status=429)
        response.headers["retry-after"] = str(wait)
        return response
    try:
        actor = await accounts.authenticate(
            services(request), username, password if isinstance(password, str) else ""
        )
    except TesseraError as exc:
        for key in keys:
            limiter.hit(key)
        return await render(request, "login.html", {**ctx, "error": exc.public}, status=exc.status)
    response = redirect(next_url)
    await start_session(request, actor, response)
    return response


async def logout(request: Request) -> Response:
    await checked_form(request)
    response = redirect("/")
    await end_session(request, response)
    return response


async def signup_form(request: Request) -> Response:
    svc = services(request)
    code = request.query_params.get("invite") or request.path_params.get("code")
    invite_error = None
    if code:
        try:
            await accounts.check_invite(svc, code)
        except TesseraError as exc:
            invite_error = exc.public
            code = None
    return await render(
        request,
        "signup.html",
        {"mode": svc.config.instance.registrations, "invite": code, "error": invite_error},
    )


async def _signup_limited(request: Request, ctx: dict[str, object]) -> Response | None:
    """Count a sign-up attempt against the client's address; a 429 page past the limit.

    Every attempt may cost a password hash and an RSA key pair, and each success is an
    account: both are worth bounding per address (Mastodon allows 5 per 30 minutes).
    """
    limiter = web(request).signup_limiter
    key = f"ip:{client_ip(request)}"
    if limiter.allowed(key):
        limiter.hit(key)
        return None
    wait = limiter.retry_after(key)
    exc = RateLimited(f"Too many sign-up attempts. Try again in {wait} seconds.")
    response = await render(request, "signup.html", {**ctx, "error": exc.public}, status=429)
    response.headers["retry-after"] = str(wait)
    return response


async def signup(request: Request) -> Response:
    svc = services(request)
    form = await checked_form(request)
    username = form_str(form, "username")
    password = form.get("password")
    confirm = form.get("password_confirm")
    invite = form_str(form, "invite") or None
    ctx = {
        "mode": svc.config.instance.registrations,
        "invite": invite,
        "username": username,
        "email": form_str(form, "email"),
        "reason": form_text(form, "reason"),
    }
    limited = await _signup_limited(request, ctx)
    if limited is not None:
        return limited
    try:
        if not isinstance(password, str) or password != confirm:
            raise InvalidInput("The two passwords do not match.")
        result = await accounts.sign_up(
            svc,
            username,
            password,
            email=form_str(form, "email") or None,
            reason=form_text(form, "reason"),
            invite_code=invite,
        )
    except TesseraError as exc:
        return await render(request, "signup.html", {**ctx, "error": exc.public}, status=exc.status)
    if result.pending:
        return await render(request, "signup_pending.html", {"username": username})
    response = redirect("/")
    await start_session(request, result.actor, response)
    return response


async def settings_form(request: Request) -> Response:
    actor, _ = await require_user(request)
    return await render(request, "settings.html", {"account": actor})


async def settings_profile(request: Request) -> Response:
    actor, _ = await require_user(request)
    svc = services(request)
    form = await checked_form(request, max_files=2)
    ctx = {"account": actor}
    batch = BlobBatch(svc)
    old_avatar, old_header = actor.avatar_key, actor.header_key
    try:
        # The avatar is kept at thumbnail size, the header at display size (a banner
        # across the profile), as the client API's update_credentials stores them.
        avatar_key = await _profile_image(svc, batch, form.get("avatar"), banner=False)
        header_key = await _profile_image(svc, batch, form.get("header"), banner=True)
        updated = await accounts.update_profile(
            svc,
            actor.id,
            display_name=form_str(form, "display_name"),
            bio=form_text(form, "bio"),
            avatar_key=avatar_key,
            header_key=header_key,
            locked=form.get("locked") == "on",
        )
    except TesseraError as exc:
        await batch.discard()
        return await render(
            request, "settings.html", {**ctx, "error": exc.public}, status=exc.status
        )
    except BaseException:  # no row points at the files written: remove them
        await batch.discard()
        raise
    replaced = {
        old
        for old, new in ((old_avatar, avatar_key), (old_header, header_key))
        if new and old and old != new
    }
    if replaced:
        await collect_blobs(svc, replaced)
    return await render(request, "settings.html", {"account": updated, "notice": "Profile saved."})


async def _profile_image(
    svc: Services, batch: BlobBatch, upload: Any, *, banner: bool
) -> str | None:
    """The stored key of an uploaded profile image (None when the field was left empty),
    written through ``batch`` so a failure later in the save removes it again."""
    if upload is None or isinstance(upload, str) or not upload.filename:
        return None
    data = await upload.read()
    if not data:
        return None
    processed = await process_upload(svc, Upload(data, upload.filename), 0)
    image = processed.display if banner else processed.thumbnail
    return await asyncio.to_thread(batch.put, image.data, image.ext)


async def settings_password(request: Request) -> Response:
    actor, _ = await require_user(request)
    form = await checked_form(request)
    current = form.get("current_password")
    new = form.get("new_password")
    confirm = form.get("new_password_confirm")
    try:
        if not isinstance(new, str) or new != confirm:
            raise InvalidInput("The two new passwords do not match.")
        await accounts.change_password(
            services(request),
            actor.id,
            current if isinstance(current, str) else "",
            new,
            keep_session=current_session_hash(request),
        )
    except TesseraError as exc:
        return await render(
            request, "settings.html", {"account": actor, "error": exc.public}, status=exc.status
        )
    return await render(request, "settings.html", {"account": actor, "notice": "Password changed."})


routes = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/signup", signup_form, methods=["GET"]),
    Route("/signup", signup, methods=["POST"]),
    Route("/invite/{code}", signup_form, methods=["GET"]),
    Route("/settings", settings_form, methods=["GET"]),
    Route("/settings/profile", settings_profile, methods=["POST"]),
    Route("/settings/password", settings_password, methods=["POST"]),
]
