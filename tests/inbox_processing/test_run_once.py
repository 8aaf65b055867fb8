"""Several stored activities processed by one ``run_once``: the ones that need only the
database each go through one transaction (with their outcome), the ones that need the
network run on their own afterwards, a sender's later items behind them, and every item
still ends as if it had been processed alone, in the order it was stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from federation import background
from federation.fetch import get_actor
from federation.inbox_process import run_once
from federation.vocab import PUBLIC
from services.context import Services
from storage.federation_models import Notification
from storage.models import Like, Post
from tests.inbox_processing.helpers import adapt, deliver, image_post, item, reload, rows
from tests.inbox_processing.peer import Peer

ADMIN = "http://mastodon.example.org/users/admin"
LIKED = "http://localtesting.pleroma.lol/objects/eb92579d-3417-42a8-8652-2492c2d4f454"


def like(actor: str, post_ap_id: str, number: int) -> dict[str, Any]:
    return {
        **adapt("mastodon-like.json", {ADMIN: actor, LIKED: post_ap_id}),
        "id": f"{actor}#likes/{number}",
    }


def undo_like(actor: str, post_ap_id: str, number: int) -> dict[str, Any]:
    undo = adapt("mastodon-undo-like.json", {ADMIN: actor, LIKED: post_ap_id})
    return {**undo, "id": f"{actor}#undo/{number}", "object": like(actor, post_ap_id, number)}


async def known(services: Services, peer: Peer, *names: str) -> list[str]:
    """Actors on the peer whose documents are already cached here (no fetch needed)."""
    urls = [peer.add_actor(name) for name in names]
    for url in urls:
        await get_actor(services, url)
    peer.requests.clear()
    return urls


async def test_likes_duplicates_and_an_undo_in_one_run(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob, carol = await known(services, peer, "bob", "carol")
    ids = [
        await deliver(services, like(bob, post.ap_id, 1)),
        await deliver(services, like(carol, post.ap_id, 1)),
        await deliver(services, like(bob, post.ap_id, 2)),  # the same like again, new id
        await deliver(services, undo_like(carol, post.ap_id, 1)),  # after its Like
    ]
    assert await run_once(services) == 4
    assert peer.requests == []  # all from the cache: nothing needed the network
    for item_id in ids:
        found = await item(services, item_id)
        assert (found.state, found.attempts, found.last_error) == ("done", 0, None)
        assert found.locked_until is None and found.processed_at is not None
    [row] = await rows(services, Like)
    assert row.ap_id == f"{bob}#likes/1"
    assert (await reload(services, Post, post.id)).likes_count == 1
    [note] = await rows(services, Notification)
    assert (note.kind, note.recipient_id, note.post_id) == ("favourite", alice.id, post.id)


async def test_an_item_failing_in_a_run_loses_nothing_else(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    alice = await make_user("alice")
    post = await image_post(services, alice)
    bob, carol, dave = await known(services, peer, "bob", "carol", "dave")
    parent = f"{peer.base}/users/erin/statuses/9"
    peer.failing["/users/erin/statuses/9"] = 500
    note = {
        "id": f"{carol}/statuses/1",
        "type": "Note",
        "attributedTo": carol,
        "content": "<p>Agreed!</p>",
        "inReplyTo": parent,
        "to": [PUBLIC],
        "published": "2026-11-20T10:00:00Z",
    }
    reply = {"id": f"{note['id']}/activity", "type": "Create", "actor": carol, "object": note}
    first = await deliver(services, like(bob, post.ap_id, 1))
    failing = await deliver(services, reply)  # its parent must be fetched: a 500
    after = await deliver(services, like(carol, post.ap_id, 1))  # same sender, later
    last = await deliver(services, like(dave, post.ap_id, 1))
    assert await run_once(services) == 4
    found = await item(services, failing)
    assert (found.state, found.attempts) == ("pending", 1)
    assert "500" in (found.last_error or "") and found.locked_until is None
    assert len(peer.fetched("/users/erin/statuses/9")) == 1
    assert [(await item(services, i)).state for i in (first, after, last)] == ["done"] * 3
    assert len(await rows(services, Like)) == 3
    assert (await reload(services, Post, post.id)).likes_count == 3
    assert await rows(services, Post, ap_id=note["id"]) == []


async def test_an_undo_waits_for_its_like_that_needed_the_network(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    """The Like's sender is not cached yet, so the Like runs on its own; the Undo behind
    it must not be processed before it (it would find nothing to undo)."""
    alice = await make_user("alice")
    post = await image_post(services, alice)
    (bob,) = await known(services, peer, "bob")
    fresh = peer.add_actor("fresh")
    ids = [
        await deliver(services, like(fresh, post.ap_id, 1)),
        await deliver(services, like(bob, post.ap_id, 1)),
        await deliver(services, undo_like(fresh, post.ap_id, 1)),
    ]
    assert await run_once(services) == 3
    assert [(await item(services, i)).state for i in ids] == ["done"] * 3
    [row] = await rows(services, Like)
    assert row.ap_id == f"{bob}#likes/1"
    assert (await reload(services, Post, post.id)).likes_count == 1
    assert len(peer.fetched("/users/fresh")) == 1


async def test_a_pass_is_background_work_while_it_fetches(
    services: Services, peer: Peer, make_user: Callable[..., Any]
) -> None:
    """The Like's sender must be fetched: while that request is at the peer, the process
    counts background work under way, so the idle collector waits (web.idle_gc)."""
    alice = await make_user("alice")
    post = await image_post(services, alice)
    fresh = peer.add_actor("fresh")
    item_id = await deliver(services, like(fresh, post.ap_id, 1))
    seen: list[bool] = []
    peer.on_request = lambda: seen.append(background.busy())
    assert not background.busy()
    assert await run_once(services) == 1
    assert (await item(services, item_id)).state == "done"
    assert seen and all(seen), "the actor was fetched outside the pass's work"
    assert not background.busy()
