"""Cursor pagination as Mastodon clients expect it: ``max_id``, ``since_id``, ``min_id`` and
``limit`` in, a ``Link`` header with ``rel="next"`` (older) and ``rel="prev"`` (newer)
out. The cursors are the ids a list is ordered by (a status id in timelines, a like's id
in favourites), which is why the header, not the entities, carries them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from storage.api_queries import MAX_LIMIT, Page
from web.api.auth import Ctx, json_response

_CURSORS = ("max_id", "since_id", "min_id")


def page_from(ctx: Ctx, *, default: int = 20, maximum: int = MAX_LIMIT) -> Page:
    """The page a request asks for; a limit above the maximum is lowered to it (as
    Mastodon does), a non-number is a 422."""
    params = ctx.params
    limit = params.number("limit", default, lo=0, hi=2**31) or default
    return Page(
        max_id=params.id("max_id"),
        since_id=params.id("since_id"),
        min_id=params.id("min_id"),
        limit=max(1, min(limit, maximum)),
    )


def link_header(ctx: Ctx, cursors: Sequence[int]) -> str | None:
    """``<…?max_id=oldest>; rel="next", <…?min_id=newest>; rel="prev"`` for a page whose
    items (newest first) are ordered by ``cursors``."""
    if not cursors:
        return None
    request = ctx.request
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in _CURSORS]
    base = ctx.svc.config.base_url + request.url.path

    def url(name: str, value: int) -> str:
        return f"{base}?{urlencode([*kept, (name, str(value))])}"

    return f'<{url("max_id", cursors[-1])}>; rel="next", <{url("min_id", cursors[0])}>; rel="prev"'


def paged_response(ctx: Ctx, items: list[Any], cursors: Sequence[int]) -> Response:
    response = json_response(items)
    link = link_header(ctx, cursors)
    if link:
        response.headers["link"] = link
    return response
