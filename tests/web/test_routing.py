"""The fixed-path lookup (web.routing) picks the route Starlette's scan would pick."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.routing import Match, Route

from tessera.config import Config
from web.app import create_app
from web.routing import IndexedRouter, _route_path

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _scope(path: str, method: str) -> dict[str, Any]:
    return {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}


def _first_full(routes: Any, scope: dict[str, Any]) -> Any:
    for route in routes:
        if route.matches(scope)[0] is Match.FULL:
            return route
    return None


def test_lookup_agrees_with_the_scan_for_every_fixed_path_and_method(config: Config) -> None:
    app = create_app(config, run_workers=False)
    router = app.router
    assert isinstance(router, IndexedRouter)
    fixed = {r.path for r in router.routes if isinstance(r, Route) and not r.param_convertors}
    assert fixed == set(router.by_path)
    assert "/api/v1/timelines/home" in fixed
    compared = 0
    for path in sorted(fixed):
        for method in METHODS:
            scope = _scope(path, method)
            assert _first_full(router.by_path[path], scope) is _first_full(router.routes, scope), (
                path,
                method,
            )
            compared += 1
    assert compared == len(fixed) * len(METHODS)


async def test_requests_reach_the_same_answers(client: httpx.AsyncClient) -> None:
    """The lookup's path and the scan's fall-backs, through the app."""
    # A fixed path: the client API answers (401 without a token, as Mastodon does).
    home = await client.get("/api/v1/timelines/home")
    assert home.status_code == 401
    assert home.json()["error"]
    # OPTIONS on the same path is the CORS preflight route, listed after it.
    preflight = await client.options(
        "/api/v1/timelines/home",
        headers={"Origin": "https://client.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == "*"
    # A method the fixed route does not take: Starlette's scan answers 405.
    wrong = await client.delete("/api/v1/timelines/home")
    assert wrong.status_code == 405
    # A path with parameters goes through the scan.
    tag = await client.get("/api/v1/timelines/tag/cats")
    assert tag.status_code == 200
    assert tag.json() == []


def test_lookup_strips_the_root_path_as_the_routes_do(config: Config) -> None:
    """Behind a proxy that mounts the app under a prefix (``root_path``), the lookup's key
    is the path the routes match, so the fixed path is still found there."""
    router = create_app(config, run_workers=False).router
    assert isinstance(router, IndexedRouter)
    for path in ("/api/v1/timelines/home", "/"):
        scope = _scope("/sub" + path if path != "/" else "/sub/", "GET")
        scope["root_path"] = "/sub"
        key = _route_path(scope)
        assert key == path
        found = _first_full(router.by_path[key], scope)
        assert found is not None and found is _first_full(router.routes, scope)
