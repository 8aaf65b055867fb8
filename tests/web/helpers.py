"""Helpers for driving the web forms like a browser does."""

from __future__ import annotations

import re
from typing import Any

import httpx

from services import posts as post_service
from services.context import Services
from services.posts import PostFields, Upload
from tests.conftest import csrf_from
from tests.imagegen import png_bytes


async def publish(
    client: httpx.AsyncClient,
    images: list[tuple[str, bytes]],
    *,
    alts: list[str] | None = None,
    caption: str = "",
    **fields: Any,
) -> httpx.Response:
    token = await csrf_from(client, "/compose")
    data: dict[str, Any] = {"csrf_token": token, "caption": caption, "visibility": "public"}
    data.update(fields)
    data["alt"] = alts or [""] * len(images)
    files = [("images", (name, content, "application/octet-stream")) for name, content in images]
    return await client.post("/compose", data=data, files=files)


def media_urls(html: str) -> list[str]:
    return sorted(set(re.findall(r"/media/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.[a-z]+", html)))


async def post_behind_the_apps_back(services: Services, caption: str, alt: str) -> int:
    """Publish without a web request, as another process or the inbox worker changes data."""
    from storage.accounts import actor_by_handle

    async with services.db.session() as session:
        author = await actor_by_handle(session, "alice", None)
    assert author is not None
    post = await post_service.create_post(
        services,
        author,
        [Upload(png_bytes(40, 30, seed=len(alt)), "a.png", alt)],
        PostFields(caption=caption),
    )
    return post.id
