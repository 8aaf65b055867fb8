"""Like, Announce and their Undo from a fake peer, processed by ``run_once``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import delete

from federation.fetch import get_actor
from federation.vocab import PUBLIC
from services.context import Services
from storage.federation_models import InboxItem, Notification
from storage.ids import new_id
from storage.models import Boost, Follow, Like, MediaAttachment, Post
from tests.imagegen import png_bytes
from tests.inbox_processing.helpers import (
    adapt,
    deliver,
    image_post,
    process,
    reload,
    reprocess,
    rows,
)
from tests.inbox_processing.peer import Peer

ADMIN = "http://mastodon.example.org/users/admin"
LIKED = "http://localtesting.pleroma.lol/objects/eb92579d-3417-42a8-8652-2492c2d4f454"
BOOSTED = "http://mastodon.example.org/@admin/99541947525187367"


async def test_like_of_a_local_post_and_its_undo(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob = peer.add_actor("bob")
    like = adapt("mastodon-like.json", {ADMIN: bob, LIKED: post.ap_id})
    item_id = await deliver(services, like)
    assert await reprocess(services, item_id) == "done"  # first run
    [row] = await rows(services, Like)
    assert row.post_id == post.id and row.ap_id == f"{bob}#likes/2"
    assert (await reload(services, Post, post.id)).likes_count == 1
    [note] = await rows(services, Notification)
    assert (note.kind, note.recipient_id, note.post_id) == ("favourite", alice.id, post.id)

    assert await reprocess(services, item_id) == "done"  # a second run changes nothing
    assert len(await rows(services, Like)) == 1
    assert (await reload(services, Post, post.id)).likes_count == 1
    assert len(await rows(services, Notification)) == 1

    undo = adapt("mastodon-undo-like.json", {ADMIN: bob, LIKED: post.ap_id})
    assert await process(services, undo) == "done"
    assert await rows(services, Like) == []
    assert (await reload(services, Post, post.id)).likes_count == 0
    assert await rows(services, Notification) == []


async def test_like_found_by_page_url_and_of_unknown_posts(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob = peer.add_actor("bob")
    by_url = adapt("pixelfed-tests-like-with-ld-signature.json", {ADMIN: bob})
    by_url["object"] = post.url
    assert await process(services, by_url) == "done"
    missing = {**by_url, "id": f"{bob}#likes/3", "object": f"{post.ap_id}0"}
    assert await process(services, missing) == "ignored"
    remote = {**by_url, "id": f"{bob}#likes/4", "object": f"{peer.base}/notes/1"}
    assert await process(services, remote) == "ignored"
    assert (await reload(services, Post, post.id)).likes_count == 1


async def test_undo_like_by_someone_else_is_ignored(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob, carol = peer.add_actor("bob"), peer.add_actor("carol")
    assert (
        await process(services, adapt("mastodon-like.json", {ADMIN: bob, LIKED: post.ap_id}))
        == "done"
    )
    forged = adapt("mastodon-undo-like.json", {ADMIN: bob, LIKED: post.ap_id})
    forged["actor"], forged["id"] = carol, f"{carol}#undo"
    assert await process(services, forged) == "ignored"
    by_id = {"id": f"{carol}#undo2", "type": "Undo", "actor": carol, "object": f"{bob}#likes/2"}
    assert await process(services, by_id) == "ignored"
    assert len(await rows(services, Like)) == 1
    assert (await reload(services, Post, post.id)).likes_count == 1


async def test_followers_only_posts_cannot_be_liked_by_strangers(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    async with services.db.transaction() as session:
        row = await session.get(Post, post.id)
        assert row is not None
        row.visibility = "followers"
        session.add(row)
    bob = peer.add_actor("bob")
    assert (
        await process(services, adapt("mastodon-like.json", {ADMIN: bob, LIKED: post.ap_id}))
        == "ignored"
    )
    assert await rows(services, Like) == []


async def test_announce_of_a_local_post_and_its_undo(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob = peer.add_actor("bob")
    announce = adapt("mastodon-announce.json", {ADMIN: bob, BOOSTED: post.url or ""})
    assert await process(services, announce) == "done"
    [boost] = await rows(services, Boost)
    assert boost.post_id == post.id and boost.ap_id == announce["id"]
    assert (await reload(services, Post, post.id)).boosts_count == 1
    [note] = await rows(services, Notification)
    assert (note.kind, note.recipient_id) == ("reblog", alice.id)

    undo = adapt("mastodon-undo-announce.json", {ADMIN: bob, BOOSTED: post.url or ""})
    assert await process(services, undo) == "done"
    assert await rows(services, Boost) == []
    assert (await reload(services, Post, post.id)).boosts_count == 0
    assert await rows(services, Notification) == []


def _remote_note(peer: Peer, author: str, number: int, content: str) -> dict[str, Any]:
    note_id = f"{peer.base}/notes/{number}"
    return {
        "id": note_id,
        "type": "Note",
        "attributedTo": author,
        "content": content,
        "to": [PUBLIC],
        "cc": [f"{author}/followers"],
        "published": "2024-05-01T10:00:00Z",
        "url": note_id,
    }


async def test_announce_by_a_followed_account_fetches_the_post_for_home(
    services: Services,
    peer: Peer,
    other_peer: Peer,
    alice: Any,
    client: httpx.AsyncClient,
) -> None:
    bob = await get_actor(services, peer.add_actor("bob"))
    async with services.db.transaction() as session:
        session.add(Follow(id=new_id(), follower_id=alice.id, followee_id=bob.id, state="accepted"))
    carol = other_peer.add_actor("carol")
    genuine = _remote_note(other_peer, carol, 7, "<p>the genuine words of carol</p>")
    image = other_peer.put_file("/media/7.png", png_bytes(120, 90, seed=7), "image/png")
    genuine["attachment"] = [{"type": "Document", "mediaType": "image/png", "url": image}]
    other_peer.put("/notes/7", genuine)
    # bob's Announce inlines carol's note with other words: not his to vouch for
    forged = {**genuine, "content": "<p>words put in carol's mouth</p>"}
    announce = adapt("mastodon-announce.json", {ADMIN: bob.ap_id, BOOSTED: genuine["id"]})
    announce["object"] = forged
    assert await process(services, announce) == "done"
    assert len(other_peer.fetched("/notes/7")) == 1  # fetched from its own origin
    [post] = await rows(services, Post, local=False)
    assert post.ap_id == genuine["id"] and "genuine words" in post.content_html
    [boost] = await rows(services, Boost)
    assert (boost.actor_id, boost.post_id) == (bob.id, post.id)
    [media] = await rows(services, MediaAttachment, post_id=post.id)
    assert media.thumb_key and services.blobs.exists(media.thumb_key)
    home = await client.get("/home")  # alice's home timeline shows what bob boosted
    assert home.status_code == 200
    carol_handle = f"carol@{other_peer.base.removeprefix('http://')}"
    assert f'href="http://gallery.test/@{carol_handle}/{post.id}"' in home.text
    assert f"/media/{media.thumb_key}" in home.text and image not in home.text


async def test_announce_by_someone_nobody_follows_is_ignored(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    await make_user("alice")
    bob = peer.add_actor("bob")
    peer.put("/notes/1", _remote_note(peer, bob, 1, "<p>hello</p>"))
    announce = adapt("mastodon-announce.json", {ADMIN: bob, BOOSTED: f"{peer.base}/notes/1"})
    assert await process(services, announce) == "ignored"
    assert peer.fetched("/notes/1") == []
    assert await rows(services, Post) == []


async def test_a_like_reusing_another_likes_id_is_ignored(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    """An activity id names one reaction: a second Like carrying the id of a stored one
    (a replay pointed at another post, once the first delivery's queue row is gone)
    stores nothing and counts nothing."""
    alice = await make_user("alice")
    first = await image_post(services, alice)
    second = await image_post(services, alice)
    bob = peer.add_actor("bob")
    like = adapt("mastodon-like.json", {ADMIN: bob, LIKED: first.ap_id})
    assert await process(services, like) == "done"
    async with services.db.transaction() as session:  # the processed item is gone
        await session.exec(delete(InboxItem))  # type: ignore[call-overload]
    replay = {**like, "object": second.ap_id}  # same "id"
    assert await process(services, replay) == "ignored"
    [row] = await rows(services, Like)
    assert row.post_id == first.id
    assert (await reload(services, Post, second.id)).likes_count == 0
    assert (await reload(services, Post, first.id)).likes_count == 1
    assert len(await rows(services, Notification)) == 1
