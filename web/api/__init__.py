"""The Mastodon client API and OAuth 2 (see docs/client-api.md).

``routes`` is every route of the package, registered by ``web.app`` right after the
discovery routes; the last one answers CORS preflight requests for browser clients.
"""

from __future__ import annotations

from starlette.routing import Route

from web.api import (
    accounts,
    instance,
    media,
    misc,
    notifications,
    oauth,
    search,
    settings_apps,
    statuses,
    timelines,
)
from web.api.auth import preflight

routes = [
    *oauth.routes,
    *instance.routes,
    *misc.routes,  # before accounts: /accounts/familiar_followers is not an account id
    *accounts.routes,
    *statuses.routes,
    *media.routes,
    *timelines.routes,
    *notifications.routes,
    *search.routes,
    *settings_apps.routes,
    Route("/api/{rest:path}", preflight, methods=["OPTIONS"]),
    Route("/oauth/token", preflight, methods=["OPTIONS"]),
    Route("/oauth/revoke", preflight, methods=["OPTIONS"]),
]
