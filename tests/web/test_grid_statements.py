"""The signed-in grids (profile, /home) read by statements built once with bound
parameters (``storage.posts``): the reader, the cursor and the page size are bound at
each request, so a follower sees followers-only posts, a stranger does not, and the
older pages follow the cursor. Through the real app over HTTP, real images and a real
SQLite file."""

from __future__ import annotations

import re
from typing import Any

import httpx

from services.context import Services
from services.posts import PostFields, Upload, create_post
from storage.models import Actor
from tests.conftest import csrf_from
from tests.imagegen import png_bytes

NEXT_RE = re.compile(r'href="([^"]*max_id=\d+)" rel="next"')


async def publish(services: Services, author: Actor, alt: str, **fields: Any) -> None:
    upload = Upload(png_bytes(48, 32, seed=len(alt)), "a.png", alt)
    await create_post(services, author, [upload], PostFields(caption="", **fields))


async def pages(client: httpx.AsyncClient, path: str) -> list[str]:
    """Every page of a grid, following its "Older" links."""
    found = []
    while True:
        response = await client.get(path)
        assert response.status_code == 200, response.text
        found.append(response.text)
        match = NEXT_RE.search(response.text)
        if match is None:
            return found
        path = match.group(1)


async def test_signed_in_profile_and_home_filter_by_the_reader_and_page_by_the_cursor(
    client: httpx.AsyncClient, services: Services, alice: Actor, make_user: Any
) -> None:
    bob = await make_user("bob", "bob password")
    await publish(services, bob, "secret tile", visibility="followers")  # the oldest
    for i in range(31):
        await publish(services, bob, f"public tile {i:02}")

    as_stranger = await pages(client, "/@bob")
    assert [page.count('class="tile"') for page in as_stranger] == [30, 1]
    assert not any("secret tile" in page for page in as_stranger)
    assert "public tile 00" in as_stranger[1] and "public tile 30" in as_stranger[0]

    token = await csrf_from(client, "/@bob")
    assert (await client.post("/@bob/follow", data={"csrf_token": token})).status_code == 303

    as_follower = await pages(client, "/@bob")
    assert [page.count('class="tile"') for page in as_follower] == [30, 2]
    assert "secret tile" in as_follower[1]

    home = await pages(client, "/home")
    assert [page.count('class="tile"') for page in home] == [30, 2]
    assert "secret tile" in home[1] and "public tile 30" in home[0]
