"""Settings → Apps: the apps a person authorized, and revoking them (a web page, CSRF-checked)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services import api_tokens as tokens
from tessera.errors import TesseraError
from web.context import checked_form, render, require_user, services


async def _page(request: Request, actor_id: int, *, status: int = 200, **extra: object) -> Response:
    grants = await tokens.authorized_apps(services(request), actor_id)
    apps: dict[int, dict] = {}
    for app, token in grants:
        item = apps.setdefault(
            app.id,
            {
                "app": app,
                "scopes": token.scopes.split(),
                "authorized_at": token.created_at,
                "count": 0,
            },
        )
        item["count"] += 1
    return await render(
        request, "settings_apps.html", {"apps": list(apps.values()), **extra}, status=status
    )


async def apps_page(request: Request) -> Response:
    actor, _ = await require_user(request)
    return await _page(request, actor.id)


async def revoke_app(request: Request) -> Response:
    actor, _ = await require_user(request)
    await checked_form(request)
    try:
        await tokens.revoke_app(services(request), actor.id, request.path_params["app_id"])
    except TesseraError as exc:
        return await _page(request, actor.id, error=exc.public, status=exc.status)
    return await _page(request, actor.id, notice="Access revoked.")


routes = [
    Route("/settings/apps", apps_page, methods=["GET"]),
    Route("/settings/apps/{app_id:id}/revoke", revoke_app, methods=["POST"]),
]
