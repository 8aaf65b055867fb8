"""Grid tiles of the signed-in pages kept as HTML (``EntityCache.tile``): a kept tile
reads exactly as one rendered now, follows its post and author row at once, and other
tables (media) within the TTL, as the client API's entity cache does."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlmodel import select

from services.context import Services
from storage.models import MediaAttachment, Post
from tests.api.test_entity_cache import change_elsewhere
from tests.clocks import install
from tests.imagegen import png_bytes
from tests.web.helpers import publish

PAGES = ("/", "/home", "/@alice")


def grid(html: str) -> str:
    found = re.search(r'<ul class="grid" role="list">.*?</ul>', html, re.S)
    assert found is not None, "the page shows a grid"
    return found.group(0)


async def page_grid(client: httpx.AsyncClient, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return grid(response.text)


async def two_posts(client: httpx.AsyncClient) -> None:
    for caption, alt, extra in (
        ("Harbour at dawn #sea", "Boats <moored>", {}),
        ("Night market", "", {"content_warning": "flash & glare", "sensitive": "on"}),
    ):
        image = png_bytes(width=96, height=64, seed=len(caption))
        response = await publish(client, [("a.png", image)], alts=[alt], caption=caption, **extra)
        assert response.status_code == 303, response.text


async def test_a_kept_tile_reads_as_one_rendered_now(
    client: httpx.AsyncClient, services: Services, alice: Any
) -> None:
    install(services.entity_cache, ttl=3600)
    await two_posts(client)
    rendered = {path: await page_grid(client, path) for path in PAGES}
    assert len(services.entity_cache) == 2  # one tile per post, shared by the pages
    assert rendered["/"].count('<li class="tile"') == 2
    assert "Boats &lt;moored&gt;" in rendered["/"]  # escaped once, not twice
    assert "flash &amp; glare" in rendered["/"]
    for path in PAGES:
        assert await page_grid(client, path) == rendered[path]  # from the cache
    install(services.entity_cache, ttl=0)  # nothing kept: every tile rendered now
    for path in PAGES:
        assert await page_grid(client, path) == rendered[path]
    assert len(services.entity_cache) == 0


async def test_tiles_follow_their_row_at_once_and_media_within_the_ttl(
    client: httpx.AsyncClient, services: Services, alice: Any
) -> None:
    clock = install(services.entity_cache, ttl=5)
    await two_posts(client)
    assert "Boats &lt;moored&gt;" in await page_grid(client, "/")
    async with services.db.session() as session:
        post = (
            await session.exec(select(Post).where(Post.caption_source.startswith("Harbour")))
        ).one()  # type: ignore[union-attr]
        media = (
            await session.exec(select(MediaAttachment).where(MediaAttachment.post_id == post.id))
        ).one()

    await change_elsewhere(services, Post, post.id, sensitive=True, content_warning="Storm")
    assert "Storm" in await page_grid(client, "/")  # the row changed: rendered again

    await change_elsewhere(services, MediaAttachment, media.id, description="Gulls")
    clock.now += 4
    assert "Boats &lt;moored&gt;" in await page_grid(client, "/")  # another table: kept
    clock.now += 2  # past the TTL
    shown = await page_grid(client, "/")
    assert "Gulls" in shown and "moored" not in shown
