"""A post's page is a 404, the page an unknown post of the same author gives, to a reader
its author blocks and to everyone once its author is suspended, as the client API answers
for the status (Mastodon's StatusPolicy). Other readers still see the page."""

from __future__ import annotations

import re
from typing import Any

import httpx

from services.context import Services
from storage.models import Actor
from tests.conftest import csrf_from, sign_in
from tests.imagegen import png_bytes
from tests.web.helpers import publish
from web.context import SESSION_COOKIE

PASSWORD = "correct horse battery"
UNKNOWN_POST = "/@alice/1"
"""A post id nobody has: the page every hidden post must look like."""
TOKEN = re.compile(r'name="csrf_token" value="[^"]*"')


async def switch(client: httpx.AsyncClient, who: str | None) -> None:
    """Sign out, then in as ``who`` (None: stay an anonymous reader)."""
    if SESSION_COOKIE in client.cookies:
        await client.post("/logout", data={"csrf_token": await csrf_from(client, "/")})
    client.cookies.clear()
    if who is not None:
        assert (await sign_in(client, who, PASSWORD)).status_code == 303


async def alices_post(client: httpx.AsyncClient) -> str:
    """alice (signed in on ``client``) publishes a public image post; its page's path."""
    response = await publish(
        client, [("a.png", png_bytes(seed=11))], alts=["a lighthouse"], caption="LIGHTHOUSE"
    )
    assert response.status_code == 303, response.text
    path = httpx.URL(response.headers["location"]).path
    assert re.fullmatch(r"/@alice/\d+", path), path
    return path


async def assert_not_found(client: httpx.AsyncClient, path: str, message: str) -> None:
    """A 404 with the same page, for this reader, as a post of the same author that does
    not exist (the CSRF token in the header's forms aside, which every page draws afresh)."""
    hidden = await client.get(path)
    unknown = await client.get(UNKNOWN_POST)
    assert hidden.status_code == unknown.status_code == 404
    assert message in hidden.text
    assert "LIGHTHOUSE" not in hidden.text and "a lighthouse" not in hidden.text
    assert TOKEN.sub("", hidden.text) == TOKEN.sub("", unknown.text)


async def test_a_post_page_is_not_found_for_someone_its_author_blocks(
    client: httpx.AsyncClient, alice: Any, make_user: Any
) -> None:
    await make_user("bob", PASSWORD)
    await make_user("carol", PASSWORD)
    path = await alices_post(client)
    token = await csrf_from(client, "/@bob")
    assert (await client.post("/@bob/block", data={"csrf_token": token})).status_code == 303
    assert "LIGHTHOUSE" in (await client.get(path)).text  # the author herself

    await switch(client, "bob")
    await assert_not_found(client, path, "No such post.")

    for reader in ("carol", None):  # an account alice does not block, and anyone
        await switch(client, reader)
        page = await client.get(path)
        assert page.status_code == 200 and "LIGHTHOUSE" in page.text, reader


async def test_a_post_page_is_not_found_once_its_author_is_suspended(
    client: httpx.AsyncClient, alice: Actor, make_user: Any, services: Services
) -> None:
    """Suspended here as the tests (and the inbox worker) do it, by writing the row, not
    by a request: the anonymous page cache only forgets on a write through the app and
    keeps other changes for ``page_cache_seconds``. So the page is not read anonymously
    before the suspension (nothing is cached to answer from), and the anonymous 404 after
    it comes from the app; signed-in readers never get cached pages."""
    await make_user("carol", PASSWORD)
    path = await alices_post(client)
    await switch(client, "carol")
    assert "LIGHTHOUSE" in (await client.get(path)).text
    async with services.db.transaction() as session:
        row = await session.get(Actor, alice.id)
        assert row is not None
        row.suspended = True
        session.add(row)

    # As for any path under a suspended account (its profile too): "No such account."
    await assert_not_found(client, path, "No such account.")
    await switch(client, None)
    await assert_not_found(client, path, "No such account.")
