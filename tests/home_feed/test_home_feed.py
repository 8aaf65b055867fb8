"""Home timelines read from the per-account feed: every way a line gets in or out, seen
through the web page and the client API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlmodel import col, select

from federation.fetch import get_actor
from federation.inbox_process import run_once
from federation.vocab import PUBLIC
from services import social
from services.context import Services
from services.posts import PostFields, Upload, create_post, delete_post, set_boost
from storage.models import Actor, Follow, HomeFeedEntry, Post
from tests.conftest import csrf_from
from tests.imagegen import png_bytes
from tests.inbox.peer import FakePeer

Home = Callable[..., Awaitable[list[tuple[str, str | None]]]]


async def publish(services: Services, author: Actor, caption: str, **fields: Any) -> Post:
    upload = Upload(png_bytes(48, 32, seed=len(caption)), "a.png", f"alt of {caption}")
    return await create_post(services, author, [upload], PostFields(caption=caption, **fields))


def own(*posts: Post) -> list[tuple[str, str | None]]:
    """Timeline entries of posts shown as themselves (not as boosts)."""
    return [(str(p.id), None) for p in posts]


async def feed_rows(services: Services, **where: int) -> list[HomeFeedEntry]:
    stmt = select(HomeFeedEntry)
    for name, value in where.items():
        stmt = stmt.where(col(getattr(HomeFeedEntry, name)) == value)
    async with services.db.session() as session:
        return list((await session.exec(stmt)).all())


async def test_follow_brings_recent_posts_and_unfollow_takes_them_away(
    client: httpx.AsyncClient, services: Services, alice: Actor, make_user: Any, home_ids: Home
) -> None:
    bob = await make_user("bob", "bob password")
    first = await publish(services, bob, "first light")
    second = await publish(services, bob, "for followers", visibility="followers")
    assert await home_ids("alice") == []
    token = await csrf_from(client, "/@bob")
    assert (await client.post("/@bob/follow", data={"csrf_token": token})).status_code == 303
    assert await home_ids("alice") == own(second, first)
    page = (await client.get("/home")).text
    assert f"/@bob/{first.id}" in page and f"/@bob/{second.id}" in page
    older = await home_ids("alice", max_id=str(second.id))  # pages by the feed's key
    assert older == own(first)

    assert (await client.post("/@bob/unfollow", data={"csrf_token": token})).status_code == 303
    assert await home_ids("alice") == []
    assert f"/@bob/{first.id}" not in (await client.get("/home")).text
    assert await home_ids("bob") == own(second, first)  # the author keeps their own


async def test_new_posts_reach_accepted_followers_only(
    client: httpx.AsyncClient, services: Services, alice: Actor, make_user: Any, home_ids: Home
) -> None:
    bob = await make_user("bob", "bob password")
    carol = await make_user("carol", "carol password")
    dave = await make_user("dave", "dave password")
    await social.follow(services, alice, bob)
    await social.follow(services, dave, bob)
    from services.accounts import update_profile

    await update_profile(services, bob.id, display_name="Bob", bio="", locked=True)
    await social.follow(services, carol, bob)  # a request bob has not answered
    shared = await publish(services, bob, "to followers", visibility="followers")
    public = await publish(services, bob, "to everyone")
    assert await home_ids("alice") == own(public, shared)
    assert await home_ids("dave") == own(public, shared)
    assert await home_ids("carol") == []
    assert "alt of to followers" in (await client.get("/home")).text

    async with services.db.session() as session:
        request = (await session.exec(select(Follow).where(Follow.follower_id == carol.id))).one()
    await social.approve_follow(services, bob, request.id)  # accepted: backfilled
    assert await home_ids("carol") == own(public, shared)


async def test_boosts_are_entries_of_their_own(
    client: httpx.AsyncClient, services: Services, alice: Actor, make_user: Any, home_ids: Home
) -> None:
    bob = await make_user("bob", "bob password")
    carol = await make_user("carol", "carol password")
    await social.follow(services, alice, bob)
    post = await publish(services, carol, "a quiet harbour")
    assert await home_ids("alice") == []
    await set_boost(services, bob, post.id, True)
    [(entry_id, reblogged)] = await home_ids("alice")
    assert reblogged == str(post.id) and entry_id != str(post.id)  # the boost's own id
    assert f"/@carol/{post.id}" in (await client.get("/home")).text  # once, at the post
    assert await home_ids("bob") == [(entry_id, str(post.id))]  # the booster's too

    await set_boost(services, bob, post.id, False)
    assert await home_ids("alice") == []
    assert f"/@carol/{post.id}" not in (await client.get("/home")).text
    [left] = await feed_rows(services, post_id=post.id)  # carol's own line only
    assert (left.owner_id, left.boost_id) == (carol.id, None)


async def test_own_boosts_are_in_the_api_timeline_not_the_page(
    client: httpx.AsyncClient, services: Services, alice: Actor, make_user: Any, home_ids: Home
) -> None:
    carol = await make_user("carol", "carol password")
    post = await publish(services, carol, "seen by alice")
    await set_boost(services, alice, post.id, True)
    [(_entry, reblogged)] = await home_ids("alice")
    assert reblogged == str(post.id)
    assert f"/@carol/{post.id}" not in (await client.get("/home")).text


async def test_deleted_post_leaves_every_feed(
    client: httpx.AsyncClient, services: Services, alice: Actor, make_user: Any, home_ids: Home
) -> None:
    bob = await make_user("bob", "bob password")
    await social.follow(services, alice, bob)
    post = await publish(services, bob, "short lived")
    assert len(await feed_rows(services, post_id=post.id)) == 2  # bob's and alice's
    await delete_post(services, bob, post.id)
    assert await feed_rows(services, post_id=post.id) == []
    assert await home_ids("alice") == [] and await home_ids("bob") == []


async def test_block_empties_the_feed_of_that_account(
    client: httpx.AsyncClient, services: Services, alice: Actor, make_user: Any, home_ids: Home
) -> None:
    bob = await make_user("bob", "bob password")
    await social.follow(services, alice, bob)
    await publish(services, bob, "before the block")
    assert len(await home_ids("alice")) == 1
    token = await csrf_from(client, "/@bob")
    assert (await client.post("/@bob/block", data={"csrf_token": token})).status_code == 303
    assert await home_ids("alice") == []
    assert await feed_rows(services, owner_id=alice.id) == []


async def test_a_boost_does_not_bring_back_a_blocked_account(
    client: httpx.AsyncClient, services: Services, alice: Actor, make_user: Any, home_ids: Home
) -> None:
    """alice blocked carol; bob, whom alice follows, boosts carol: the line is in alice's
    feed (it came through bob), but neither home timeline shows it."""
    bob = await make_user("bob", "bob password")
    carol = await make_user("carol", "carol password")
    await social.follow(services, alice, bob)
    await social.block(services, alice, carol)
    post = await publish(services, carol, "from a blocked account")
    await set_boost(services, bob, post.id, True)
    assert [r.post_id for r in await feed_rows(services, owner_id=alice.id)] == [post.id]
    assert await home_ids("alice") == []
    assert f"/@carol/{post.id}" not in (await client.get("/home")).text


async def test_remote_post_delivered_to_the_inbox_reaches_local_followers(
    client: httpx.AsyncClient,
    services: Services,
    peer: FakePeer,
    make_user: Any,
    home_ids: Home,
) -> None:
    alice = await make_user("alice")
    dave = await make_user("dave")
    await make_user("carol")
    bob = await get_actor(services, peer.actor_id("bob"))
    for local in (alice, dave):
        follow = await social.follow(services, local, bob)
        assert follow.state == "pending"
        accept = peer.activity(
            "bob",
            "Accept",
            {"type": "Follow", "id": follow.ap_id, "actor": local.ap_id, "object": bob.ap_id},
            suffix=str(local.id),
        )
        assert (await peer.deliver(client, "/inbox", accept)).status_code == 202
    assert await run_once(services) == 2
    note_id = f"{bob.ap_id}/statuses/1"
    note = {
        "id": note_id,
        "type": "Note",
        "attributedTo": bob.ap_id,
        "content": "<p>Fog over the bay this morning.</p>",
        "to": [PUBLIC],
        "cc": [f"{bob.ap_id}/followers"],
        "published": "2026-11-01T08:00:00Z",
        "url": note_id,
    }
    create = peer.activity("bob", "Create", note)
    assert (await peer.deliver(client, "/inbox", create)).status_code == 202
    assert await run_once(services) == 1
    async with services.db.session() as session:
        stored = (await session.exec(select(Post).where(Post.ap_id == note_id))).one()
    assert await home_ids("alice") == own(stored)
    assert await home_ids("dave") == own(stored)
    assert await home_ids("carol") == []
