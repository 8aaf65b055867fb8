"""Update{Person}, Delete{actor}, Block, Undo{Block} and Flag from a fake peer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from federation.fetch import get_actor
from services.context import Services
from storage.federation_models import Block, Notification, Report
from storage.ids import new_id
from storage.models import Actor, Boost, Follow, Like, MediaAttachment, Post
from tests.inbox_processing.helpers import (
    actor_row,
    adapt,
    image_post,
    process,
    reload,
    reply_with_image,
    rows,
)
from tests.inbox_processing.peer import Peer

ADMIN = "http://mastodon.example.org/users/admin"
GARGRON = "http://mastodon.example.org/users/gargron"
LAIN = "http://localtesting.pleroma.lol/users/lain"
LIKED = "http://localtesting.pleroma.lol/objects/eb92579d-3417-42a8-8652-2492c2d4f454"
BOOSTED = "http://mastodon.example.org/@admin/99541947525187367"


def update_person(peer: Peer, name: str, sender: str | None = None) -> dict[str, Any]:
    """Mastodon's Update{Person} for ``name`` on the peer, carrying the peer's real key."""
    actor = peer.actor_url(name)
    update = adapt(
        "mastodon-update-actor.json",
        {GARGRON: actor, "http://mastodon.example.org/inbox": f"{peer.base}/inbox"},
    )
    update["object"]["preferredUsername"] = name
    update["object"]["publicKey"]["publicKeyPem"] = peer.public_pem
    if sender is not None:
        update["actor"], update["id"] = sender, f"{sender}#updates/1"
    return update


async def test_update_person_refreshes_the_sender_only(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    await make_user("alice")
    bob = await get_actor(services, peer.add_actor("bob"))
    carol = peer.add_actor("carol")
    assert bob.display_name == "Bob"
    by_carol = update_person(peer, "bob", sender=carol)
    assert await process(services, by_carol) == "ignored"
    assert (await actor_row(services, bob.ap_id)).display_name == "Bob"  # type: ignore[union-attr]

    assert await process(services, update_person(peer, "bob")) == "done"
    row = await actor_row(services, bob.ap_id)
    assert row is not None and row.id == bob.id
    assert (row.display_name, row.bio_html) == ("gargle", "<p>Some bio</p>")
    assert row.url == "http://mastodon.example.org/@gargron"  # as the document says
    assert row.avatar_remote_url and row.avatar_remote_url.endswith("fd7f8ae0b3ffedc9.jpeg")
    assert row.public_key_pem == peer.public_pem and row.domain == bob.domain


async def test_delete_actor_removes_everything_they_left(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob = await get_actor(services, peer.add_actor("bob"))
    follow = adapt("mastodon-follow.json", {ADMIN: bob.ap_id, LAIN: alice.ap_id})
    assert await process(services, follow) == "done"
    like = adapt("mastodon-like.json", {ADMIN: bob.ap_id, LIKED: post.ap_id})
    assert await process(services, like) == "done"
    boost = adapt("mastodon-announce.json", {ADMIN: bob.ap_id, BOOSTED: post.ap_id})
    assert await process(services, boost) == "done"
    assert await process(services, reply_with_image(peer, bob.ap_id, post.ap_id)) == "done"
    [reply] = await rows(services, Post, local=False)
    [media] = await rows(services, MediaAttachment, post_id=reply.id)
    async with services.db.transaction() as session:
        session.add(Follow(id=new_id(), follower_id=alice.id, followee_id=bob.id, state="accepted"))
    counts = await reload(services, Post, post.id)
    assert (counts.likes_count, counts.boosts_count, counts.replies_count) == (1, 1, 1)

    stranger = peer.add_actor("carol")
    not_theirs = adapt("mastodon-delete-actor.json", {ADMIN: bob.ap_id})
    not_theirs["actor"], not_theirs["id"] = stranger, f"{stranger}#delete"
    assert await process(services, not_theirs) == "ignored"
    assert len(await rows(services, Like)) == 1

    assert (
        await process(services, adapt("mastodon-delete-actor.json", {ADMIN: bob.ap_id})) == "done"
    )
    for model in (Follow, Like, Boost, Notification):
        assert await rows(services, model) == [], model
    assert await rows(services, Post, local=False) == []
    assert not services.blobs.exists(media.original_key or "")
    counts = await reload(services, Post, post.id)
    assert (counts.likes_count, counts.boosts_count, counts.replies_count) == (0, 0, 0)
    gone = await reload(services, Actor, bob.id)
    assert gone.suspended is True


async def test_block_ends_follows_and_undo_block_by_the_blocker_only(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    bob = await get_actor(services, peer.add_actor("bob"))
    carol = peer.add_actor("carol")
    async with services.db.transaction() as session:
        session.add(Follow(id=new_id(), follower_id=alice.id, followee_id=bob.id, state="accepted"))
        session.add(Follow(id=new_id(), follower_id=bob.id, followee_id=alice.id, state="accepted"))
    block = adapt("mastodon-block.json", {ADMIN: bob.ap_id, LAIN: alice.ap_id})
    assert await process(services, block) == "done"
    [row] = await rows(services, Block)
    assert (row.actor_id, row.target_id, row.ap_id) == (bob.id, alice.id, block["id"])
    assert await rows(services, Follow) == []

    forged = {"id": f"{carol}#undo", "type": "Undo", "actor": carol, "object": block["id"]}
    assert await process(services, forged) == "ignored"
    assert len(await rows(services, Block)) == 1
    undo = {"id": f"{bob.ap_id}#undo-block", "type": "Undo", "actor": bob.ap_id, "object": block}
    assert await process(services, undo) == "done"
    assert await rows(services, Block) == []


async def test_flag_becomes_a_report_for_the_admins(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    reporter = peer.add_actor("actor", type="Application")
    flag = adapt(
        "mastodon-flag-report.json",
        {
            "https://mastodon.example/actor": reporter,
            "https://example.com/users/1": alice.ap_id,
            "https://example.com/posts/380590": post.ap_id,
            "https://example.com/posts/380591": f"{post.ap_id}-gone",
        },
    )
    assert await process(services, flag) == "done"
    [report] = await rows(services, Report)
    reporter_row = await actor_row(services, reporter)
    assert reporter_row is not None and reporter_row.actor_type == "Application"
    assert (report.reporter_id, report.target_id) == (reporter_row.id, alice.id)
    assert json.loads(report.post_ap_ids) == [post.ap_id, f"{post.ap_id}-gone"]
    assert report.comment == "Please take a look at this user and their posts"
    assert report.ap_id == flag["id"] and report.resolved is False


async def test_activities_from_a_deleted_actor_are_ignored(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob = await get_actor(services, peer.add_actor("bob"))
    assert (
        await process(services, adapt("mastodon-delete-actor.json", {ADMIN: bob.ap_id})) == "done"
    )
    like = adapt("mastodon-like.json", {ADMIN: bob.ap_id, LIKED: post.ap_id})
    assert await process(services, like) == "ignored"
    assert await process(services, update_person(peer, "bob")) == "ignored"
    assert await rows(services, Like) == []
    assert (await reload(services, Actor, bob.id)).suspended is True
