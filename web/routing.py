"""A router that finds routes with a fixed path by a dictionary lookup.

Starlette's router tries every route's regular expression in order until one matches. The
app has about 150 routes, and a client-API timeline sits past the eighty-fifth: its
request paid for eighty-odd failed matches before its own (about 40 µs, a sixtieth of the
request; docs/performance.md). Most paths are fixed strings, so those are looked up
first; everything else (a path with parameters, a method the route does not take, a
redirect to add or drop a slash) goes through Starlette's scan unchanged.

Each fixed path is indexed with every route that could match it (by its regular
expression, or any route not matched by path alone), in the router's order: trying those
in order picks the route the scan would have picked, as no other route can match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send


def _route_path(scope: Scope) -> str:
    """The path the routes match: the request's path without the app's ``root_path``, as
    Starlette's routes compute it (their helper is private). Should the two ever differ,
    the lookup only misses and the scan answers: a route is taken only when its own
    ``matches`` says so."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path


def _may_match(route: BaseRoute, path: str) -> bool:
    """Whether ``route`` could match ``path`` for some method or scope type (routes that
    are not matched by a path regex, such as ``Host``, always could)."""
    regex = getattr(route, "path_regex", None)
    return regex is None or regex.match(path) is not None


def fixed_path_index(routes: Sequence[BaseRoute]) -> dict[str, list[BaseRoute]]:
    """Fixed path -> the routes that could match it, in the router's order."""
    paths = {r.path for r in routes if isinstance(r, Route) and not r.param_convertors}
    return {path: [r for r in routes if _may_match(r, path)] for path in paths}


class IndexedRouter(Router):
    """Starlette's ``Router`` with a fixed-path lookup before its scan."""

    def __init__(self, routes: Sequence[BaseRoute], **kwargs: Any) -> None:
        super().__init__(routes, **kwargs)
        self.by_path = fixed_path_index(self.routes)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.by_path.get(_route_path(scope), ()):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)
