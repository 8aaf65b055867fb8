"""Helpers for driving the web forms like a browser does."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import csrf_from


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
