"""Replies on a post's page keep their own audience.

A reply is a post like any other: a followers-only reply is for its author's followers and
a direct one for the people it names, whoever opens the thread. Replies by suspended
accounts, by accounts the viewer blocks and by accounts the post's author blocks stay off
the page too.
"""

from __future__ import annotations

from typing import Any

import httpx

from services import social
from services.context import Services
from services.posts import PostFields, Upload, create_post
from storage.ids import new_id
from storage.models import Actor, Post
from tests.conftest import sign_in
from tests.imagegen import png_bytes

PASSWORD = "correct horse battery"


async def remote_actor(services: Services, name: str) -> Actor:
    """A remote account as inbox processing stores it (these pages never fetch it)."""
    actor = Actor(
        id=new_id(),
        username=name,
        username_lower=name,
        domain="remote.test",
        ap_id=f"https://remote.test/users/{name}",
        followers_url=f"https://remote.test/users/{name}/followers",
    )
    async with services.db.transaction() as session:
        session.add(actor)
    return actor


async def remote_reply(
    services: Services, author: Actor, parent: Post, visibility: str, text: str
) -> Post:
    """A stored remote reply (what ``federation.handlers.note_store`` writes)."""
    post = Post(
        id=new_id(),
        actor_id=author.id,
        ap_id=f"{author.ap_id}/statuses/{new_id()}",
        local=False,
        visibility=visibility,
        content_html=f"<p>{text}</p>",
        caption_source=text,
        in_reply_to_id=parent.id,
        in_reply_to_ap_id=parent.ap_id,
    )
    async with services.db.transaction() as session:
        session.add(post)
    return post


async def reply(
    services: Services, author: Actor, parent: Post, visibility: str, text: str
) -> Post:
    return await create_post(
        services, author, [], PostFields(caption=text, visibility=visibility), in_reply_to=parent
    )


async def page_as(client: httpx.AsyncClient, path: str, who: str | None) -> str:
    """The post page as an anonymous visitor (``who`` None) or as a signed-in account."""
    client.cookies.clear()
    if who is not None:
        assert (await sign_in(client, who, PASSWORD)).status_code == 303
    response = await client.get(path)
    assert response.status_code == 200
    return response.text


async def test_replies_are_shown_only_to_their_audience(
    client: httpx.AsyncClient, services: Services, alice: Any, make_user: Any
) -> None:
    parent = await create_post(
        services,
        alice,
        [Upload(png_bytes(64, 48, seed=5), "a.png", description="a harbour")],
        PostFields(caption="the harbour at dawn"),
    )
    bob = await make_user("bob", PASSWORD)
    carol = await make_user("carol", PASSWORD)  # follows bob
    await make_user("dave", PASSWORD)  # follows nobody
    await social.follow(services, carol, bob)
    await reply(services, bob, parent, "public", "PUBLIC-REPLY")
    await reply(services, bob, parent, "followers", "FOLLOWERS-ONLY-REPLY")
    stranger = await remote_actor(services, "erin")
    await remote_reply(services, stranger, parent, "direct", "DIRECT-MESSAGE-REPLY")
    path = f"/@alice/{parent.id}"

    anonymous = await page_as(client, path, None)
    assert "PUBLIC-REPLY" in anonymous
    assert "FOLLOWERS-ONLY-REPLY" not in anonymous
    assert "DIRECT-MESSAGE-REPLY" not in anonymous

    dave = await page_as(client, path, "dave")
    assert "PUBLIC-REPLY" in dave and "FOLLOWERS-ONLY-REPLY" not in dave
    assert "DIRECT-MESSAGE-REPLY" not in dave

    for follower_or_author in ("carol", "bob"):
        text = await page_as(client, path, follower_or_author)
        assert "PUBLIC-REPLY" in text and "FOLLOWERS-ONLY-REPLY" in text
        assert "DIRECT-MESSAGE-REPLY" not in text


async def test_suspended_and_blocked_repliers_are_hidden(
    client: httpx.AsyncClient, services: Services, alice: Any, make_user: Any
) -> None:
    parent = await create_post(
        services,
        alice,
        [Upload(png_bytes(64, 48, seed=6), "a.png", description="a bridge")],
        PostFields(caption="a bridge in fog"),
    )
    await make_user("dave", PASSWORD)
    frank = await make_user("frank", PASSWORD)
    suspended = await remote_actor(services, "gone")
    pest = await remote_actor(services, "pest")  # alice blocks pest
    nuisance = await remote_actor(services, "nuisance")  # frank blocks nuisance
    await remote_reply(services, suspended, parent, "public", "SUSPENDED-REPLY")
    await remote_reply(services, pest, parent, "public", "BLOCKED-BY-AUTHOR-REPLY")
    await remote_reply(services, nuisance, parent, "public", "BLOCKED-BY-VIEWER-REPLY")
    async with services.db.transaction() as session:
        row = await session.get(Actor, suspended.id)
        assert row is not None
        row.suspended = True
        session.add(row)
    await social.block(services, alice, pest)
    await social.block(services, frank, nuisance)
    path = f"/@alice/{parent.id}"

    anonymous = await page_as(client, path, None)
    assert "SUSPENDED-REPLY" not in anonymous
    assert "BLOCKED-BY-AUTHOR-REPLY" not in anonymous
    assert "BLOCKED-BY-VIEWER-REPLY" in anonymous  # only frank blocks that account

    as_frank = await page_as(client, path, "frank")
    assert "BLOCKED-BY-VIEWER-REPLY" not in as_frank
    assert "SUSPENDED-REPLY" not in as_frank and "BLOCKED-BY-AUTHOR-REPLY" not in as_frank

    dave = await page_as(client, path, "dave")
    assert "BLOCKED-BY-VIEWER-REPLY" in dave and "BLOCKED-BY-AUTHOR-REPLY" not in dave


async def test_posts_of_an_account_that_blocks_the_viewer_stay_off_threads(
    client: httpx.AsyncClient, services: Services, alice: Any, make_user: Any
) -> None:
    """Their own pages are a 404 to the viewer they block, so their reply on someone
    else's thread, and their post as the parent above a reply, are left out as well."""
    carol = await make_user("carol", PASSWORD)
    bob = await make_user("bob", PASSWORD)  # alice blocks bob
    await make_user("dave", PASSWORD)
    await social.block(services, alice, bob)
    carols = await create_post(
        services,
        carol,
        [Upload(png_bytes(64, 48, seed=7), "c.png", description="a pier")],
        PostFields(caption="a pier at noon"),
    )
    await reply(services, alice, carols, "public", "ALICE-REPLY-ON-CAROLS-THREAD")
    alices = await create_post(
        services,
        alice,
        [Upload(png_bytes(64, 48, seed=8), "a.png", description="a dune")],
        PostFields(caption="a dune at dusk"),
    )
    carols_reply = await reply(services, carol, alices, "public", "CAROL-ANSWERS-ALICE")

    as_bob = await page_as(client, f"/@carol/{carols.id}", "bob")
    assert "a pier at noon" in as_bob and "ALICE-REPLY-ON-CAROLS-THREAD" not in as_bob
    as_bob = await page_as(client, f"/@carol/{carols_reply.id}", "bob")
    parent_link = f'/@alice/{alices.id}">'  # "Replying to @alice", linked
    assert "CAROL-ANSWERS-ALICE" in as_bob and parent_link not in as_bob

    for reader in ("dave", None):  # alice blocks neither
        text = await page_as(client, f"/@carol/{carols.id}", reader)
        assert "ALICE-REPLY-ON-CAROLS-THREAD" in text, reader
        text = await page_as(client, f"/@carol/{carols_reply.id}", reader)
        assert parent_link in text, reader
