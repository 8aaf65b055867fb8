"""Administration: pending sign-ups, invites and users."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services import accounts
from storage import accounts as accounts_q
from tessera.errors import InvalidInput, TesseraError
from web.context import checked_form, form_str, redirect, render, require_admin, services

EXPIRY_CHOICES = {
    "": None,
    "1h": timedelta(hours=1),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}


async def admin_page(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    await require_admin(request)
    svc = services(request)
    async with svc.db.session() as session:
        users = await accounts_q.list_local_users(session)
        pending = await accounts_q.pending_signups(session)
    invites = await accounts.list_invites(svc)
    return await render(
        request,
        "admin.html",
        {
            "users": users,
            "pending": pending,
            "invites": invites,
            "now": svc.clock(),
            "error": error,
            "invite_base": f"{svc.config.base_url}/invite/",
        },
        status=status,
    )


async def admin_index(request: Request) -> Response:
    return await admin_page(request)


async def decide(request: Request) -> Response:
    await require_admin(request)
    form = await checked_form(request)
    approve = form_str(form, "decision") == "approve"
    await accounts.decide_signup(services(request), request.path_params["actor_id"], approve)
    return redirect("/admin")


async def user_action(request: Request) -> Response:
    me, _ = await require_admin(request)
    form = await checked_form(request)
    name = request.path_params["name"]
    action = form_str(form, "action")
    svc = services(request)
    try:
        if name.lower() == me.username_lower and action in ("disable", "revoke_admin"):
            raise InvalidInput("You cannot do that to your own account.")
        if action == "disable":
            await accounts.set_disabled(svc, name, True)
        elif action == "enable":
            await accounts.set_disabled(svc, name, False)
        elif action == "make_admin":
            await accounts.set_admin(svc, name, True)
        elif action == "revoke_admin":
            await accounts.set_admin(svc, name, False)
        else:
            raise InvalidInput("Unknown action.")
    except TesseraError as exc:
        return await admin_page(request, error=exc.public, status=exc.status)
    return redirect("/admin")


async def create_invite(request: Request) -> Response:
    me, _ = await require_admin(request)
    form = await checked_form(request)
    try:
        raw_uses = form_str(form, "max_uses")
        if raw_uses and not (raw_uses.isascii() and raw_uses.isdigit()):
            raise InvalidInput("Uses must be a whole number.")
        expiry = form_str(form, "expires")
        if expiry not in EXPIRY_CHOICES:
            raise InvalidInput("Unknown expiry.")
        await accounts.create_invite(
            services(request),
            me.id,
            max_uses=int(raw_uses) if raw_uses else None,
            expires_in=EXPIRY_CHOICES[expiry],
        )
    except TesseraError as exc:
        return await admin_page(request, error=exc.public, status=exc.status)
    return redirect("/admin")


async def revoke_invite(request: Request) -> Response:
    await require_admin(request)
    await checked_form(request)
    await accounts.revoke_invite(services(request), request.path_params["invite_id"])
    return redirect("/admin")


routes = [
    Route("/admin", admin_index, methods=["GET"]),
    Route("/admin/signups/{actor_id:id}", decide, methods=["POST"]),
    Route("/admin/users/{name}", user_action, methods=["POST"]),
    Route("/admin/invites", create_invite, methods=["POST"]),
    Route("/admin/invites/{invite_id:id}/revoke", revoke_invite, methods=["POST"]),
]
