"""Helpers for the client API tests: tokens made through the same service the CLI and the
OAuth token endpoint use, bearer headers, image uploads and row counts (to prove that a
refused request changed nothing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from services.api_tokens import create_script_token
from services.context import Services
from storage.federation_models import Notification
from storage.models import Boost, Follow, Like, MediaAttachment, Post
from storage.oauth_models import Bookmark, IdempotencyKey, OAuthApp, OAuthToken, ProfileField
from tests.imagegen import png_bytes

PASSWORD = "correct horse battery"
TABLES = (
    Post,
    MediaAttachment,
    Like,
    Boost,
    Follow,
    Notification,
    Bookmark,
    IdempotencyKey,
    ProfileField,
    OAuthApp,
    OAuthToken,
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def snapshot(services: Services) -> dict[str, int]:
    """Row counts of every table the API writes to."""
    counts = {}
    async with services.db.session() as session:
        for model in TABLES:
            result = await session.exec(select(func.count()).select_from(model))
            counts[model.__tablename__] = int(result.one())
    return counts


@pytest.fixture
def make_token(services: Services, make_user: Callable[..., Any]) -> Callable[..., Any]:
    """(actor, token) for a new local user with the given scopes."""

    async def _make(name: str = "alice", scopes: str = "read write follow", **kw: Any):  # type: ignore[no-untyped-def]
        actor = await make_user(name, PASSWORD, **kw)
        token = await create_script_token(services, name, scopes=scopes)
        return actor, token

    return _make


async def upload(
    client: httpx.AsyncClient,
    token: str,
    *,
    seed: int = 1,
    description: str = "",
    parameters: str | None = None,
    size: tuple[int, int] = (320, 240),
) -> dict[str, Any]:
    data = png_bytes(*size, seed=seed, parameters=parameters)
    response = await client.post(
        "/api/v2/media",
        headers=bearer(token),
        files={"file": ("image.png", data, "image/png")},
        data={"description": description},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def post_status(
    client: httpx.AsyncClient, token: str, text: str = "A picture", **extra: Any
) -> dict[str, Any]:
    media = await upload(client, token, seed=hash(text) % 1000)
    response = await client.post(
        "/api/v1/statuses",
        headers=bearer(token),
        data={"status": text, "media_ids[]": [media["id"]], **extra},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
