"""A note's ``url`` only speaks for its own server.

Posts are also found by their page URL (some Announces name it instead of the id), so a
``url`` naming another server's post would let that server shadow it: the real Create
dropped as a duplicate, replies hung under the impostor, boosts counted on it. Here
mallory (one fake server) claims carol's (another fake server) status URL.
"""

from __future__ import annotations

from typing import Any

from federation.fetch import get_actor
from federation.parse import parse_note
from federation.vocab import PUBLIC
from services.context import Services
from storage.ids import new_id
from storage.models import Boost, Follow, Post
from tests.inbox_processing.helpers import process, rows
from tests.inbox_processing.peer import Peer


def note(author: str, note_id: str, content: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": note_id,
        "type": "Note",
        "attributedTo": author,
        "content": content,
        "to": [PUBLIC],
        "cc": [f"{author}/followers"],
        "published": "2024-05-01T10:00:00Z",
        **extra,
    }


def create(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"{document['id']}/activity",
        "type": "Create",
        "actor": document["attributedTo"],
        "to": document["to"],
        "cc": document["cc"],
        "object": document,
    }


def test_parse_keeps_only_a_same_origin_url() -> None:
    own = note("https://a.example/users/m", "https://a.example/notes/1", "<p>x</p>")
    kept = parse_note({**own, "url": "https://a.example/@m/1"})
    foreign = parse_note({**own, "url": "https://b.example/users/carol/statuses/1"})
    as_link = parse_note({**own, "url": {"type": "Link", "href": "https://b.example/@carol/1"}})
    assert kept is not None and kept.url == "https://a.example/@m/1"
    assert foreign is not None and foreign.url is None
    assert as_link is not None and as_link.url is None


async def test_a_claimed_url_does_not_shadow_the_real_post(
    services: Services, peer: Peer, other_peer: Peer, alice: Any
) -> None:
    mallory, carol, dave = (
        peer.add_actor("mallory"),
        other_peer.add_actor("carol"),
        peer.add_actor("dave"),
    )
    real_id = f"{carol}/statuses/1"
    mentions_alice = {"to": [PUBLIC, alice.ap_id]}
    impostor = note(mallory, f"{mallory}/statuses/9", "<p>FAKE</p>", url=real_id, **mentions_alice)
    assert await process(services, create(impostor)) == "done"
    [fake] = await rows(services, Post, ap_id=impostor["id"])
    assert fake.url == impostor["id"]  # the foreign url was not kept

    real = note(carol, real_id, "<p>REAL</p>", **mentions_alice)
    assert await process(services, create(real)) == "done"
    [stored] = await rows(services, Post, ap_id=real_id)
    assert "REAL" in stored.content_html

    answer = note(dave, f"{dave}/statuses/2", "<p>reply</p>", inReplyTo=real_id, **mentions_alice)
    assert await process(services, create(answer)) == "done"
    [reply] = await rows(services, Post, ap_id=answer["id"])
    assert reply.in_reply_to_id == stored.id


async def test_a_stored_foreign_url_never_names_another_servers_post(
    services: Services, peer: Peer, other_peer: Peer, alice: Any
) -> None:
    """Rows written before ``url`` was checked may still carry a foreign one: lookups by
    URL must ignore them, so a boost of carol's post reaches carol's post."""
    mallory = await get_actor(services, peer.add_actor("mallory"))
    bob = await get_actor(services, peer.add_actor("bob"))
    carol = other_peer.add_actor("carol")
    real_id = f"{carol}/statuses/1"
    other_peer.put("/users/carol/statuses/1", note(carol, real_id, "<p>REAL</p>"))
    async with services.db.transaction() as session:
        session.add(Follow(id=new_id(), follower_id=alice.id, followee_id=bob.id, state="accepted"))
        session.add(
            Post(
                id=new_id(),
                actor_id=mallory.id,
                ap_id=f"{mallory.ap_id}/statuses/9",
                url=real_id,  # as stored by a version that kept any url
                local=False,
                visibility="public",
                content_html="<p>FAKE</p>",
            )
        )
    announce = {
        "id": f"{bob.ap_id}/statuses/5/activity",
        "type": "Announce",
        "actor": bob.ap_id,
        "to": [PUBLIC],
        "cc": [f"{bob.ap_id}/followers"],
        "object": real_id,
    }
    assert await process(services, announce) == "done"
    [real] = await rows(services, Post, ap_id=real_id)
    assert "REAL" in real.content_html and len(other_peer.fetched("/users/carol/statuses/1")) == 1
    [boost] = await rows(services, Boost)
    assert (boost.actor_id, boost.post_id) == (bob.id, real.id)
    [fake] = await rows(services, Post, url=real_id, actor_id=mallory.id)
    assert fake.boosts_count == 0
